import type { SQL } from 'bun'
import { CortexError } from '../../errors.ts'
import type { NewEvent } from '../../events.ts'
import { advance, pendingCancel, type RunState, stamp, withCancel } from '../advance.ts'
import { type GroupWriter, type Outcome, type RememberedKey, replay } from '../group-commit.ts'
import { type EndedExecution, IDEMPOTENCY_TTL_MS } from '../store.ts'
import type { StreamRow } from './read.ts'

/**
 * How the counts of streams by kind and status move when streams go from one run state to the
 * next: a stream counts once it has an event (a row made for a first append that was refused
 * has none).
 */
function countsMoved(changes: Array<[stream: string, before: RunState, after: RunState]>) {
	const deltas = new Map<string, number>()
	const add = (stream: string, status: string, delta: number) => {
		const key = `${stream.slice(0, stream.indexOf('/'))}/${status}`
		deltas.set(key, (deltas.get(key) ?? 0) + delta)
	}
	for (const [stream, before, after] of changes) {
		if (before.lastId > 0 && before.status === after.status) continue
		if (before.lastId > 0) add(stream, before.status, -1)
		add(stream, after.status, 1)
	}
	return [...deltas]
		.filter(([, delta]) => delta !== 0)
		.map(([key, delta]) => {
			const [kind, status] = key.split('/')
			return { kind, status, delta }
		})
}

/**
 * How a group of appends is written on Postgres: one transaction, whose COMMIT (with Postgres'
 * default `synchronous_commit = on`) has reached the disk when it returns.
 *
 * Ids: the transaction locks its streams' rows (`SELECT ... FOR UPDATE`, in name order, so two
 * instances never wait on each other in a cycle) and takes the ids after each `last_id`, so ids
 * stay gapless and every stream commits in id order whichever instance writes. The global
 * cursor (`seq`, for the feed) is taken the same way from one row, locked last, for the insert
 * of the events and the COMMIT only. That lock makes every appending commit in the cluster wait
 * for the one before it; a gapless cursor in commit order needs it: numbers from a sequence
 * commit out of order, and a feed reader would pass one still in flight and never see it.
 * `committed` is told the cursor after each commit that appended.
 */
