import type { SQL } from 'bun'
import { encodeEvent } from '../../../client/src/sse.ts'
import { BadRequestError } from '../../errors.ts'
import type { StoredEvent } from '../../events.ts'
import { noCounts, pastPrefix, takesAll } from '../lists.ts'
import type { EndedExecution, FeedEvent, RunStatus, Store, StreamState } from '../store.ts'

/** Rows per query of a list page, which keeps only the streams the token may read. */
const PAGE_BATCH = 256
/** Rows of the first query of a read bounded in bytes, and of any query of one. */
const FIRST_PAGE = 32
const MAX_PAGE = 1024

/**
 * Rows to ask for next in a read that holds `bytes` in `count` rows, of `limit` rows and
 * `maxBytes`: as many as the rows so far say are still wanted. So a read fetches little past
 * what it returns, whatever the size of the events, and a reader that takes 32 KiB is not sent
 * megabytes.
 */
function nextPage(limit: number, maxBytes: number, count: number, bytes: number) {
	if (!Number.isFinite(maxBytes)) return limit - count
	if (count === 0) return Math.min(FIRST_PAGE, limit)
	const wanted = Math.ceil(((maxBytes - bytes) * count) / bytes)
	return Math.min(MAX_PAGE, limit - count, Math.max(FIRST_PAGE, wanted))
}
const PRUNE_BATCH = 1000

const encoder = new TextEncoder()

