/**
 * The SQLite engine's streams in the order of their last event, newest first, for the paged
 * lists. Each append pushes its streams at the end with their new last seq (commits come in seq
 * order, so the array stays sorted); an older entry of the same stream is left where it is and
 * skipped, since it no longer matches the stream's last seq, until a compaction drops such
 * entries once they outnumber the live ones. Pushing is O(1), a page is a binary search and a
 * walk back, and memory is at most about two entries per live stream.
 */
export function createRecency(current: (name: string) => number | undefined) {
	let names: string[] = []
	let seqs: number[] = []
	let live = 0

	const compact = () => {
		const keptNames: string[] = []
		const keptSeqs: number[] = []
		for (let i = 0; i < names.length; i++)
			if (current(names[i]) === seqs[i]) {
				keptNames.push(names[i])
				keptSeqs.push(seqs[i])
			}
		names = keptNames
		seqs = keptSeqs
	}

	return {
		/** Drops the entries of streams that moved on or went: after many went at once. */
		compact,

		/** A stream's last event is now `seq`, the highest yet; `streams` is how many are live. */
		push(name: string, seq: number, streams: number) {
			names.push(name)
			seqs.push(seq)
			live = streams
			if (names.length > 2 * live + 1024) compact()
		},

		/** Live streams whose last seq is below `before`, newest first, with that seq. */
		*before(before = Number.POSITIVE_INFINITY): Generator<[name: string, seq: number]> {
			// The first entry at or past `before`; everything left of it is older.
			let lo = 0
			let hi = seqs.length
			while (lo < hi) {
				const mid = (lo + hi) >>> 1
				if (seqs[mid] < before) lo = mid + 1
				else hi = mid
			}
			for (let i = lo - 1; i >= 0; i--) if (current(names[i]) === seqs[i]) yield [names[i], seqs[i]]
		},
	}
}

export type Recency = ReturnType<typeof createRecency>
