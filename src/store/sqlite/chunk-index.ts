import type { Database } from 'bun:sqlite'

/**
 * How long, and for how many chunks at most, `chunk_index` may lag the log. A chunk is indexed
 * in a later commit than its own, in a batch: a commit that inserted an index entry per stream
 * touched one index page per stream, and cost 220-263 us for 18 single-event appends to 18
 * streams against 47-55 us without (a micro-benchmark of this schema).
 */
const INDEX_EVERY_MS = 1000
const INDEX_BATCH = 8192

/** A stored chunk as the reads use it (see chunks.ts). */
export interface ChunkRow {
	first_id: number
	last_id: number
	last_seq: number
	created_at: number
	frames: Uint8Array
}

/** Where a chunk is: its ids, and its row (keyed by its last seq). */
export interface ChunkPlace {
	firstId: number
	lastId: number
	lastSeq: number
}

/** Chunks by stream key, each stream's in id order. */
export type ChunkPlaces = Map<number, ChunkPlace[]>

export const addPlace = (into: ChunkPlaces, stream: number, place: ChunkPlace) => {
	const list = into.get(stream)
	if (list) list.push(place)
	else into.set(stream, [place])
}

export interface ChunkIndexOptions {
	/** Chunks that may wait for the index (tests set it low to mix indexed and waiting chunks). */
	batch?: number
	everyMs?: number
}

/**
 * Finds a stream's chunks in the SQLite engine. `chunk_index` (stream, last id -> row) is
 * written by the group commit in batches; the chunks it does not hold yet are kept here, per
 * stream, and all come after the ones it holds. On open they are found again by scanning the
 * table after `meta.indexed_seq`, which the index's writes move on with it.
 */
export function openChunkIndex(
	db: Database,
	{ batch = INDEX_BATCH, everyMs = INDEX_EVERY_MS }: ChunkIndexOptions = {},
) {
	const q = {
		// Iterated, and left as soon as a read has what it needs, so it never walks the rest of the
		// stream.
		indexedChunks: db.query<ChunkRow, [number, number]>(
			`SELECT c.first_id, c.last_id, c.last_seq, c.created_at, c.frames
			 FROM chunk_index i JOIN chunks c ON c.last_seq = i.last_seq
			 WHERE i.stream = ? AND i.last_id > ? ORDER BY i.last_id`,
		),
		chunk: db.query<ChunkRow, [number]>(
			'SELECT first_id, last_id, last_seq, created_at, frames FROM chunks WHERE last_seq = ?',
		),
		unindexedChunks: db.query<ChunkPlace & { stream: number }, [number]>(
			`SELECT stream, first_id AS firstId, last_id AS lastId, last_seq AS lastSeq FROM chunks
			 WHERE last_seq > ? ORDER BY last_seq`,
		),
		insertIndex: db.query<never, [number, number, number]>(
			'INSERT INTO chunk_index (stream, last_id, last_seq) VALUES (?, ?, ?)',
		),
		indexedSeq: db.query<{ value: number }, []>("SELECT value FROM meta WHERE key = 'indexed_seq'"),
		setIndexedSeq: db.query<never, [number]>("UPDATE meta SET value = ? WHERE key = 'indexed_seq'"),
	}

	let unindexed: ChunkPlaces = new Map()
	let count = 0
	let indexedAt = Date.now()
	let indexedSeq = q.indexedSeq.get()?.value ?? 0
	for (const { stream, ...place } of q.unindexedChunks.iterate(indexedSeq)) {
		addPlace(unindexed, stream, place)
		count++
	}

	/** Indexes every chunk known and those of `adding`, in the transaction in progress. */
	function write(adding: ChunkPlaces, upToSeq: number) {
		for (const map of [unindexed, adding])
			for (const [stream, list] of map)
				for (const c of list) q.insertIndex.run(stream, c.lastId, c.lastSeq)
		q.setIndexedSeq.run(upToSeq)
	}
	function written(upToSeq: number) {
		unindexed = new Map()
		count = 0
		indexedAt = Date.now()
		indexedSeq = upToSeq
	}

	return {
		/** A stream's chunks after id `from`, in id order: through the index, then the newer ones. */
		*after(stream: number, from: number): Generator<ChunkRow> {
			const recent = unindexed.get(stream)
			if (!recent || recent[0].firstId > from + 1) yield* q.indexedChunks.iterate(stream, from)
			if (!recent) return
			// The first waiting chunk that ends past `from`: they are in id order, and a replay of a
			// stream written in the last second would otherwise walk all of them at every read.
			let lo = 0
			let hi = recent.length
			while (lo < hi) {
				const mid = (lo + hi) >>> 1
				if (recent[mid].lastId > from) hi = mid
				else lo = mid + 1
			}
			for (let i = lo; i < recent.length; i++) {
				const row = q.chunk.get(recent[i].lastSeq)
				if (row) yield row
			}
		},

		/** Every chunk after this seq is one the index does not hold yet. */
		indexedSeq: () => indexedSeq,

		/** A stream's chunks holding ids up to `to` that the index does not hold yet. */
		waiting(stream: number, to: number): ChunkPlace[] {
			return (unindexed.get(stream) ?? []).filter((c) => c.firstId <= to)
		},

		/** After retention dropped a stream's ids up to `to`, from the index and from `waiting`. */
		forget(stream: number, to: number) {
			const list = unindexed.get(stream)
			if (!list) return
			const kept = list.filter((c) => c.lastId > to)
			count -= list.length - kept.length
			if (kept.length > 0 && kept[0].firstId <= to) kept[0] = { ...kept[0], firstId: to + 1 }
			if (kept.length > 0) unindexed.set(stream, kept)
			else unindexed.delete(stream)
		},

		/**
		 * Called inside a group commit's transaction with the chunks it added, up to seq
		 * `upToSeq`: writes the index there when it is due, and calls `alsoDue` to write what else
		 * keeps pace with it. Returns what to do once the transaction has committed.
		 */
		commit(adding: ChunkPlaces, upToSeq: number, now: number, alsoDue: () => void) {
			let added = 0
			for (const list of adding.values()) added += list.length
			const due = count + added >= batch || now - indexedAt >= everyMs
			if (due) {
				write(adding, upToSeq)
				alsoDue()
			}
			return (): boolean => {
				if (due) {
					written(upToSeq)
					return true
				}
				for (const [stream, list] of adding) for (const c of list) addPlace(unindexed, stream, c)
				count += added
				return false
			}
		},
	}
}

export type ChunkIndex = ReturnType<typeof openChunkIndex>
