import type { Database } from 'bun:sqlite'
import { eachFrame } from '../../../client/src/sse.ts'
import type { StreamKind } from '../../events.ts'
import { advancePast, isWorkflowRun, type RunState } from '../advance.ts'
import type { EndedExecution, RunStatus, StreamState } from '../store.ts'
import type { ChunkIndex } from './chunk-index.ts'
import type { Executions } from './executions.ts'
import { createRecency, type Recency } from './recency.ts'

/**
 * A stream as the engine keeps it: its state, its key, the global cursor of its last event, and
 * the cancel pending in its run.
 */
export interface Row extends StreamState, RunState {
	key: number
	lastSeq: number
}

/** A row of the streams table. */
export interface StreamRow {
	key: number
	name: string
	last_id: number
	status: RunStatus
	execution_start: number
	first_id: number
	created_at: number
	updated_at: number
	snapshot: string | null
	last_seq: number
	cancel_id: number
	cancel_data: string
	started_at: number
	message_id: number
}

export const toRow = (r: StreamRow): Row => ({
	key: r.key,
	name: r.name,
	lastId: r.last_id,
	status: r.status,
	executionStart: r.execution_start,
	firstId: r.first_id,
	createdAt: r.created_at,
	updatedAt: r.updated_at,
	lastSeq: r.last_seq,
	cancelId: r.cancel_id,
	cancelData: r.cancel_data,
	startedAt: r.started_at,
	messageId: r.message_id,
})

export const publicState = ({
	key: _,
	lastSeq: __,
	cancelId: ___,
	cancelData: ____,
	startedAt: _____,
	messageId: ______,
	...state
}: Row): StreamState => state

/**
 * The state of a stream retention emptied, from the table, with the snapshot kept for it;
 * undefined for a stream with events kept (or none at all), which memory answers for.
 */
export const prunedState = (r: StreamRow | null): StreamState | undefined =>
	r && r.first_id > r.last_id && r.last_id > 0
		? { ...publicState(toRow(r)), ...(r.snapshot !== null && { snapshot: r.snapshot }) }
		: undefined

/**
 * The streams with events kept, in memory: the process is the only writer, so it need not ask
 * the table. A stream retention emptied is read from the table when asked for, and comes back
 * in when appended to, so memory grows with the streams that have events, not with every
 * stream ever made. The table is written with the chunk index, not with each commit (see
 * `write`): on open, the chunks the index does not hold yet bring its rows up to date.
 * `committed` is the state as committed; `visible` as made durable, which readers see.
 */
