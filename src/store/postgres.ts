import { randomBytes } from 'node:crypto'
import { SQL } from 'bun'
import {
	BadRequestError,
	CortexError,
	IdempotencyConflictError,
	InsufficientStorageError,
	NotSupportedError,
	StoreUnavailableError,
} from '../errors.ts'
import type { NewEvent, StoredEvent } from '../events.ts'
import { encodeEvent } from '../sse.ts'
import { advance, bytesOf, type Pending, type RunState, stamp } from './advance.ts'
import { createHealth, HEALTHY, storageFull, unavailable } from './health.ts'
import { migratePostgres } from './postgres-schema.ts'
import {
	type AdvanceListener,
	type AppendResult,
	type EncodedEvent,
	type FeedEvent,
	IDEMPOTENCY_TTL_MS,
	type RunStatus,
	type Store,
	type StreamState,
} from './store.ts'

/** Rows per query of a list page, which keeps only the streams the token may read. */
const PAGE_BATCH = 256

/** Where a list page starts, as `next` says: the last stream's update time and key. */
function parsePage(page: string | undefined): [number, number] | undefined {
	if (page === undefined) return undefined
	const match = /^([0-9]{1,15})\.([0-9]{1,15})$/.exec(page)
	if (!match) throw new BadRequestError('page must be the "next" of the page before', 'page')
	return [Number(match[1]), Number(match[2])]
}

/** Every instance listens here; a payload is `{"seq": <global cursor after the commit>}`. */
export const CHANNEL = 'cortex_stream'
/** How often an instance looks for commits whose notification it missed (a reconnect, say). */
export const CATCH_UP_MS = 1_000
/** Events per read when an instance hands other instances' commits to its hub. */
const PUMP_BATCH = 4096
/** Rows per query of a replay. */
const FRAMES_PAGE = 1024
const PRUNE_BATCH = 1000
const SIZE_EVERY_MS = 10_000
/** Postgres' SQLSTATE for a full disk. */
const DISK_FULL = '53100'
const HEALTH_TIMEOUT_MS = 2_000

const encoder = new TextEncoder()

export const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url)

/** The URL without its password, for logs. */
export function redactUrl(url: string) {
	if (!isPostgresUrl(url)) return url
	const parsed = new URL(url)
	if (parsed.password) parsed.password = '***'
	return parsed.toString()
}

interface StreamRow {
	key: string
	name: string
	last_id: string
	status: RunStatus
	execution_start: string
	first_id: string
	created_at: string
	updated_at: string
	snapshot: string | null
}

const toState = (r: StreamRow): StreamState => ({
	name: r.name,
	lastId: Number(r.last_id),
	status: r.status,
	executionStart: Number(r.execution_start),
	firstId: Number(r.first_id),
	createdAt: Number(r.created_at),
	updatedAt: Number(r.updated_at),
	...(r.snapshot !== null && { snapshot: r.snapshot }),
})

interface EventRow {
	id: string
	seq: string
	type: string
	data: string
	created_at: string
	name?: string
}

const toEvent = (r: EventRow): StoredEvent => ({
	id: Number(r.id),
	seq: Number(r.seq),
	event: r.type,
	data: r.data,
	createdAt: Number(r.created_at),
})

/**
 * The engine for several instances on one Postgres database, through Bun's SQL client.
 *
 * Ids: an append locks its stream's row (`SELECT ... FOR UPDATE`) and takes the ids after its
 * `last_id` in the same transaction that inserts the events, so ids stay gapless and every
 * stream commits in id order whichever instance writes. The global cursor (`seq`, for the
 * feed) is taken the same way from one row, locked last, for the insert of the events and the
 * COMMIT only. That lock makes every appending commit in the cluster wait for the one before
 * it, the cost the notification below avoids adding twice; a gapless cursor in commit order
 * needs it: numbers from a sequence commit out of order, and a feed reader would pass one
 * still in flight and never see it. Requests that arrive
 * together share one transaction (group commit); the `201` follows the COMMIT, which with
 * Postgres' default `synchronous_commit = on` has reached the disk.
 *
 * Fan-out across instances: after each commit the writer sends `pg_notify` (outside the
 * transaction: a NOTIFY inside it would serialise every commit in the cluster once more), and
 * every instance LISTENs. What wakes an instance is only a hint: it then reads every event after
 * the last cursor it handed its hub, in cursor order, so a lost or merged notification costs
 * nothing but latency. A timer repeats that check every CATCH_UP_MS, which also covers the
 * notifications sent while the listening connection was reconnecting.
 */
