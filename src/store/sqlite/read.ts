import { eachFrame, nextFrame, skipFrames } from '../../../client/src/sse.ts'
import { BadRequestError } from '../../errors.ts'
import type { StoredEvent, StreamKind } from '../../events.ts'
import { noCounts, pastPrefix, RUN_STATUSES, takesAll } from '../lists.ts'
import type { FeedEvent, ListQuery, RunStatus, StatusCounts, Store, StreamState } from '../store.ts'
import type { ChunkRow } from './chunk-index.ts'
import type { Sqlite } from './database.ts'
import { prunedState, publicState, type Row, type StreamRow } from './rows.ts'

/** Ids of a `readIds` closer than this are read as one range. */
const NEAR_IDS = 32

/** Rows per query of the streams retention emptied, when a list page merges them in. */
const PAGE_BATCH = 256

/** The first seq of a chunk: its ids and seqs both run without gaps. */
const firstSeq = (c: ChunkRow) => c.last_seq - (c.last_id - c.first_id)

/** The ids a read of `limit` events after `afterId` covers: from + 1 to `to`, all kept. */
const range = (row: Row, afterId: number, limit: number) => {
	const from = Math.max(afterId, row.firstId - 1)
	return [from, Math.min(row.lastId, from + limit)] as const
}

/** Which streams retention emptied a list wants: names that start with `start` and match `patterns`. */
interface EmptiedFilter {
	start: string
	patterns: readonly string[]
}

/** Counts of the emptied streams kept at most, each for one prefix and set of patterns. */
const COUNTS_KEPT = 256

/**
 * The SQL terms that select the emptied streams of `filter` through the `streams_emptied` index,
 * and their parameters, numbered from `first`. A stream pattern is a GLOB as it is: both take `*` for
 * any characters and match whole names, and a pattern holds none of GLOB's other signs (`?`,
 * `[`), which its syntax leaves out.
 */
function emptied({ start, patterns }: EmptiedFilter, first: number) {
	const globs = takesAll(start.slice(0, start.indexOf('/')) as StreamKind, patterns) ? [] : patterns
	const terms = globs.map((_, i) => `name GLOB ?${first + 2 + i}`)
	return {
		where: `first_id > last_id AND last_id > 0 AND name >= ?${first} AND name < ?${first + 1}${
			terms.length > 0 ? ` AND (${terms.join(' OR ')})` : ''
		}`,
		params: [start, pastPrefix(start), ...globs],
	}
}

/** Where a list page starts, as `next` says: the last seq of the page before's last stream. */
function parsePage(page: string | undefined): number {
	if (page === undefined) return Number.POSITIVE_INFINITY
	if (!/^[0-9]{1,15}$/.test(page))
		throw new BadRequestError('page must be the "next" of the page before', 'page')
	return Number(page)
}

/**
 * The reads of the SQLite engine, all of what readers see: events made durable (`visible`),
 * found through the chunk index, and sent as the stored frames where they can be.
 */
export function createReads(
	sqlite: Sqlite,
): Pick<
	Store,
	'read' | 'readIds' | 'readFrames' | 'readAll' | 'keptAfter' | 'list' | 'counts' | 'executions'