export function loadRows(db: Database, index: ChunkIndex, executions: Executions) {
	const q = {
		// Streams with events kept. (A row inserted by a commit whose other writes are not in the
		// table yet says last_id 0; the chunks bring it up to date.)
		live: db.query<StreamRow, []>('SELECT * FROM streams WHERE first_id <= last_id'),
		byName: db.query<StreamRow, [string]>('SELECT * FROM streams WHERE name = ?'),
		byKey: db.query<StreamRow, [number]>('SELECT * FROM streams WHERE key = ?'),
		snapshotOf: db.query<{ snapshot: string | null }, [number]>(
			'SELECT snapshot FROM streams WHERE key = ?',
		),
		statusOf: db.query<{ status: RunStatus }, [number]>('SELECT status FROM streams WHERE key = ?'),
		// Oldest first, with what `advance` needs.
		chunksAfter: db.query<
			{
				stream: number
				first_id: number
				last_id: number
				last_seq: number
				created_at: number
				frames: Uint8Array
			},
			[number]
		>(
			'SELECT stream, first_id, last_id, last_seq, created_at, frames FROM chunks WHERE last_seq > ? ORDER BY last_seq',
		),
		update: db.query<
			never,
			[number, string, number, number, number, number, string, number, number, number]
		>(
			`UPDATE streams SET last_id = ?, status = ?, execution_start = ?, updated_at = ?, last_seq = ?,
			 cancel_id = ?, cancel_data = ?, started_at = ?, message_id = ? WHERE key = ?`,
		),
		setLastSeq: db.query<never, [number]>("UPDATE meta SET value = ? WHERE key = 'last_seq'"),
	}

	const committed = new Map<string, Row>()
	const visible = new Map<string, Row>()
	// Streams whose row in the table is behind `committed`.
	const dirty = new Set<string>()
	// Streams retention emptied and an append brought back, whose row in the table still says
	// emptied, with the status it says: until the row is written, the table counts them as it.
	const revived = new Map<string, RunStatus>()
	for (const r of q.live.iterate()) committed.set(r.name, toRow(r))
	const byKey = new Map([...committed.values()].map((r) => [r.key, r]))
	for (const c of q.chunksAfter.iterate(index.indexedSeq())) {
		let row = byKey.get(c.stream)
		if (!row) {
			const stored = q.byKey.get(c.stream) as StreamRow
			row = toRow(stored)
			byKey.set(row.key, row)
			committed.set(row.name, row)
			if (stored.first_id > stored.last_id && stored.last_id > 0)
				revived.set(stored.name, stored.status)
		}
		// Retention writes a stream's row as it is, so the row may hold some of these already.
		if (c.last_id <= row.lastId) continue
		const r = row
		const ended: EndedExecution[] = []
		eachFrame(
			c.frames,
			c.first_id,
			Math.max(c.first_id, row.lastId + 1),
			c.last_id,
			(id, event, data) =>
				advancePast(r, id, event, data, c.created_at, isWorkflowRun(r.name) ? undefined : ended),
		)
		if (ended.length > 0) executions.waiting(r.key, ended)
		row.updatedAt = c.created_at
		row.lastSeq = c.last_seq
		// Its row is written with the next index: that write moves `indexed_seq` past these
		// chunks, and the next open would not find them again.
		dirty.add(r.name)
	}
	for (const [name, row] of committed) visible.set(name, row)
	const recency: Record<StreamKind, Recency<Row>> = {
		agents: createRecency<Row>(),
		workflows: createRecency<Row>(),
	}
	const recencyOf = (stream: string) => recency[isWorkflowRun(stream) ? 'workflows' : 'agents']
	for (const row of [...visible.values()].sort(bySeq))
		recencyOf(row.name).push(row.name, row.lastSeq, row)
	// Moves on whenever the table's emptied streams may have changed: what was counted of them
	// before holds while it stays.
	let emptiedGeneration = 0

	return {
		committed,
		visible,
		/** The streams readers see, per kind, most recently appended to first (see recency.ts). */
		recency,
		revived: revived as ReadonlyMap<string, RunStatus>,
		emptiedGeneration: () => emptiedGeneration,

		/** A stream's row as committed: from memory while it has events kept, else from the table. */
		rowOf(stream: string): Row | undefined {
			const row = committed.get(stream)
			if (row) return row
			const stored = q.byName.get(stream)
			return stored && stored.last_id > 0 ? toRow(stored) : undefined
		},

		/** A stream's state as readers see it, with the snapshot retention kept when it needs one. */
		stateOf(stream: string): StreamState | undefined {
			const row = visible.get(stream)
			if (!row) return prunedState(q.byName.get(stream))
			// Retention is pruning the events this stream's snapshot folds: it wrote the snapshot.
			if ((isWorkflowRun(stream) ? 1 : row.executionStart) >= row.firstId) return publicState(row)
			const snapshot = q.snapshotOf.get(row.key)?.snapshot
			return { ...publicState(row), ...(snapshot && { snapshot }) }
		},

		/**
		 * A commit's streams, once committed: `indexed` says whether the commit wrote the table's
		 * rows (with the chunk index) or left them behind.
		 */
		committedAll(working: Map<string, Row>, indexed: boolean) {
			let revives = false
			for (const [name, row] of working) {
				// Not in memory, yet with ids kept before: retention emptied it, its row says so.
				if (!committed.has(name) && row.firstId > 1) {
					revives = true
					if (!indexed) revived.set(name, q.statusOf.get(row.key)?.status ?? row.status)
				}
				committed.set(name, row)
			}
			if (indexed) {
				// The rows written: none of these says emptied any more.
				if (revives || revived.size > 0) emptiedGeneration++
				dirty.clear()
				revived.clear()
			} else for (const name of working.keys()) dirty.add(name)
		},

		/** A commit's streams, once durable: readers see them, and the recency moves them first. */
		show(working: Map<string, Row>) {
			const made = working.size === 1 ? working.values() : [...working.values()].sort(bySeq)
			for (const row of made) {
				// Retention may have moved the stream's first id on while this commit was syncing.
				const current = visible.get(row.name)
				const shown =
					current && current.firstId > row.firstId ? { ...row, firstId: current.firstId } : row
				visible.set(row.name, shown)
				recencyOf(row.name).push(row.name, row.lastSeq, shown)
			}
		},

		/**
		 * Writes, inside the transaction in progress, the stream rows as they will be once it has
		 * committed (`working` holds its own streams), and the last seq.
		 */
		write(working: Map<string, Row>, seq: number) {
			const write = (r: Row) =>
				q.update.run(
					r.lastId,
					r.status,
					r.executionStart,
					r.updatedAt,
					r.lastSeq,
					r.cancelId,
					r.cancelData,
					r.startedAt,
					r.messageId,
					r.key,
				)
			for (const name of dirty) if (!working.has(name)) write(committed.get(name) as Row)
			for (const r of working.values()) write(r)
			q.setLastSeq.run(seq)
		},

		/**
		 * Retention moved a stream's first kept id on to `firstId`, and wrote its row in the table
		 * as it is.
		 */
		pruned(stream: string, firstId: number) {
			for (const map of [committed, visible]) {
				const r = map.get(stream)
				if (r) map.set(stream, { ...r, firstId })
			}
			const shown = visible.get(stream)
			if (shown) recencyOf(stream).update(stream, shown)
			revived.delete(stream)
			emptiedGeneration++
		},

		/**
		 * A stream with no events left leaves memory: the table row retention wrote holds it whole
		 * (ids, status, snapshot), and an append reads it back.
		 */
		evictIfEmpty(stream: string) {
			const row = committed.get(stream)
			const shown = visible.get(stream)
			if (!row || row.firstId <= row.lastId || (shown && shown.firstId <= shown.lastId)) return
			committed.delete(stream)
			visible.delete(stream)
			recencyOf(stream).delete(stream)
			dirty.delete(stream)
		},
	}
}

export type StreamRows = ReturnType<typeof loadRows>

const bySeq = (a: Row, b: Row) => a.lastSeq - b.lastSeq
