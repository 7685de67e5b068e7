import { afterAll, describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { encodeEvent } from '../../client/src/sse.ts'
import { BadRequestError, IdempotencyConflictError, StreamEndedError } from '../../src/errors.ts'
import type { NewEvent, StreamKind } from '../../src/events.ts'
import { openPostgresStore } from '../../src/store/postgres/index.ts'
import { openSqliteStore } from '../../src/store/sqlite/index.ts'
import type { EncodedEvent, ListQuery, Store } from '../../src/store/store.ts'
import { clusterForFile, tempDir } from '../helpers.ts'

/**
 * The store contract: what the rest of the server relies on, run against both engines. Each
 * test opens a fresh database (a new file, or a new Postgres database on one throwaway cluster).
 */
interface Engine {
	name: string
	/** A place for a new store; `open` on it again reopens the same data. */
	fresh(): Promise<string>
	open(location: string): Promise<Store>
}

const pg = clusterForFile()

const dirs: Array<{ [Symbol.dispose](): void }> = []
afterAll(() => {
	for (const d of dirs) d[Symbol.dispose]()
})

const ENGINES: Engine[] = [
	{
		name: 'sqlite',
		fresh: async () => {
			const dir = tempDir()
			dirs.push(dir)
			return join(dir.path, 'cortex.db')
		},
		open: async (path) => openSqliteStore(path),
	},
	{
		// The index of chunks is written every few chunks instead of every second, so reads run
		// through both the index and the chunks it does not hold yet.
		name: 'sqlite, chunk index written every 3 chunks',
		fresh: async () => {
			const dir = tempDir()
			dirs.push(dir)
			return join(dir.path, 'cortex.db')
		},
		open: async (path) => openSqliteStore(path, { index: { batch: 3 } }),
	},
	{
		name: 'postgres',
		fresh: () => pg.database(),
		open: (url) => openPostgresStore(url, { catchUpMs: 200 }),
	},
]

const decoder = new TextDecoder()
const ev = (event: string, data: unknown = {}): NewEvent => ({ event, data: JSON.stringify(data) })
const progress = (n: number) => Array.from({ length: n }, (_, i) => ev('progress', { i }))
const MIB = 1 << 20

/** Every stream of a kind, page after page of two, newest first. */
async function names(store: Store, kind: StreamKind, query: Partial<ListQuery> = {}) {
	const all: string[] = []
	let page: string | undefined
	for (;;) {
		const found = await store.list(kind, { limit: 2, where: () => true, ...query, page })
		all.push(...found.states.map((s) => s.name))
		if (!found.more) return all
		page = found.resume[found.resume.length - 1]
	}
}

async function collect(store: Store, until: (seen: Map<string, EncodedEvent[]>) => boolean) {
	const seen = new Map<string, EncodedEvent[]>()
	let done: () => void = () => {}
	const finished = new Promise<void>((resolve) => (done = resolve))
	const stop = store.subscribe((stream, events) => {
		seen.set(stream, [...(seen.get(stream) ?? []), ...events])
		if (until(seen)) done()
	})
	return { seen, finished, stop }
}

for (const engine of ENGINES) {
	describe(`store contract: ${engine.name}`, () => {
		const withStore = async (body: (store: Store, location: string) => Promise<void>) => {
			const location = await engine.fresh()
			const store = await engine.open(location)
			try {
				await body(store, location)
			} finally {
				await store.close()
			}
		}

		it('numbers a stream from 1 without gaps and reads it back in order, frames included', () =>
			withStore(async (store) => {
				expect((await store.append('agents/a', progress(3))).ids).toEqual([1, 2, 3])
				expect((await store.append('agents/a', [ev('complete', { ok: 1 })])).ids).toEqual([4])
				expect((await store.append('agents/b', progress(1))).ids).toEqual([1])
				const read = await store.read('agents/a', 1, 10)
				expect(read.map((e) => [e.id, e.event])).toEqual([
					[2, 'progress'],
					[3, 'progress'],
					[4, 'complete'],
				])
				const block = await store.readFrames('agents/a', 0, 2, MIB)
				expect(block && decoder.decode(block.bytes)).toBe(
					encodeEvent(1, 'progress', '{"i":0}') + encodeEvent(2, 'progress', '{"i":1}'),
				)
				expect(block).toMatchObject({ lastId: 2, count: 2 })
				expect(await store.read('agents/missing', 0, 10)).toEqual([])
				expect(await store.readFrames('agents/missing', 0, 10, MIB)).toBeUndefined()
				expect(await store.readFrames('agents/a', 4, 10, MIB)).toBeUndefined()
			}))

		it('keeps data byte for byte: key order, unicode, escapes', () =>
			withStore(async (store) => {
				const data = '{"z":1,"a":"naïve 日本 🚀","q":"\\"\\n\\u0000","n":[3,1,2]}'
				await store.append('agents/a', [{ event: 'progress', data }])
				expect((await store.read('agents/a', 0, 1))[0].data).toBe(data)
				const block = await store.readFrames('agents/a', 0, 1, MIB)
				expect(block && decoder.decode(block.bytes)).toBe(encodeEvent(1, 'progress', data))
			}))

		it('reads from every position inside and across appends, to the limit and the byte budget', () =>
			withStore(async (store) => {
				// Batches of several sizes, one larger than a stored chunk of the SQLite engine (64 KiB).
				const batches = [
					progress(1),
					[ev('progress', { m: 'naïve 日本 🚀' }), ...progress(6), ev('complete')],
					Array.from({ length: 5 }, (_, i) => ev('progress', { big: 'x'.repeat(30_000), i })),
					progress(4),
				]
				const sent: NewEvent[] = []
				for (const batch of batches) {
					await store.append('agents/a', batch)
					sent.push(...batch)
					await store.append('agents/other', progress(2))
				}
				const frames = sent.map((e, i) => encodeEvent(i + 1, e.event, e.data))
				const last = sent.length
				for (let after = 0; after <= last; after++)
					for (const limit of [1, 2, 5, 100]) {
						const to = Math.min(last, after + limit)
						const events = await store.read('agents/a', after, limit)
						expect(events.map((e) => [e.id, e.event, e.data])).toEqual(
							sent.slice(after, to).map((e, i) => [after + i + 1, e.event, e.data]),
						)
						const block = await store.readFrames('agents/a', after, limit, MIB)
						if (after === last) expect(block).toBeUndefined()
						else {
							expect(block && decoder.decode(block.bytes)).toBe(frames.slice(after, to).join(''))
							expect(block).toMatchObject({ lastId: to, count: to - after })
						}
					}
				// The budget stops a read between events, but the first event goes whatever its size.
				const size = (i: number) => Buffer.byteLength(frames[i])
				const one = await store.readFrames('agents/a', 9, 100, 10)
				expect(one && decoder.decode(one.bytes)).toBe(frames[9])
				const budget = size(1) + size(2) + size(3) - 1
				const two = await store.readFrames('agents/a', 1, 100, budget)
				expect(two && decoder.decode(two.bytes)).toBe(frames[1] + frames[2])
				expect(two).toMatchObject({ lastId: 3, count: 2 })
				const exact = await store.readFrames('agents/a', 1, 100, budget + 1)
				expect(exact?.lastId).toBe(4)
				// Each event keeps its own place in the feed, wherever a read of it starts.
				const all = await store.readAll(0, 1000, Infinity)
				for (let after = 0; after <= all.length; after += 3)
					for (const limit of [1, 4, 1000])
						expect(await store.readAll(after, limit, Infinity)).toEqual(
							all.slice(after, after + limit),
						)
				// Bounded in bytes too: events go in while their data so far is under the bound.
				for (const after of [0, 5, 17])
					for (const maxBytes of [1, 30, 100, 1000]) {
						const want = []
						let bytes = 0
						for (const e of all.slice(after)) {
							if (bytes >= maxBytes) break
							want.push(e)
							bytes += e.data.length
						}
						expect(await store.readAll(after, 1000, maxBytes)).toEqual(want)
					}
				expect(all.filter((e) => e.stream === 'agents/a').map((e) => e.data)).toEqual(
					sent.map((e) => e.data),
				)
				expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1))
			}))

		it('reads many events within a byte budget in as many queries as it takes, nothing skipped', () =>
			withStore(async (store) => {
				// Sizes that change along the log, so a read cannot guess the next events' size.
				const sizes = [10, 200, 10, 3000, 50]
				for (let i = 0; i < 50; i++)
					await store.append(
						i % 2 ? 'agents/a' : 'agents/b',
						Array.from({ length: 20 }, (_, j) =>
							ev('progress', { m: 'x'.repeat(sizes[(i + j) % 5]) }),
						),
					)
				const all = await store.readAll(0, 5000, Infinity)
				expect(all.length).toBe(1000)
				for (const maxBytes of [500, 5000, 32 * 1024, 200_000]) {
					let after = 0
					const seen = []
					for (;;) {
						const got = await store.readAll(after, 4096, maxBytes)
						if (got.length === 0) break
						const data = got.reduce((n, e) => n + e.data.length, 0)
						// Under the budget, or over it by the last event only.
						expect(data - got[got.length - 1].data.length).toBeLessThan(maxBytes)
						expect(data >= maxBytes || got[got.length - 1].seq === 1000).toBe(true)
						seen.push(...got)
						after = got[got.length - 1].seq
					}
					expect(seen).toEqual(all)
					const a = all.filter((e) => e.stream === 'agents/a')
					let id = 0
					let count = 0
					for (;;) {
						const block = await store.readFrames('agents/a', id, 4096, maxBytes)
						if (!block) break
						expect(block.count === 1 || block.bytes.byteLength <= maxBytes).toBe(true)
						id = block.lastId
						count += block.count
					}
					expect(count).toBe(a.length)
				}
			}))

		it('lists streams in pages, most recently appended to first, filtered, pruned ones in their place', () =>
			withStore(async (store) => {
				for (const name of ['a1', 'a2', 'team-a3', 'team-a4', 'a5'])
					await store.append(`agents/${name}`, progress(1))
				await store.append('workflows/w', [ev('step_start', { stepId: 's' })])
				expect(await names(store, 'agents')).toEqual([
					'agents/a5',
					'agents/team-a4',
					'agents/team-a3',
					'agents/a2',
					'agents/a1',
				])
				const first = await store.list('agents', { limit: 2, where: () => true })
				expect(first).toMatchObject({ more: true, cursor: 6 })
				// An append moves its stream to the front; the next page goes on where the first ended.
				await store.append('agents/a1', [ev('complete')])
				const second = await store.list('agents', {
					limit: 2,
					where: () => true,
					page: first.resume[1],
				})
				expect(second.states.map((s) => s.name)).toEqual(['agents/team-a3', 'agents/a2'])
				expect(second.more).toBe(false)
				expect(await names(store, 'agents', { status: 'complete' })).toEqual(['agents/a1'])
				expect(await names(store, 'agents', { prefix: 'team-' })).toEqual([
					'agents/team-a4',
					'agents/team-a3',
				])
				// A page is full of what `where` takes, however many it leaves out.
				const narrow = await store.list('agents', {
					limit: 2,
					where: (s) => s !== 'agents/a5' && s !== 'agents/team-a4',
				})
				expect(narrow.states.map((s) => s.name)).toEqual(['agents/a1', 'agents/team-a3'])
				// A stream retention emptied keeps its place, its state and its snapshot.
				expect(await store.prune('agents/a1', 2, '{"status":"complete"}')).toBe(2)
				expect(await names(store, 'agents')).toEqual([
					'agents/a1',
					'agents/a5',
					'agents/team-a4',
					'agents/team-a3',
					'agents/a2',
				])
				expect(await store.state('agents/a1')).toMatchObject({
					lastId: 2,
					firstId: 3,
					status: 'complete',
					snapshot: '{"status":"complete"}',
				})
				// And comes back with the next id when appended to.
				expect((await store.append('agents/a1', progress(1))).ids).toEqual([3])
				expect((await store.read('agents/a1', 0, 10)).map((e) => e.id)).toEqual([3])
				expect((await names(store, 'agents'))[0]).toBe('agents/a1')
				expect(await names(store, 'workflows')).toEqual(['workflows/w'])
				await expect(
					store.list('agents', { limit: 2, where: () => true, page: 'x' }),
				).rejects.toBeInstanceOf(BadRequestError)
			}))

		it('prunes up to an event in the middle of an append, keeping what follows it', () =>
			withStore(async (store) => {
				await store.append('agents/a', progress(1))
				await store.append('agents/b', progress(1))
				await store.append('agents/a', [...progress(2), ev('complete'), ...progress(2)])
				expect(await store.prunable(Date.now() + 60_000)).toEqual([
					{ stream: 'agents/a', upToId: 4 },
				])
				expect(await store.prune('agents/a', 4, '{"status":"complete"}')).toBe(4)
				const events = await store.read('agents/a', 0, 10)
				expect(events.map((e) => [e.id, e.seq, e.data])).toEqual([
					[5, 6, '{"i":0}'],
					[6, 7, '{"i":1}'],
				])
				const block = await store.readFrames('agents/a', 0, 10, MIB)
				expect(block && decoder.decode(block.bytes)).toBe(
					encodeEvent(5, 'progress', '{"i":0}') + encodeEvent(6, 'progress', '{"i":1}'),
				)
				expect((await store.readAll(0, 10, Infinity)).map((e) => [e.stream, e.seq])).toEqual([
					['agents/b', 2],
					['agents/a', 6],
					['agents/a', 7],
				])
				// The terminal event that was cut away is no longer a reason to prune.
				expect(await store.prunable(Date.now() + 60_000)).toEqual([])
				// Kept after a cursor: the next one when it is kept, else the first kept past it.
				expect(await store.keptAfter(0)).toMatchObject({ seq: 2 })
				expect(await store.keptAfter(2)).toMatchObject({ seq: 6 })
				expect(await store.keptAfter(6)).toMatchObject({ seq: 7 })
				expect(await store.keptAfter(7)).toBeUndefined()
				await store.prune('agents/b', 1, '{}')
				expect(await store.keptAfter(0)).toMatchObject({ seq: 6 })
			}))

		it('gives concurrent appends to one stream distinct, gapless ids', () =>
			withStore(async (store) => {
				const results = await Promise.all(
					Array.from({ length: 40 }, () => store.append('agents/busy', progress(5))),
				)
				const ids = results.flatMap((r) => r.ids).sort((a, b) => a - b)
				expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
				for (const r of results) expect(r.ids[4] - r.ids[0]).toBe(4)
				expect((await store.state('agents/busy'))?.lastId).toBe(200)
			}))

		it('refuses events after a workflow run ended, and a terminal event that is not last, writing nothing', () =>
			withStore(async (store) => {
				await store.append('workflows/w', [ev('step_start'), ev('complete')])
				const after = store.append('workflows/w', [ev('step_start')])
				const early = store.append('workflows/x', [ev('failed'), ev('step_start')])
				const fine = store.append('workflows/y', [ev('step_start')])
				expect(await after.catch((e) => e)).toBeInstanceOf(StreamEndedError)
				const error = await early.catch((e) => e)
				expect(error).toBeInstanceOf(StreamEndedError)
				expect(error.field).toBe('/1')
				// A refused request in the same group commit does not stop the others.
				expect((await fine).ids).toEqual([1])
				expect((await store.state('workflows/w'))?.lastId).toBe(2)
				expect(await store.state('workflows/x')).toBeUndefined()
				expect(await names(store, 'workflows')).toEqual(['workflows/y', 'workflows/w'])
				expect(await store.read('workflows/x', 0, 10)).toEqual([])
			}))

		it('tracks run status and the start of each agent execution', () =>
			withStore(async (store) => {
				await store.append('agents/a', [ev('progress'), ev('complete')])
				expect(await store.state('agents/a')).toMatchObject({
					lastId: 2,
					status: 'complete',
					executionStart: 1,
					firstId: 1,
				})
				await store.append('agents/a', [ev('progress'), ev('failed'), ev('progress')])
				expect(await store.state('agents/a')).toMatchObject({
					lastId: 5,
					status: 'running',
					executionStart: 5,
				})
				expect(await store.state('agents/none')).toBeUndefined()
			}))

		it('answers a repeated Idempotency-Key with the first ids, and refuses it with another body', () =>
			withStore(async (store) => {
				const key = { key: 'k1', fingerprint: 'f1' }
				const first = await store.append('agents/a', progress(2), key)
				const again = await store.append('agents/a', progress(2), key)
				expect(first).toEqual({ ids: [1, 2], replayed: false })
				expect(again).toEqual({ ids: [1, 2], replayed: true })
				const conflict = store.append('agents/a', progress(1), { key: 'k1', fingerprint: 'f2' })
				expect(await conflict.catch((e) => e)).toBeInstanceOf(IdempotencyConflictError)
				// The same key on another stream is another request.
				expect((await store.append('agents/b', progress(1), key)).replayed).toBe(false)
				// Two requests with one key in the same group commit: the second is the replay.
				const [x, y] = await Promise.all([
					store.append('agents/c', progress(1), key),
					store.append('agents/c', progress(1), key),
				])
				expect([x.replayed, y.replayed]).toEqual([false, true])
				expect(y.ids).toEqual(x.ids)
				expect((await store.state('agents/a'))?.lastId).toBe(2)
				expect((await store.state('agents/c'))?.lastId).toBe(1)
			}))

		it('numbers every stream together in commit order: the feed cursor', () =>
			withStore(async (store) => {
				expect(await store.cursor()).toBe(0)
				await store.append('agents/a', progress(2))
				await store.append('workflows/w', [ev('step_start')])
				await store.append('agents/a', progress(1))
				const all = await store.readAll(0, 100, Infinity)
				expect(all.map((e) => [e.seq, e.stream, e.id])).toEqual([
					[1, 'agents/a', 1],
					[2, 'agents/a', 2],
					[3, 'workflows/w', 1],
					[4, 'agents/a', 3],
				])
				expect((await store.readAll(2, 1, Infinity)).map((e) => e.seq)).toEqual([3])
				expect(await store.cursor()).toBe(4)
				const agents = await store.list('agents', { limit: 10, where: () => true })
				expect(agents.states.map((s) => s.name)).toEqual(['agents/a'])
				expect(agents.cursor).toBe(4)
				expect(await names(store, 'workflows')).toEqual(['workflows/w'])
			}))

		it('tells listeners of every commit, in order, with frames', () =>
			withStore(async (store) => {
				const { seen, finished, stop } = await collect(
					store,
					(s) => (s.get('agents/a')?.length ?? 0) === 30 && (s.get('agents/b')?.length ?? 0) === 10,
				)
				await Promise.all([
					...Array.from({ length: 10 }, () => store.append('agents/a', progress(3))),
					store.append('agents/b', progress(10)),
				])
				await finished
				stop()
				const a = seen.get('agents/a') ?? []
				expect(a.map((e) => e.id)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
				expect(decoder.decode(a[0].frame)).toBe(encodeEvent(1, 'progress', a[0].data))
				const seqs = [...a, ...(seen.get('agents/b') ?? [])].map((e) => e.seq).sort((x, y) => x - y)
				expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
			}))

		it('prunes ended executions, keeps the snapshot, and never reuses an id', () =>
			withStore(async (store) => {
				await store.append('agents/a', [...progress(1500), ev('complete')])
				await store.append('agents/a', progress(2))
				await store.append('workflows/w', [ev('step_start'), ev('complete')])
				await store.append('workflows/open', [ev('step_start')])
				const prunable = await store.prunable(Date.now() + 60_000)
				expect(prunable.sort((x, y) => x.stream.localeCompare(y.stream))).toEqual([
					{ stream: 'agents/a', upToId: 1501 },
					{ stream: 'workflows/w', upToId: 2 },
				])
				expect(await store.prune('agents/a', 1501, '{"status":"complete"}')).toBe(1501)
				// The running execution is whole: its snapshot is folded from its events.
				const state = await store.state('agents/a')
				expect(state).toMatchObject({ firstId: 1502, lastId: 1503, executionStart: 1502 })
				// A run pruned whole answers with the snapshot kept for it.
				expect(await store.prune('workflows/w', 2, '{"status":"done"}')).toBe(2)
				expect(await store.state('workflows/w')).toMatchObject({
					firstId: 3,
					lastId: 2,
					snapshot: '{"status":"done"}',
				})
				expect((await store.read('agents/a', 0, 10)).map((e) => e.id)).toEqual([1502, 1503])
				expect((await store.append('agents/a', progress(1))).ids).toEqual([1504])
				expect((await store.keptAfter(0))?.seq).toBe(1502)
				expect(await store.prunable(0)).toEqual([])
			}))

		it('keeps a stream appended to just before a reopen through the next index and another reopen', async () => {
			const location = await engine.fresh()
			let store = await engine.open(location)
			await store.append('agents/early', progress(1))
			await store.close()
			store = await engine.open(location)
			// Appends elsewhere, enough for the chunk index (and the stream rows) to be written.
			for (let i = 0; i < 4; i++) await store.append('agents/other', progress(1))
			await store.close()
			store = await engine.open(location)
			try {
				expect(await store.state('agents/early')).toMatchObject({ lastId: 1, status: 'running' })
				expect((await store.read('agents/early', 0, 10)).map((e) => e.id)).toEqual([1])
				expect((await store.append('agents/early', progress(1))).ids).toEqual([2])
			} finally {
				await store.close()
			}
		})

		it('keeps events, states and secrets across a reopen', async () => {
			const location = await engine.fresh()
			let store = await engine.open(location)
			for (let i = 0; i < 4; i++) {
				await store.append('agents/a', progress(1))
				await store.append('agents/b', progress(2))
			}
			await store.append('agents/a', progress(3))
			// One stream pruned whole and left so, one pruned whole and appended to again.
			await store.append('workflows/done', [ev('step_start'), ev('complete')])
			await store.append('agents/again', [ev('complete')])
			await store.prune('workflows/done', 2, '{"status":"complete"}')
			await store.prune('agents/again', 1, '{"status":"complete"}')
			await store.append('agents/again', progress(1))
			const before = await store.readAll(0, 100, Infinity)
			const lists = [await names(store, 'agents'), await names(store, 'workflows')]
			const secret = await store.secret('ticket-key')
			expect(secret.byteLength).toBe(32)
			await store.close()
			store = await engine.open(location)
			try {
				expect(await store.secret('ticket-key')).toEqual(secret)
				expect(await store.readAll(0, 100, Infinity)).toEqual(before)
				expect((await store.read('agents/a', 2, 100)).map((e) => [e.id, e.data])).toEqual([
					[3, '{"i":0}'],
					[4, '{"i":0}'],
					[5, '{"i":0}'],
					[6, '{"i":1}'],
					[7, '{"i":2}'],
				])
				const block = await store.readFrames('agents/b', 3, 100, MIB)
				expect(block).toMatchObject({ lastId: 8, count: 5 })
				expect([await names(store, 'agents'), await names(store, 'workflows')]).toEqual(lists)
				expect(await store.state('workflows/done')).toMatchObject({
					lastId: 2,
					firstId: 3,
					status: 'complete',
					snapshot: '{"status":"complete"}',
				})
				expect(await store.state('agents/again')).toMatchObject({
					lastId: 2,
					firstId: 2,
					status: 'running',
				})
				expect((await store.append('agents/a', progress(1))).ids).toEqual([8])
				expect((await store.append('agents/again', progress(1))).ids).toEqual([3])
				expect(await store.cursor()).toBe(21)
				expect(await store.health()).toEqual({ ok: true })
			} finally {
				await store.close()
			}
		})
	})
}