export async function openPostgresStore(
	url: string,
	options: { maxBytes?: number; catchUpMs?: number } = {},
): Promise<Store> {
	const sql = new SQL(url, { max: 10, bigint: false, connectionTimeout: 10 })
	try {
		await migratePostgres(sql)
	} catch (error) {
		await sql.close()
		const code = (error as { code?: string }).code
		throw new Error(
			`the Postgres database at ${redactUrl(url)} cannot be used: ${(error as Error).message}${code ? ` (${code})` : ''}`,
		)
	}

	/**
	 * A write of a few pages, given back in the same transaction: what a publish needs of the
	 * database (a replica refuses it too). Random bytes, which Postgres cannot compress away. Bounded in time, as a database that does not answer
	 * would keep the client waiting for its connection timeout.
	 */
	const health = createHealth(async (need) => {
		const probe = sql
			.begin(async (tx) => {
				await tx`INSERT INTO cortex_secrets (name, value) VALUES ('health-probe', ${randomBytes(need)})
					ON CONFLICT (name) DO UPDATE SET value = excluded.value`
				await tx`DELETE FROM cortex_secrets WHERE name = 'health-probe'`
			})
			.then(
				() => HEALTHY,
				(error) =>
					(error as { errno?: string }).errno === DISK_FULL
						? storageFull(`the database is full: ${(error as Error).message}`)
						: unavailable(`the database cannot be written: ${(error as Error).message}`),
			)
		return Promise.race([
			probe,
			Bun.sleep(HEALTH_TIMEOUT_MS).then(() =>
				unavailable(`the database did not answer within ${HEALTH_TIMEOUT_MS} ms`),
			),
		])
	})
	const listeners = new Set<AdvanceListener>()
	let pending: Pending[] = []
	let flushing: Promise<void> | undefined
	let closed = false
	let commits = 0
	let bytes = 0

	const lastSeq = async () =>
		Number((await sql`SELECT value FROM cortex_meta WHERE key = 'last_seq'`)[0].value)

	// --- appending -------------------------------------------------------------------------

	function schedule() {
		if (flushing || pending.length === 0) return
		flushing = (async () => {
			await new Promise((resolve) => setImmediate(resolve))
			const batch = pending
			pending = []
			await flush(batch)
		})().finally(() => {
			flushing = undefined
			schedule()
		})
	}

	async function flush(batch: Pending[]) {
		const now = Date.now()
		const outcomes: Array<{ result?: AppendResult; stored?: EncodedEvent[]; error?: Error }> = []
		let committedSeq = 0
		try {
			await sql.begin(async (tx) => {
				const names = [...new Set(batch.map((r) => r.stream))].sort()
				// Rows are created and locked in name order, so two instances never wait on each other
				// in a cycle.
				await tx`INSERT INTO cortex_streams (name, created_at, updated_at)
					SELECT name, ${now}, ${now} FROM unnest(${sql.array(names, 'TEXT')}::text[]) AS name
					ON CONFLICT (name) DO NOTHING`
				const rows = new Map<string, { key: string; state: RunState }>()
				for (const r of (await tx`SELECT key, name, last_id, status, execution_start FROM cortex_streams
					WHERE name = ANY(${sql.array(names, 'TEXT')}::text[]) ORDER BY name FOR UPDATE`) as StreamRow[])
					rows.set(r.name, {
						key: r.key,
						state: {
							lastId: Number(r.last_id),
							status: r.status,
							executionStart: Number(r.execution_start),
						},
					})
				const keyed = batch.filter((r) => r.idempotency)
				const known = new Map<string, { fingerprint: string; firstId: number; count: number }>()
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
				const accepted: Array<{ index: number; key: string; events: NewEvent[]; firstId: number }> =
					[]
				const states = new Map<string, RunState>()
				for (const [i, req] of batch.entries()) {
					const row = rows.get(req.stream) as { key: string; state: RunState }
					const state = states.get(req.stream) ?? row.state
					try {
						const keyId = req.idempotency && `${row.key}\n${req.idempotency.key}`
						const hit = keyId && known.get(keyId)
						if (hit && req.idempotency) {
							if (hit.fingerprint !== req.idempotency.fingerprint)
								throw new IdempotencyConflictError(
									'this Idempotency-Key was used with a different body on this stream',
								)
							outcomes[i] = {
								result: {
									ids: Array.from({ length: hit.count }, (_, n) => hit.firstId + n),
									replayed: true,
								},
							}
							continue
						}
						const next = advance(req.stream, state, req.events)
						accepted.push({
							index: i,
							key: row.key,
							events: req.events,
							firstId: state.lastId + 1,
						})
						states.set(req.stream, next)
						if (keyId && req.idempotency)
							known.set(keyId, {
								fingerprint: req.idempotency.fingerprint,
								firstId: state.lastId + 1,
								count: req.events.length,
							})
						outcomes[i] = {}
					} catch (error) {
						if (!(error instanceof CortexError)) throw error
						outcomes[i] = { error }
					}
				}
				if (accepted.length === 0) return

				const touched = [...states]
				await tx`UPDATE cortex_streams s SET last_id = v.last_id, status = v.status,
					execution_start = v.execution_start, updated_at = ${now}
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
						)}::bigint[]
					) AS v(key, last_id, status, execution_start)
					WHERE s.key = v.key`
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
						result: { ids: stored.map((e) => e.id), replayed: false },
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
		} catch (error) {
			const failure = health.failed(error, bytesOf(batch))
			for (const req of batch) req.reject(failure)
			return
		}
		health.note(HEALTHY)
		commits++
		batch.forEach((req, i) => {
			const outcome = outcomes[i]
			if (outcome.error) req.reject(outcome.error)
			else req.resolve(outcome.result as AppendResult)
		})
		if (committedSeq > 0) {
			sql.notify(CHANNEL, JSON.stringify({ seq: committedSeq })).catch(() => {})
			pump()
		}
	}

	// --- handing commits to the hub ---------------------------------------------------------

	/** The cursor up to which every commit, this instance's and the others', went to listeners. */
	let handed = await lastSeq()
	let pumping = false
	let pumpAgain = false

	async function pump() {
		if (pumping) {
			pumpAgain = true
			return
		}
		pumping = true
		try {
			do {
				pumpAgain = false
				for (;;) {
					const events = await readAllRows(handed, PUMP_BATCH)
					if (events.length === 0) break
					// Consecutive events of one stream go together; the order across streams is the cursor's.
					let from = 0
					for (let i = 1; i <= events.length; i++) {
						if (i < events.length && events[i].stream === events[from].stream) continue
						const run = events.slice(from, i).map(
							(e): EncodedEvent => ({
								id: e.id,
								seq: e.seq,
								event: e.event,
								data: e.data,
								createdAt: e.createdAt,
								frame: encoder.encode(encodeEvent(e.id, e.event, e.data)),
							}),
						)
						for (const listener of listeners) listener(events[from].stream, run)
						from = i
					}
					handed = events[events.length - 1].seq
					if (events.length < PUMP_BATCH) break
				}
			} while (pumpAgain && !closed)
		} catch {
			// The database is away: the catch-up timer tries again.
		} finally {
			pumping = false
		}
	}

	const subscription = await sql.listen(
		CHANNEL,
		(payload) => {
			const seq = Number((JSON.parse(payload) as { seq?: number }).seq)
			if (!(seq <= handed)) pump()
		},
		() => pump(),
	)
	const catchUp = setInterval(() => pump(), options.catchUpMs ?? CATCH_UP_MS)
	catchUp.unref()

	const measure = async () => {
		try {
			bytes = Number((await sql`SELECT pg_database_size(current_database()) AS n`)[0].n)
		} catch {}
	}
	await measure()
	const sizer = setInterval(measure, SIZE_EVERY_MS)
	sizer.unref()
	const expiry = setInterval(
		() =>
			sql`DELETE FROM cortex_idempotency_keys WHERE created_at < ${Date.now() - IDEMPOTENCY_TTL_MS}`.catch(
				() => {},
			),
		3_600_000,
	)
	expiry.unref()

	async function readAllRows(afterSeq: number, limit: number): Promise<FeedEvent[]> {
		const rows = (await sql`SELECT e.id, e.seq, e.type, e.data, e.created_at, s.name
			FROM cortex_events e JOIN cortex_streams s ON s.key = e.stream
			WHERE e.seq > ${afterSeq} ORDER BY e.seq LIMIT ${limit}`) as Required<EventRow>[]
		return rows.map((r) => ({ ...toEvent(r), stream: r.name }))
	}

	async function readRows(stream: string, afterId: number, limit: number) {
		return (await sql`SELECT id, seq, type, data, created_at FROM cortex_events
			WHERE stream = (SELECT key FROM cortex_streams WHERE name = ${stream}) AND id > ${afterId}
			ORDER BY id LIMIT ${limit}`) as EventRow[]
	}

	return {
		append(stream, events, idempotency) {
			if (closed) return Promise.reject(new StoreUnavailableError('the store is closed'))
			if (options.maxBytes !== undefined && bytes >= options.maxBytes)
				return Promise.reject(
					new InsufficientStorageError(
						'the store is full: nothing was appended; try again when space is freed',
					),
				)
			return new Promise<AppendResult>((resolve, reject) => {
				pending.push({ stream, events, idempotency, resolve, reject })
				schedule()
			})
		},

		async read(stream, afterId, limit) {
			return (await readRows(stream, afterId, limit)).map(toEvent)
		},

		async readFrames(stream, afterId, limit, maxBytes) {
			const frames: Uint8Array[] = []
			let bytes = 0
			let lastId = afterId
			// In pages, so a stream of large events is not read far past `maxBytes`.
			while (frames.length < limit) {
				const page = Math.min(FRAMES_PAGE, limit - frames.length)
				const rows = await readRows(stream, lastId, page)
				for (const r of rows) {
					const id = Number(r.id)
					const frame = encoder.encode(encodeEvent(id, r.type, r.data))
					if (frames.length > 0 && bytes + frame.byteLength > maxBytes)
						return { lastId, count: frames.length, bytes: Buffer.concat(frames) }
					frames.push(frame)
					bytes += frame.byteLength
					lastId = id
				}
				if (rows.length < page) break
			}
			if (frames.length === 0) return undefined
			return { lastId, count: frames.length, bytes: Buffer.concat(frames) }
		},

		readAll: readAllRows,

		cursor: lastSeq,

		async state(stream) {
			// A row without events is one a refused first append created: no stream yet.
			const [row] =
				(await sql`SELECT * FROM cortex_streams WHERE name = ${stream} AND last_id > 0`) as StreamRow[]
			return row && toState(row)
		},

		async list(kind, { limit, page, status, prefix = '', where }) {
			let from = parsePage(page)
			const start = `${kind}/${prefix}`
			const found: StreamRow[] = []
			let cursor: number | undefined
			// In batches, until the page is full of streams `where` takes. The cursor is read by the
			// first statement: every row read after it is at least as new.
			for (;;) {
				const rows = (await sql`SELECT m.value AS cursor, s.* FROM cortex_meta m
					LEFT JOIN LATERAL (SELECT * FROM cortex_streams s
						WHERE starts_with(s.name, ${start}) AND s.last_id > 0
						AND (${status ?? null}::text IS NULL OR s.status = ${status ?? null}::text)
						AND (${from?.[0] ?? null}::bigint IS NULL
							OR (s.updated_at, s.key) < (${from?.[0] ?? null}::bigint, ${from?.[1] ?? null}::bigint))
						ORDER BY s.updated_at DESC, s.key DESC LIMIT ${PAGE_BATCH}) s ON true
					WHERE m.key = 'last_seq'`) as Array<StreamRow & { cursor: string }>
				cursor ??= Number(rows[0]?.cursor ?? 0)
				const batch = rows.filter((r) => r.name !== null)
				for (const r of batch) if (found.length <= limit && where(r.name)) found.push(r)
				if (found.length > limit || batch.length < PAGE_BATCH) break
				const last = batch[batch.length - 1]
				from = [Number(last.updated_at), Number(last.key)]
			}
			const more = found.length > limit
			if (more) found.pop()
			return {
				states: found.map(toState),
				resume: found.map((r) => `${r.updated_at}.${r.key}`),
				more,
				cursor,
			}
		},

		subscribe(listener) {
			listeners.add(listener)
			return () => listeners.delete(listener)
		},

		async prunable(cutoff) {
			const rows = await sql`SELECT s.name, CASE
					WHEN s.name LIKE 'workflows/%' THEN
						CASE WHEN s.status <> 'running' AND s.updated_at < ${cutoff} THEN s.last_id END
					ELSE (SELECT max(e.id) FROM cortex_events e WHERE e.stream = s.key AND e.id >= s.first_id
						AND e.created_at < ${cutoff} AND e.type IN ('complete', 'failed', 'cancelled'))
				END AS up_to
				FROM cortex_streams s WHERE s.first_id <= s.last_id`
			return (rows as Array<{ name: string; up_to: string | null }>)
				.filter((r) => r.up_to !== null)
				.map((r) => ({ stream: r.name, upToId: Number(r.up_to) }))
		},

		async prune(stream, upToId, snapshot) {
			let dropped = 0
			for (;;) {
				// Small transactions under the stream's row lock: another instance pruning the same
				// stream waits, then sees how far this one got.
				const done = await sql.begin(async (tx) => {
					const [row] =
						await tx`SELECT key, first_id FROM cortex_streams WHERE name = ${stream} FOR UPDATE`
					if (!row || Number(row.first_id) > upToId) return undefined
					const from = Number(row.first_id)
					const to = Math.min(upToId, from + PRUNE_BATCH - 1)
					await tx`DELETE FROM cortex_events WHERE stream = ${row.key} AND id >= ${from} AND id <= ${to}`
					await tx`UPDATE cortex_streams SET first_id = ${to + 1}, snapshot = ${snapshot} WHERE key = ${row.key}`
					return to - from + 1
				})
				if (done === undefined) return dropped
				dropped += done
			}
		},

		async keptAfter(afterSeq) {
			const [row] =
				await sql`SELECT seq, created_at FROM cortex_events WHERE seq > ${afterSeq} ORDER BY seq LIMIT 1`
			return row ? { seq: Number(row.seq), createdAt: Number(row.created_at) } : undefined
		},

		async backup() {
			throw new NotSupportedError(
				'this server stores its events in Postgres: back it up with pg_dump or the database host',
			)
		},

		async secret(name) {
			const value = crypto.getRandomValues(new Uint8Array(32))
			await sql`INSERT INTO cortex_secrets (name, value) VALUES (${name}, ${value}) ON CONFLICT (name) DO NOTHING`
			const [row] = await sql`SELECT value FROM cortex_secrets WHERE name = ${name}`
			return new Uint8Array(row.value)
		},

		health() {
			if (closed) return Promise.resolve(unavailable('the store is closed'))
			if (options.maxBytes !== undefined && bytes >= options.maxBytes)
				return Promise.resolve(
					storageFull(`the database has reached --max-db-bytes (${bytes} bytes)`),
				)
			return health.current()
		},

		release() {
			// Nothing is held per stream in this process: the database keeps it all.
		},

		stats() {
			return { bytes, commits, streams: 0 }
		},

		async close() {
			if (closed) return
			closed = true
			clearInterval(catchUp)
			clearInterval(sizer)
			clearInterval(expiry)
			while (flushing) await flushing
			await subscription.unlisten().catch(() => {})
			await sql.close()
		},
	}
}