/** A row of cortex_streams (bigints come as text). */
export interface StreamRow {
	key: string
	name: string
	last_id: string
	status: RunStatus
	execution_start: string
	first_id: string
	created_at: string
	updated_at: string
	snapshot: string | null
	cancel_id: string
	cancel_data: string
	started_at: string
	message_id: string
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
 * Stream patterns as LIKE patterns (`*` is `%`; `_`, the one other sign of LIKE a pattern may
 * hold, escaped), for a query that applies a credential's patterns itself; none for every stream.
 */
function likes(patterns: readonly string[] | undefined): string[] {
	if (patterns === undefined || patterns.includes('*')) return []
	return patterns.map((p) => p.replaceAll('_', '\\_').replaceAll('*', '%'))
}

/**
 * The names of `patterns` that start with `start`, as ranges of names in byte order (from the
 * longer of the pattern's literal head and `start`) and the LIKE pattern each name must match.
 * A pattern whose head and `start` part ways takes nothing.
 */
function nameRanges(start: string, patterns: readonly string[]) {
	const ranges: Array<{ from: string; to: string; like: string }> = []
	for (const pattern of patterns) {
		const head = pattern.slice(0, pattern.indexOf('*') < 0 ? undefined : pattern.indexOf('*'))
		const from = head.startsWith(start) ? head : start.startsWith(head) ? start : undefined
		if (from === undefined) continue
		const like = likes([pattern])[0] ?? '%'
		ranges.push({ from, to: pastPrefix(from), like })
	}
	return ranges
}

/** Where a list page starts, as `next` says: the last stream's update time and key. */
function parsePage(page: string | undefined): [number, number] | undefined {
	if (page === undefined) return undefined
	const match = /^([0-9]{1,15})\.([0-9]{1,15})$/.exec(page)
	if (!match) throw new BadRequestError('page must be the "next" of the page before', 'page')
	return [Number(match[1]), Number(match[2])]
}

type Reads = Pick<
	Store,
	| 'read'
	| 'readIds'
	| 'readFrames'
	| 'readAll'
	| 'cursor'
	| 'state'
	| 'list'
	| 'counts'
	| 'executions'
	| 'keptAfter'
	| 'prunable'
	| 'prune'
>

/** The reads of the Postgres engine, and retention: every one a query of the shared database. */
export function createReads(sql: SQL): Reads {
	async function readRows(stream: string, afterId: number, limit: number) {
		return (await sql`SELECT id, seq, type, data, created_at FROM cortex_events
			WHERE stream = (SELECT key FROM cortex_streams WHERE name = ${stream}) AND id > ${afterId}
			ORDER BY id LIMIT ${limit}`) as EventRow[]
	}

	return {
		async read(stream, afterId, limit) {
			return (await readRows(stream, afterId, limit)).map(toEvent)
		},

		async readIds(stream, ids) {
			if (ids.length === 0) return []
			// The stream's key first: with it unknown, the planner takes the ids for a filter of a
			// scan of the whole stream (a million events for a busy agent), not for lookups.
			const [found] = await sql`SELECT key FROM cortex_streams WHERE name = ${stream}`
			if (!found) return []
			const rows = (await sql`SELECT id, seq, type, data, created_at FROM cortex_events
				WHERE stream = ${found.key} AND id = ANY(${sql.array([...ids], 'INT8')}::bigint[])
				ORDER BY id`) as EventRow[]
			return rows.map(toEvent)
		},

		async readFrames(stream, afterId, limit, maxBytes) {
			const frames: Uint8Array[] = []
			let bytes = 0
			let lastId = afterId
			while (frames.length < limit) {
				const page = nextPage(limit, maxBytes, frames.length, bytes)
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

		async readAll(afterSeq, limit, maxBytes): Promise<FeedEvent[]> {
			const out: FeedEvent[] = []
			let bytes = 0
			let after = afterSeq
			while (out.length < limit && bytes < maxBytes) {
				const page = nextPage(limit, maxBytes, out.length, bytes)
				const rows = (await sql`SELECT e.id, e.seq, e.type, e.data, e.created_at, s.name
					FROM cortex_events e JOIN cortex_streams s ON s.key = e.stream
					WHERE e.seq > ${after} ORDER BY e.seq LIMIT ${page}`) as Required<EventRow>[]
				for (const r of rows) {
					if (bytes >= maxBytes) break
					const e = { ...toEvent(r), stream: r.name }
					out.push(e)
					bytes += e.data.length
					after = e.seq
				}
				if (rows.length < page) break
			}
			return out
		},

		async cursor() {
			return Number((await sql`SELECT value FROM cortex_meta WHERE key = 'last_seq'`)[0].value)
		},

		async state(stream) {
			// A row without events is one a refused first append created: no stream yet.
			const [row] =
				(await sql`SELECT * FROM cortex_streams WHERE name = ${stream} AND last_id > 0`) as StreamRow[]
			return row && toState(row)
		},

		async list(kind, { limit, page, status, prefix = '', where, patterns }) {
			let from = parsePage(page)
			const start = `${kind}/${prefix}`
			const granted = sql.array(likes(patterns), 'TEXT')
			const found: StreamRow[] = []
			let cursor: number | undefined
			// In batches, until the page is full of streams `where` takes. The cursor is read by the
			// first statement: every row read after it is at least as new.
			for (;;) {
				const rows = (await sql`SELECT m.value AS cursor, s.* FROM cortex_meta m
					LEFT JOIN LATERAL (SELECT * FROM cortex_streams s
						WHERE starts_with(s.name, ${start}) AND s.last_id > 0
						AND (${status ?? null}::text IS NULL OR s.status = ${status ?? null}::text)
						AND (cardinality(${granted}::text[]) = 0 OR s.name LIKE ANY(${granted}::text[]))
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

		async counts(kind, { prefix = '', patterns }) {
			const counts = noCounts()
			const start = `${kind}/${prefix}`
			let rows: Array<{ status: RunStatus; n: string }>
			if (prefix === '' && takesAll(kind, patterns))
				rows = await sql`SELECT status, n FROM cortex_status_counts WHERE kind = ${kind}`
			else {
				// Each pattern a range of the index of names (what its name must start with, within
				// the prefix) and the pattern itself for the rest; a stream two patterns take counts
				// once. Written out, so the planner sees each range (at most 64).
				const ranges = nameRanges(start, takesAll(kind, patterns) ? ['*'] : patterns)
				if (ranges.length === 0) return counts
				const terms = ranges.map(
					(_, i) =>
						`(name COLLATE "C" >= $${3 * i + 1} AND name COLLATE "C" < $${3 * i + 2} AND name LIKE $${3 * i + 3})`,
				)
				rows = await sql.unsafe(
					`SELECT status, count(*) AS n FROM cortex_streams
					 WHERE last_id > 0 AND (${terms.join(' OR ')}) GROUP BY status`,
					ranges.flatMap((r) => [r.from, r.to, r.like]),
				)
			}
			for (const r of rows) counts[r.status] = Number(r.n)
			return counts
		},

		async executions(stream, before, upToId, limit) {
			// The stream's key and first id as values of their own, so the page is a walk back
			// along the index from `before` (as a join, the planner sorted every execution).
			const rows = (await sql`SELECT start_id, end_id, status, started_at, ended_at, message_id
				FROM cortex_executions
				WHERE stream = (SELECT key FROM cortex_streams WHERE name = ${stream})
					AND start_id >= (SELECT first_id FROM cortex_streams WHERE name = ${stream})
					AND start_id < ${Math.min(before, Number.MAX_SAFE_INTEGER)} AND end_id <= ${upToId}
				ORDER BY start_id DESC LIMIT ${limit}`) as Array<Record<string, string>>
			return rows.map((r) => ({
				startId: Number(r.start_id),
				endId: Number(r.end_id),
				status: r.status as EndedExecution['status'],
				startedAt: Number(r.started_at),
				endedAt: Number(r.ended_at),
				messageId: Number(r.message_id),
			}))
		},

		async keptAfter(afterSeq) {
			const [row] =
				await sql`SELECT seq, created_at FROM cortex_events WHERE seq > ${afterSeq} ORDER BY seq LIMIT 1`
			return row ? { seq: Number(row.seq), createdAt: Number(row.created_at) } : undefined
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
					await tx`DELETE FROM cortex_executions WHERE stream = ${row.key} AND end_id <= ${to}`
					await tx`UPDATE cortex_streams SET first_id = ${to + 1}, snapshot = ${snapshot} WHERE key = ${row.key}`
					return to - from + 1
				})
				if (done === undefined) return dropped
				dropped += done
			}
		},
	}
}
