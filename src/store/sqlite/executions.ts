import type { Database } from 'bun:sqlite'
import type { EndedExecution } from '../store.ts'

/** Ended executions by stream key, each stream's in id order. */
export type EndedByStream = Map<number, EndedExecution[]>

export const addEnded = (into: EndedByStream, stream: number, ended: EndedExecution[]) => {
	const list = into.get(stream)
	if (list) list.push(...ended)
	else into.set(stream, ended)
}

interface ExecutionRow {
	start_id: number
	end_id: number
	status: EndedExecution['status']
	started_at: number
	ended_at: number
	message_id: number
}

const toExecution = (r: ExecutionRow): EndedExecution => ({
	startId: r.start_id,
	endId: r.end_id,
	status: r.status,
	startedAt: r.started_at,
	endedAt: r.ended_at,
	messageId: r.message_id,
})

/**
 * The agents' ended executions in the SQLite engine: the `executions` table (stream, start id ->
 * end id, status, times, message candidate), written with the stream rows, in the chunk index's
 * batches, never by a commit of its own. The executions that ended since are kept here, per
 * stream, and are all newer than the table's; on open they are found again by the replay that
 * brings the stream rows up to date (rows.ts). So the table holds every execution that ended up
 * to its stream row's `last_id`, and listing a stream's executions is a range of one index.
 */
export function openExecutions(db: Database) {
	const q = {
		insert: db.query<never, [number, number, number, string, number, number, number]>(
			`INSERT OR REPLACE INTO executions
			 (stream, start_id, end_id, status, started_at, ended_at, message_id)
			 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		),
		before: db.query<ExecutionRow, [number, number, number, number, number]>(
			`SELECT start_id, end_id, status, started_at, ended_at, message_id FROM executions
			 WHERE stream = ? AND start_id < ? AND start_id >= ? AND end_id <= ?
			 ORDER BY start_id DESC LIMIT ?`,
		),
		drop: db.query<never, [number, number]>(
			'DELETE FROM executions WHERE stream = ? AND end_id <= ?',
		),
	}

	let waiting: EndedByStream = new Map()

	const insert = (stream: number, list: EndedExecution[]) => {
		for (const e of list)
			q.insert.run(stream, e.startId, e.endId, e.status, e.startedAt, e.endedAt, e.messageId)
	}

	return {
		/** Found again on open: executions that ended after the stream rows in the table. */
		waiting: (stream: number, ended: EndedExecution[]) => addEnded(waiting, stream, ended),

		/**
		 * A stream's ended executions, newest first, at most `limit`: starting below `before` and at
		 * or after `firstId` (the rest were pruned), ending at or before `upToId`.
		 */
		before(
			stream: number,
			before: number,
			firstId: number,
			upToId: number,
			limit: number,
		): EndedExecution[] {
			const out: EndedExecution[] = []
			const recent = waiting.get(stream) ?? []
			for (let i = recent.length - 1; i >= 0 && out.length < limit; i--) {
				const e = recent[i]
				if (e.startId < before && e.startId >= firstId && e.endId <= upToId) out.push(e)
			}
			if (out.length < limit)
				for (const r of q.before.iterate(stream, before, firstId, upToId, limit - out.length))
					out.push(toExecution(r))
			return out
		},

		/** Inside the transaction in progress, with the stream rows: every execution waiting and `adding`. */
		write(adding: EndedByStream) {
			for (const map of [waiting, adding]) for (const [stream, list] of map) insert(stream, list)
		},

		/** After a commit: what it ended is in the table if `written`, else waits. */
		committed(adding: EndedByStream, written: boolean) {
			if (written) waiting = new Map()
			else for (const [stream, list] of adding) addEnded(waiting, stream, list)
		},

		/**
		 * Retention, inside its transaction, which writes the stream's row as it is: the stream's
		 * waiting executions go into the table with it, and those ending at or before `to` go.
		 * `pruned` once that transaction has committed.
		 */
		prune(stream: number, to: number) {
			insert(stream, waiting.get(stream) ?? [])
			q.drop.run(stream, to)
		},
		pruned(stream: number) {
			waiting.delete(stream)
		},
	}
}

export type Executions = ReturnType<typeof openExecutions>