> {
	const { db, index, rows, executions } = sqlite
	const q = {
		chunksAll: db.query<ChunkRow & { name: string }, [number, number]>(
			`SELECT c.first_id, c.last_id, c.last_seq, c.created_at, c.frames, s.name
			 FROM chunks c JOIN streams s ON s.key = c.stream
			 WHERE c.last_seq > ? AND c.last_seq <= ? ORDER BY c.last_seq`,
		),
		// A chunk's events are consecutive: the first kept after a seq is in the first chunk that
		// ends past it, at that seq + 1 if the chunk holds it, else at the chunk's first event.
		keptAfter: db.query<{ seq: number; created_at: number }, [number]>(
			`SELECT max(last_seq - (last_id - first_id), ?1 + 1) AS seq, created_at FROM chunks
			 WHERE last_seq > ?1 ORDER BY last_seq LIMIT 1`,
		),
	}

	/**
	 * Streams retention emptied, which are not kept in memory, newest first: the lists' other
	 * source. Read in batches from the table, the filters applied by the index (see `emptied`).
	 */
	function* prunedBefore(
		filter: EmptiedFilter,
		status: RunStatus | undefined,
		before: number,
	): Generator<StreamRow> {
		const { where, params } = emptied(filter, 4)
		// Of one status, a range of the index by status (an OR of "no status" would scan it all).
		const page = db.query<StreamRow, Array<string | number>>(
			status === undefined
				? `SELECT * FROM streams INDEXED BY streams_emptied
				   WHERE ${where} AND ?1 = '' AND last_seq < ?2 ORDER BY last_seq DESC LIMIT ?3`
				: `SELECT * FROM streams INDEXED BY streams_emptied_by_status
				   WHERE ${where} AND status = ?1 AND last_seq < ?2 ORDER BY last_seq DESC LIMIT ?3`,
		)
		for (;;) {
			const batch = page.all(status ?? '', before, PAGE_BATCH, ...params)
			yield* batch
			if (batch.length < PAGE_BATCH) return
			before = batch[batch.length - 1].last_seq
		}
	}

	// What was counted of the emptied streams, by filter, while the table's stay as they were.
	const emptiedCounts = new Map<string, { generation: number; counts: StatusCounts }>()

	/** How many of the streams retention emptied that `filter` takes are in each status. */
	function countEmptied(filter: EmptiedFilter): StatusCounts {
		const key = `${filter.start}\n${filter.patterns.join('\n')}`
		const generation = rows.emptiedGeneration()
		const kept = emptiedCounts.get(key)
		if (kept && kept.generation === generation) return kept.counts
		const counts = noCounts()
		const { where, params } = emptied(filter, 1)
		for (const { status, n } of db
			.query<{ status: RunStatus; n: number }, Array<string | number>>(
				`SELECT status, count(*) AS n FROM streams INDEXED BY streams_emptied_by_status
				 WHERE ${where} GROUP BY status`,
			)
			.all(...params))
			counts[status] = n
		emptiedCounts.delete(key)
		emptiedCounts.set(key, { generation, counts })
		if (emptiedCounts.size > COUNTS_KEPT)
			emptiedCounts.delete(emptiedCounts.keys().next().value as string)
		return counts
	}

	async function read(stream: string, afterId: number, limit: number) {
		const out: StoredEvent[] = []
		const row = rows.visible.get(stream)
		if (!row) return out
		const [from, to] = range(row, afterId, limit)
		if (from >= to) return out
		for (const c of index.after(row.key, from)) {
			const seq = firstSeq(c) - c.first_id
			eachFrame(
				c.frames,
				c.first_id,
				Math.max(from + 1, c.first_id),
				Math.min(to, c.last_id),
				(id, event, data) => out.push({ id, seq: seq + id, event, data, createdAt: c.created_at }),
			)
			if (c.last_id >= to) break
		}
		return out
	}

	return {
		read,

		async readIds(stream, ids) {
			// Ids close together are read as one range: they are usually in one chunk.
			const out: StoredEvent[] = []
			for (let i = 0; i < ids.length; ) {
				let j = i
				while (j + 1 < ids.length && ids[j + 1] - ids[i] < NEAR_IDS) j++
				const wanted = new Set(ids.slice(i, j + 1))
				for (const e of await read(stream, ids[i] - 1, ids[j] - ids[i] + 1))
					if (wanted.has(e.id)) out.push(e)
				i = j + 1
			}
			return out
		},

		async readFrames(stream, afterId, limit, maxBytes) {
			const row = rows.visible.get(stream)
			if (!row) return undefined
			const [from, to] = range(row, afterId, limit)
			if (from >= to) return undefined
			const parts: Uint8Array[] = []
			let bytes = 0
			let lastId = from
			for (const c of index.after(row.key, from)) {
				const stop = Math.min(to, c.last_id)
				// The common case, a whole chunk that fits, takes the row's bytes as they come.
				if (
					c.first_id === lastId + 1 &&
					stop === c.last_id &&
					bytes + c.frames.byteLength <= maxBytes
				) {
					parts.push(c.frames)
					bytes += c.frames.byteLength
					lastId = stop
					if (lastId === to) break
					continue
				}
				// A row too large for what is left of the block waits for the next block rather than be
				// cut: cut rows are read twice and skipped through frame by frame.
				if (bytes > 0 && c.first_id === lastId + 1 && bytes + c.frames.byteLength > maxBytes) break
				const frames = c.frames
				const start = skipFrames(frames, 0, lastId + 1 - c.first_id)
				let end = start
				if (stop === c.last_id && bytes + frames.byteLength - start <= maxBytes) {
					end = frames.byteLength
					lastId = stop
				} else
					for (; lastId < stop; lastId++) {
						const next = nextFrame(frames, end)
						// The first event goes whatever its size, so a replay always moves on.
						if (bytes + next - start > maxBytes && bytes + end - start > 0) break
						end = next
					}
				if (end > start) parts.push(frames.subarray(start, end))
				bytes += end - start
				if (lastId < stop || lastId === to) break
			}
			if (lastId === from) return undefined
			// A part of a row is copied rather than viewed: a view would keep the whole row alive for
			// as long as a subscriber that stopped reading holds the block.
			const whole = parts.length === 1 && parts[0].byteLength === parts[0].buffer.byteLength
			return {
				lastId,
				count: lastId - from,
				bytes: whole ? parts[0] : Buffer.concat(parts),
			}
		},

		async readAll(afterSeq, limit, maxBytes) {
			const out: FeedEvent[] = []
			const visible = sqlite.seq.visible
			if (afterSeq >= visible) return out
			let bytes = 0
			for (const c of q.chunksAll.iterate(afterSeq, visible)) {
				const seq = firstSeq(c) - c.first_id
				const fromId = c.first_id + Math.max(0, afterSeq + 1 - firstSeq(c))
				const toId = Math.min(c.last_id, fromId + (limit - out.length) - 1)
				eachFrame(c.frames, c.first_id, fromId, toId, (id, event, data) => {
					if (bytes >= maxBytes) return
					out.push({ id, seq: seq + id, event, data, createdAt: c.created_at, stream: c.name })
					bytes += data.length
				})
				if (out.length >= limit || bytes >= maxBytes) break
			}
			return out
		},

		async executions(stream, before, upToId, limit) {
			// A stream retention emptied has no execution kept.
			const row = rows.visible.get(stream)
			if (!row) return []
			return executions.before(row.key, before, row.firstId, Math.min(upToId, row.lastId), limit)
		},

		async counts(kind, { prefix = '', where, patterns }) {
			const start = `${kind}/${prefix}`
			const counts = noCounts()
			// The streams in memory with events kept: a walk of every one, the token's patterns and
			// all (see docs/design.md), shortened where the filter takes every name anyway.
			const all = takesAll(kind, patterns)
			const within = (name: string) =>
				(prefix === '' || name.startsWith(start)) && (all || where(name))
			for (const { value: row } of rows.recency[kind].values())
				if (row.firstId <= row.lastId && within(row.name)) counts[row.status]++
			// Those retention emptied, by the table's index (counted again only once they change);
			// less those an append brought back since, which memory counted, while their row in the
			// table still says emptied.
			const gone = countEmptied({ start, patterns })
			for (const status of RUN_STATUSES) counts[status] += gone[status]
			for (const [name, status] of rows.revived)
				if (rows.visible.has(name) && name.startsWith(start) && within(name)) counts[status]--
			return counts
		},

		async keptAfter(afterSeq) {
			const found = q.keptAfter.get(afterSeq)
			return found && found.seq <= sqlite.seq.visible
				? { seq: found.seq, createdAt: found.created_at }
				: undefined
		},

		async list(kind, { limit, page, status, prefix = '', where, patterns = ['*'] }: ListQuery) {
			const before = parsePage(page)
			const start = `${kind}/${prefix}`
			const wanted = (name: string, state: RunStatus) =>
				name.startsWith(start) && (status === undefined || state === status) && where(name)
			// Two sources, each newest first, merged: the streams in memory, and those retention
			// emptied, in the table. All of it in this turn, so the page matches the cursor.
			const live = (function* () {
				for (const { seq, value: row } of rows.recency[kind].before(before))
					if (wanted(row.name, row.status)) yield { seq, row }
			})()
			const emptied = (function* () {
				for (const r of prunedBefore({ start, patterns }, status, before))
					if (!rows.visible.has(r.name) && wanted(r.name, r.status)) yield r
			})()
			const found: Array<{ state: StreamState; seq: number }> = []
			let a = live.next()
			let b = emptied.next()
			while (found.length <= limit && !(a.done && b.done)) {
				if (!a.done && (b.done || a.value.seq > b.value.last_seq)) {
					found.push({ state: publicState(a.value.row), seq: a.value.seq })
					a = live.next()
				} else if (!b.done) {
					found.push({ state: prunedState(b.value) as StreamState, seq: b.value.last_seq })
					b = emptied.next()
				}
			}
			const more = found.length > limit
			if (more) found.pop()
			return {
				states: found.map((f) => f.state),
				resume: found.map((f) => String(f.seq)),
				more,
				cursor: sqlite.seq.visible,
			}
		},
	}
}
