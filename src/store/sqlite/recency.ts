/** A stream's place in the recency: the seq of its last event, and what the lists read of it. */
export interface Slot<T> {
	seq: number
	value: T
}

/**
 * The SQLite engine's streams of one kind in the order of their last event, newest first, for
 * the paged lists. Each append pushes its streams at the end with their new last seq (commits
 * come in seq order, so the array stays sorted); an older entry of the same stream is left where
 * it is and skipped, since it no longer matches its stream's slot, until a compaction drops such
 * entries once they outnumber the live ones. A stream has one slot, shared by its entries, that
 * holds its last seq and its row: a walk reads neither a map nor the table. Pushing is O(1), a
 * page is a binary search and a walk back, and memory is at most about two entries per stream.
 */
export function createRecency<T>() {
	const slotOf = new Map<string, Slot<T>>()
	let slots: Slot<T>[] = []
	let seqs: number[] = []

	const compact = () => {
		const keptSlots: Slot<T>[] = []
		const keptSeqs: number[] = []
		for (let i = 0; i < slots.length; i++)
			if (slots[i].seq === seqs[i]) {
				keptSlots.push(slots[i])
				keptSeqs.push(seqs[i])
			}
		slots = keptSlots
		seqs = keptSeqs
	}

	return {
		/** Drops the entries of streams that moved on or went: after many went at once. */
		compact,

		/** A stream's last event is now `seq`, the highest yet, and its row `value`. */
		push(name: string, seq: number, value: T) {
			let slot = slotOf.get(name)
			if (slot) {
				slot.seq = seq
				slot.value = value
			} else {
				slot = { seq, value }
				slotOf.set(name, slot)
			}
			slots.push(slot)
			seqs.push(seq)
			if (slots.length > 2 * slotOf.size + 1024) compact()
		},

		/** A stream's row changed without an event (retention moved its first id): same place. */
		update(name: string, value: T) {
			const slot = slotOf.get(name)
			if (slot) slot.value = value
		},

		/** The stream left memory: its entries are skipped from now on. */
		delete(name: string) {
			const slot = slotOf.get(name)
			if (!slot) return
			slot.seq = -1
			slotOf.delete(name)
		},

		/** Every stream, in no order. */
		values: () => slotOf.values(),

		/** Streams whose last seq is below `before`, newest first. */
		*before(before = Number.POSITIVE_INFINITY): Generator<Slot<T>> {
			// The first entry at or past `before`; everything left of it is older.
			let lo = 0
			let hi = seqs.length
			while (lo < hi) {
				const mid = (lo + hi) >>> 1
				if (seqs[mid] < before) lo = mid + 1
				else hi = mid
			}
			for (let i = lo - 1; i >= 0; i--) if (slots[i].seq === seqs[i]) yield slots[i]
		},
	}
}

export type Recency<T> = ReturnType<typeof createRecency<T>>