export function createWriter(sql: SQL, committed: (seq: number) => void) {
	let commits = 0
	const write: GroupWriter = async (batch) => {
		const now = Date.now()
		const outcomes: Outcome[] = new Array(batch.length)
		let committedSeq = 0
		await sql.begin(async (tx) => {
			const names = [...new Set(batch.map((r) => r.stream))].sort()
			// Rows are created and locked in name order, so two instances never wait on each other
			// in a cycle.
			await tx`INSERT INTO cortex_streams (name, created_at, updated_at)
				SELECT name, ${now}, ${now} FROM unnest(${sql.array(names, 'TEXT')}::text[]) AS name
				ON CONFLICT (name) DO NOTHING`
			const rows = new Map<string, { key: string; state: RunState }>()
			for (const r of (await tx`SELECT key, name, last_id, status, execution_start, cancel_id, cancel_data,
				started_at, message_id
				FROM cortex_streams WHERE name = ANY(${sql.array(names, 'TEXT')}::text[])
				ORDER BY name FOR UPDATE`) as StreamRow[])
				rows.set(r.name, {
					key: r.key,
					state: {
						lastId: Number(r.last_id),
						status: r.status,
						executionStart: Number(r.execution_start),
						cancelId: Number(r.cancel_id),
						cancelData: r.cancel_data,
						startedAt: Number(r.started_at),
						messageId: Number(r.message_id),
					},
				})
			const keyed = batch.filter((r) => r.idempotency)
			const known = new Map<string, RememberedKey>()
			if (keyed.length > 0)
				for (const k of await tx`SELECT stream, key, fingerprint, first_id, count FROM cortex_idempotency_keys
					WHERE (stream, key) IN (SELECT * FROM unnest(
						${sql.array(
							keyed.map((r) => rows.get(r.stream)?.key),
							'INT8',
						)}::bigint[], ${sql.array(
							keyed.map((r) => r.idempotency?.key),
							'TEXT',
						)}::text[]))
					AND created_at >= ${now - IDEMPOTENCY_TTL_MS}`)
					known.set(`${k.stream}\n${k.key}`, {
						fingerprint: k.fingerprint,
						firstId: Number(k.first_id),
						count: Number(k.count),
					})

			// Decide every request first; the global cursor is locked only once there is something
			// to write, and held for as short a time as possible.
			const accepted: Array<{
				index: number
				key: string
				events: NewEvent[]
				firstId: number
				state: RunState
			}> = []
			const states = new Map<string, RunState>()
			const ended: Array<EndedExecution & { key: string }> = []
			for (const [i, req] of batch.entries()) {
				const row = rows.get(req.stream) as { key: string; state: RunState }
				const state = states.get(req.stream) ?? row.state
				try {
					// A cancel already pending in the run is answered again; nothing is appended.
					const pending = req.cancel ? pendingCancel(req.stream, state) : 0
					if (pending > 0) {
						outcomes[i] = { result: withCancel({ ids: [pending], replayed: true }, state) }
						continue
					}
					const keyId = req.idempotency && `${row.key}\n${req.idempotency.key}`
					const hit = keyId && known.get(keyId)
					if (hit && req.idempotency) {
						outcomes[i] = { result: withCancel(replay(req.idempotency, hit), state) }
						continue
					}
					const ending: EndedExecution[] = []
					const next = advance(req.stream, state, req.events, now, ending)
					for (const e of ending) ended.push({ ...e, key: row.key })
					accepted.push({
						index: i,
						key: row.key,
						events: req.events,
						firstId: state.lastId + 1,
						state: next,
					})
					states.set(req.stream, next)
					if (keyId && req.idempotency)
						known.set(keyId, {
							fingerprint: req.idempotency.fingerprint,
							firstId: state.lastId + 1,
							count: req.events.length,
						})
				} catch (error) {
					if (!(error instanceof CortexError)) throw error
					outcomes[i] = { error }
				}
			}
			if (accepted.length === 0) return

			const touched = [...states]
			await tx`UPDATE cortex_streams s SET last_id = v.last_id, status = v.status,
				execution_start = v.execution_start, cancel_id = v.cancel_id,
				cancel_data = v.cancel_data, started_at = v.started_at, message_id = v.message_id,
				updated_at = ${now}
				FROM unnest(
					${sql.array(
						touched.map(([name]) => rows.get(name)?.key),
						'INT8',
					)}::bigint[], ${sql.array(
						touched.map(([, s]) => s.lastId),
						'INT8',
					)}::bigint[],
					${sql.array(
						touched.map(([, s]) => s.status),
						'TEXT',
					)}::text[], ${sql.array(
						touched.map(([, s]) => s.executionStart),
						'INT8',
					)}::bigint[], ${sql.array(
						touched.map(([, s]) => s.cancelId),
						'INT8',
					)}::bigint[],
					${sql.array(
						touched.map(([, s]) => s.cancelData),
						'TEXT',
					)}::text[], ${sql.array(
						touched.map(([, s]) => s.startedAt),
						'INT8',
					)}::bigint[], ${sql.array(
						touched.map(([, s]) => s.messageId),
						'INT8',
					)}::bigint[]
				) AS v(key, last_id, status, execution_start, cancel_id, cancel_data, started_at, message_id)
				WHERE s.key = v.key`
			if (ended.length > 0)
				await tx`INSERT INTO cortex_executions
					(stream, start_id, end_id, status, started_at, ended_at, message_id)
					SELECT * FROM unnest(
						${sql.array(
							ended.map((e) => e.key),
							'INT8',
						)}::bigint[], ${sql.array(
							ended.map((e) => e.startId),
							'INT8',
						)}::bigint[], ${sql.array(
							ended.map((e) => e.endId),
							'INT8',
						)}::bigint[], ${sql.array(
							ended.map((e) => e.status),
							'TEXT',
						)}::text[], ${sql.array(
							ended.map((e) => e.startedAt),
							'INT8',
						)}::bigint[], ${sql.array(
							ended.map((e) => e.endedAt),
							'INT8',
						)}::bigint[], ${sql.array(
							ended.map((e) => e.messageId),
							'INT8',
						)}::bigint[])
					ON CONFLICT (stream, start_id) DO NOTHING`
			const remember = accepted.filter((a) => batch[a.index].idempotency)
			if (remember.length > 0)
				await tx`INSERT INTO cortex_idempotency_keys (stream, key, fingerprint, first_id, count, created_at)
					SELECT stream, key, fingerprint, first_id, count, ${now} FROM unnest(
						${sql.array(
							remember.map((a) => a.key),
							'INT8',
						)}::bigint[],
						${sql.array(
							remember.map((a) => batch[a.index].idempotency?.key),
							'TEXT',
						)}::text[],
						${sql.array(
							remember.map((a) => batch[a.index].idempotency?.fingerprint),
							'TEXT',
						)}::text[],
						${sql.array(
							remember.map((a) => a.firstId),
							'INT8',
						)}::bigint[],
						${sql.array(
							remember.map((a) => a.events.length),
							'INT4',
						)}::integer[]
					) AS k(stream, key, fingerprint, first_id, count)
					ON CONFLICT (stream, key) DO UPDATE SET fingerprint = excluded.fingerprint,
						first_id = excluded.first_id, count = excluded.count, created_at = excluded.created_at`
			// Last, the global cursor: its row lock orders every appending commit in the cluster, so it
			// is held only for the insert of the events and the COMMIT.
			const total = accepted.reduce((n, a) => n + a.events.length, 0)
			const [{ value }] = await tx`UPDATE cortex_meta SET value = value + ${total}
				WHERE key = 'last_seq' RETURNING value`
			let seq = Number(value) - total
			// The lists' counts move with the statuses, under the cursor's lock, which every
			// appending commit takes in turn anyway.
			const moved = countsMoved(
				touched.map(([name, next]) => [name, (rows.get(name) as { state: RunState }).state, next]),
			)
			if (moved.length > 0)
				await tx`UPDATE cortex_status_counts c SET n = c.n + d.delta FROM unnest(
						${sql.array(
							moved.map((m) => m.kind),
							'TEXT',
						)}::text[], ${sql.array(
							moved.map((m) => m.status),
							'TEXT',
						)}::text[], ${sql.array(
							moved.map((m) => m.delta),
							'INT8',
						)}::bigint[]) AS d(kind, status, delta)
					WHERE c.kind = d.kind AND c.status = d.status`
			const cols = {
				stream: [] as string[],
				id: [] as number[],
				seq: [] as number[],
				type: [] as string[],
				data: [] as string[],
			}
			for (const a of accepted) {
				const stored = stamp(a.events, a.firstId, seq + 1, now)
				seq += stored.length
				outcomes[a.index] = {
					result: withCancel({ ids: stored.map((e) => e.id), replayed: false }, a.state),
					stored,
				}
				for (const e of stored) {
					cols.stream.push(a.key)
					cols.id.push(e.id)
					cols.seq.push(e.seq)
					cols.type.push(e.event)
					cols.data.push(e.data)
				}
			}
			committedSeq = seq
			await tx`INSERT INTO cortex_events (stream, id, seq, type, data, created_at)
				SELECT stream, id, seq, type, data, ${now} FROM unnest(
					${sql.array(cols.stream, 'INT8')}::bigint[], ${sql.array(cols.id, 'INT8')}::bigint[],
					${sql.array(cols.seq, 'INT8')}::bigint[], ${sql.array(cols.type, 'TEXT')}::text[],
					${sql.array(cols.data, 'TEXT')}::text[]) AS e(stream, id, seq, type, data)`
		})
		commits++
		if (committedSeq > 0) committed(committedSeq)
		return outcomes
	}
	return {
		write,
		/** Transactions committed so far. */
		get commits() {
			return commits
		},
	}
}
