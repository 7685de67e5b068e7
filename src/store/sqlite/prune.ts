import { skipFrames } from '../../../client/src/sse.ts'
import { isWorkflowRun } from '../advance.ts'
import type { Store } from '../store.ts'
import type { Sqlite } from './database.ts'

/** Events deleted per transaction when pruning. */
const PRUNE_BATCH = 1000

/**
 * Retention in the SQLite engine: which streams have whole executions or runs to drop, and the
 * dropping, in small transactions a turn of the event loop apart, so publishing never waits
 * long. It never writes the chunk index, so a full store can always shrink.
 */
export function createPrune(sqlite: Sqlite): Pick<Store, 'prunable' | 'prune'> {
	const { db, index, rows, executions } = sqlite
	const q = {
		// The last terminal event stored before a time: through the index, then, for every stream
		// at once, in the chunks the index does not hold yet (at most a second of them).
		lastEndBefore: db.query<{ id: number | null }, [number, number]>(
			`SELECT max(c.last_end) AS id FROM chunk_index i JOIN chunks c ON c.last_seq = i.last_seq
			 WHERE i.stream = ? AND c.created_at < ?`,
		),
		lastEndsWaiting: db.query<[number, number | null], [number, number]>(
			`SELECT stream, max(last_end) FROM chunks WHERE last_seq > ? AND created_at < ?
			 GROUP BY stream`,
		),
		deleteChunks: db.query<never, [number, number]>(
			`DELETE FROM chunks WHERE last_seq IN
			 (SELECT last_seq FROM chunk_index WHERE stream = ? AND last_id <= ?)`,
		),
		deleteIndex: db.query<never, [number, number]>(
			'DELETE FROM chunk_index WHERE stream = ? AND last_id <= ?',
		),
		chunkAt: db.query<
			{ last_seq: number; first_id: number; last_end: number | null; frames: Uint8Array },
			[number, number]
		>(
			`SELECT c.last_seq, c.first_id, c.last_end, c.frames
			 FROM chunk_index i JOIN chunks c ON c.last_seq = i.last_seq
			 WHERE i.stream = ? AND i.last_id > ? ORDER BY i.last_id LIMIT 1`,
		),
		chunkForTrim: db.query<
			{ last_seq: number; first_id: number; last_end: number | null; frames: Uint8Array },
			[number]
		>('SELECT last_seq, first_id, last_end, frames FROM chunks WHERE last_seq = ?'),
		deleteChunk: db.query<never, [number]>('DELETE FROM chunks WHERE last_seq = ?'),
		trimChunk: db.query<never, [number, number | null, Uint8Array, number]>(
			'UPDATE chunks SET first_id = ?, last_end = ?, frames = ? WHERE last_seq = ?',
		),
		pruned: db.query<
			never,
			[
				number,
				string,
				number,
				string,
				number,
				number,
				number,
				number,
				string,
				number,
				number,
				number,
			]
		>(
			`UPDATE streams SET first_id = ?, snapshot = ?, last_id = ?, status = ?, execution_start = ?,
			 updated_at = ?, last_seq = ?, cancel_id = ?, cancel_data = ?, started_at = ?, message_id = ?
			 WHERE key = ?`,
		),
		setLastSeq: db.query<never, [number]>("UPDATE meta SET value = ? WHERE key = 'last_seq'"),
	}

	return {
		async prunable(cutoff) {
			// Chunks the index does not hold yet are newer than those it does: their last end, if
			// they have one, is the stream's.
			const waiting = new Map(
				q.lastEndsWaiting.values(index.indexedSeq(), cutoff) as [number, number | null][],
			)
			const found: Array<{ stream: string; upToId: number }> = []
			for (const row of rows.visible.values()) {
				if (row.firstId > row.lastId) continue
				if (isWorkflowRun(row.name)) {
					if (row.status !== 'running' && row.updatedAt < cutoff)
						found.push({ stream: row.name, upToId: row.lastId })
					continue
				}
				const end = waiting.get(row.key) ?? q.lastEndBefore.get(row.key, cutoff)?.id
				if (end) found.push({ stream: row.name, upToId: end })
			}
			return found
		},

		async prune(stream, upToId, snapshot) {
			let dropped = 0
			for (;;) {
				const row = rows.committed.get(stream)
				if (!row || row.firstId > upToId) {
					rows.evictIfEmpty(stream)
					return dropped
				}
				const to = Math.min(upToId, row.firstId + PRUNE_BATCH - 1)
				// Chunks the index does not hold yet go by their rows: writing the index first could
				// need pages a full store does not have.
				const waiting = index.waiting(row.key, to)
				db.exec('BEGIN IMMEDIATE')
				try {
					q.deleteChunks.run(row.key, to)
					q.deleteIndex.run(row.key, to)
					for (const c of waiting) if (c.lastId <= to) q.deleteChunk.run(c.lastSeq)
					// The chunk holding both `to` and later events keeps only the later ones.
					const straddling = waiting.find((c) => c.lastId > to)
					const cut = straddling
						? q.chunkForTrim.get(straddling.lastSeq)
						: q.chunkAt.get(row.key, to)
					if (cut && cut.first_id <= to)
						q.trimChunk.run(
							to + 1,
							cut.last_end !== null && cut.last_end > to ? cut.last_end : null,
							cut.frames.subarray(skipFrames(cut.frames, 0, to + 1 - cut.first_id)),
							cut.last_seq,
						)
					// The chunks deleted may be some the stream's row and the last seq in the table
					// are not written up to yet (see rows.write), so both are written here.
					q.pruned.run(
						to + 1,
						snapshot,
						row.lastId,
						row.status,
						row.executionStart,
						row.updatedAt,
						row.lastSeq,
						row.cancelId,
						row.cancelData,
						row.startedAt,
						row.messageId,
						row.key,
					)
					// The executions that ended up to the row just written go with it.
					executions.prune(row.key, to)
					q.setLastSeq.run(sqlite.seq.committed)
					db.exec('COMMIT')
				} catch (error) {
					if (db.inTransaction) db.exec('ROLLBACK')
					throw error
				}
				index.forget(row.key, to)
				executions.pruned(row.key)
				dropped += to - row.firstId + 1
				rows.pruned(stream, to + 1)
				await new Promise((resolve) => setImmediate(resolve))
			}
		},
	}
}
