import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { SQL } from 'bun'
import type { NewEvent } from '../../src/events.ts'
import { openPostgresStore } from '../../src/store/postgres/index.ts'
import { openSqliteStore } from '../../src/store/sqlite/index.ts'
import type { EndedExecution, StatusCounts, Store } from '../../src/store/store.ts'
import { clusterForFile, tempDir } from '../helpers.ts'

/**
 * What the store keeps of an agent's ended executions, on both engines; and what an older
 * database, from before it kept them, gets from its log when it is migrated.
 */
interface Engine {
	name: string
	fresh(): Promise<string>
	open(location: string): Promise<Store>
	/** Makes `location` (closed) as it was before the executions were kept. */
	downgrade(location: string): Promise<void>
}

const pg = clusterForFile()
const dirs: Array<{ [Symbol.dispose](): void }> = []
afterAll(() => {
	for (const d of dirs) d[Symbol.dispose]()
})
const file = async () => {
	const dir = tempDir()
	dirs.push(dir)
	return join(dir.path, 'cortex.db')
}
const downgradeSqlite = async (path: string) => {
	const db = new Database(path, { strict: true })
	db.exec(`DROP TABLE executions;
		ALTER TABLE streams DROP COLUMN started_at;
		ALTER TABLE streams DROP COLUMN message_id;
		DROP INDEX streams_emptied;
		DROP INDEX streams_emptied_by_status;
		CREATE INDEX streams_by_last_seq ON streams (last_seq);
		PRAGMA user_version = 8;`)
	db.close()
}

const ENGINES: Engine[] = [
	{
		name: 'sqlite',
		fresh: file,
		open: async (path) => openSqliteStore(path),
		downgrade: downgradeSqlite,
	},
	{
		// Most chunks, stream rows and executions are written at once, some wait for the next batch.
		name: 'sqlite, chunk index written every 3 chunks',
		fresh: file,
		open: async (path) => openSqliteStore(path, { index: { batch: 3 } }),
		downgrade: downgradeSqlite,
	},
	{
		name: 'postgres',
		fresh: () => pg.database(),
		open: (url) => openPostgresStore(url, { catchUpMs: 200 }),
		downgrade: async (url) => {
			const sql = new SQL(url, { max: 1 })
			await sql.unsafe(`DROP TABLE cortex_executions, cortex_status_counts;
				DROP INDEX cortex_streams_by_name;
				ALTER TABLE cortex_streams DROP COLUMN started_at, DROP COLUMN message_id;
				UPDATE cortex_schema SET version = 3;`)
			await sql.close()
		},
	},
]

const ev = (event: string, data: unknown = {}): NewEvent => ({ event, data: JSON.stringify(data) })
const ALL = Number.POSITIVE_INFINITY
/** Every ended execution of a stream, newest first, without the times. */
const ends = async (store: Store, stream: string, before = ALL, limit = 1000) =>
	(await store.executions(stream, before, ALL, limit)).map(
		({ startedAt: _, endedAt: __, ...e }) => e,
	)

/** A history with executions ending inside appends, at their ends, and across several. */
async function history(store: Store) {
	await store.append('agents/a', [ev('progress', { message: 'one' }), ev('progress')])
	await store.append('agents/a', [
		ev('complete', { result: 1 }),
		ev('progress', { message: 'two' }),
		ev('failed', { message: 'x' }),
		ev('cancelled'),
	])
	await store.append('agents/b', [ev('progress', { message: 'b' }), ev('complete')])
	await store.append('agents/a', [ev('tool_call', { message: 'no' }), ev('progress', { n: 1 })])
	await store.append('agents/a', [
		ev('progress', { detail: { message: 'deep' } }),
		ev('progress', { progress: 0.5 }),
	])
	await store.append('workflows/w', [ev('step_start', { stepId: 's' }), ev('complete')])
	await store.append('agents/a', [ev('complete')])
	await store.append('agents/a', [ev('progress', { message: 'running' })])
}
const HISTORY: Array<Omit<EndedExecution, 'startedAt' | 'endedAt'>> = [
	{ startId: 7, endId: 11, status: 'complete', messageId: 9 },
	{ startId: 6, endId: 6, status: 'cancelled', messageId: 0 },
	{ startId: 4, endId: 5, status: 'failed', messageId: 4 },
	{ startId: 1, endId: 3, status: 'complete', messageId: 1 },
]

for (const engine of ENGINES) {
	describe(`executions kept by the store: ${engine.name}`, () => {
		it('knows where each ended execution starts and ends, how, when and where its message is', async () => {
			const location = await engine.fresh()
			let store = await engine.open(location)
			try {
				const t0 = Date.now()
				await history(store)
				expect(await ends(store, 'agents/a')).toEqual(HISTORY)
				expect(await ends(store, 'agents/b')).toEqual([
					{ startId: 1, endId: 2, status: 'complete', messageId: 1 },
				])
				// Workflow runs are not kept as executions; unknown streams have none.
				expect(await ends(store, 'workflows/w')).toEqual([])
				expect(await ends(store, 'agents/nobody')).toEqual([])
				// Newest first from below `before`, at most `limit`, ending at or before `upToId`.
				expect(await ends(store, 'agents/a', 7)).toEqual(HISTORY.slice(1))
				expect(await ends(store, 'agents/a', 6, 1)).toEqual(HISTORY.slice(2, 3))
				expect((await store.executions('agents/a', ALL, 10, 10)).map((e) => e.startId)).toEqual([
					6, 4, 1,
				])
				const [last] = await store.executions('agents/a', ALL, ALL, 1)
				expect(last.startedAt).toBeGreaterThanOrEqual(t0)
				expect(last.endedAt).toBeGreaterThanOrEqual(last.startedAt)
				const events = await store.read('agents/a', 0, 100)
				const at = (id: number) => events.find((e) => e.id === id)?.createdAt
				for (const e of await store.executions('agents/a', ALL, ALL, 10))
					expect([e.startedAt, e.endedAt]).toEqual([at(e.startId) ?? 0, at(e.endId) ?? 0])

				// The same after a reopen, and the running execution goes on where it was.
				const before = await store.executions('agents/a', ALL, ALL, 10)
				await store.close()
				store = await engine.open(location)
				expect(await store.executions('agents/a', ALL, ALL, 10)).toEqual(before)
				await store.append('agents/a', [ev('progress'), ev('failed', { message: 'y' })])
				expect((await ends(store, 'agents/a', ALL, 1))[0]).toEqual({
					startId: 12,
					endId: 14,
					status: 'failed',
					messageId: 12,
				})
				expect((await store.executions('agents/a', ALL, ALL, 1))[0].startedAt).toBe(
					at(12) as number,
				)
			} finally {
				await store.close()
			}
		})

		it('reads events by id, near and far apart, those kept only', async () => {
			const location = await engine.fresh()
			const store = await engine.open(location)
			try {
				await store.append('agents/r', [ev('complete')])
				for (let i = 0; i < 10; i++)
					await store.append('agents/r', [ev('progress', { i }), ev('progress', { i: i + 0.5 })])
				await store.append(
					'agents/r',
					Array.from({ length: 100 }, (_, i) => ev('tick', { i })),
				)
				const read = async (ids: number[]) =>
					(await store.readIds('agents/r', ids)).map((e) => [e.id, e.event, e.data])
				expect(await read([2, 3, 21, 60, 121, 500])).toEqual([
					[2, 'progress', '{"i":0}'],
					[3, 'progress', '{"i":0.5}'],
					[21, 'progress', '{"i":9.5}'],
					[60, 'tick', '{"i":38}'],
					[121, 'tick', '{"i":99}'],
				])
				expect(await read([])).toEqual([])
				expect(await store.readIds('agents/nobody', [1])).toEqual([])
				await store.prune('agents/r', 1, '{}')
				expect(await read([1, 2])).toEqual([[2, 'progress', '{"i":0}']])
			} finally {
				await store.close()
			}
		})

		it('leaves out what retention pruned', async () => {
			const location = await engine.fresh()
			let store = await engine.open(location)
			try {
				await history(store)
				// Pruned in the middle of an execution, as a prune of 1,000 events a transaction is.
				expect(await store.prune('agents/a', 8, '{}')).toBe(8)
				expect(await ends(store, 'agents/a')).toEqual([])
				expect(await store.prune('agents/a', 11, '{}')).toBe(3)
				expect(await ends(store, 'agents/a')).toEqual([])
				await store.append('agents/a', [ev('complete')])
				expect(await ends(store, 'agents/a')).toEqual([
					{ startId: 12, endId: 13, status: 'complete', messageId: 12 },
				])
				expect(await store.prune('agents/b', 2, '{}')).toBe(2)
				expect(await ends(store, 'agents/b')).toEqual([])
				// Retention writes a stream's row as it is: what ended since its last write stays.
				await store.append('agents/c', [ev('complete'), ev('complete'), ev('complete')])
				expect(await store.prune('agents/c', 1, '{}')).toBe(1)
				const c = await ends(store, 'agents/c')
				expect(c.map((e) => e.startId)).toEqual([3, 2])
				await store.close()
				store = await engine.open(location)
				expect(await ends(store, 'agents/a')).toEqual([
					{ startId: 12, endId: 13, status: 'complete', messageId: 12 },
				])
				expect(await ends(store, 'agents/b')).toEqual([])
				expect(await ends(store, 'agents/c')).toEqual(c)
			} finally {
				await store.close()
			}
		})

		it('finds the executions of a database from before it kept them in its log', async () => {
			const location = await engine.fresh()
			let store = await engine.open(location)
			let kept: EndedExecution[]
			let counted: StatusCounts[]
			const counts = () =>
				Promise.all(
					(['agents', 'workflows'] as const).flatMap((kind) =>
						['', 'a'].map((prefix) =>
							store.counts(kind, { prefix, where: () => true, patterns: ['*'] }),
						),
					),
				)
			try {
				await history(store)
				await store.append('agents/c', [ev('complete'), ev('complete')])
				// A pruned first execution: the first kept event starts the next one.
				expect(await store.prune('agents/c', 1, '{}')).toBe(1)
				await store.append('agents/c', [ev('progress', { message: 'c' })])
				kept = await store.executions('agents/a', ALL, ALL, 100)
				counted = await counts()
				expect(counted[0]).toEqual({ running: 2, complete: 1, failed: 0, cancelled: 0 })
				expect(await ends(store, 'agents/c')).toEqual([
					{ startId: 2, endId: 2, status: 'complete', messageId: 0 },
				])
			} finally {
				await store.close()
			}
			await engine.downgrade(location)
			store = await engine.open(location)
			try {
				expect(await store.executions('agents/a', ALL, ALL, 100)).toEqual(kept)
				expect(await counts()).toEqual(counted)
				expect(await ends(store, 'agents/c')).toEqual([
					{ startId: 2, endId: 2, status: 'complete', messageId: 0 },
				])
				// The running executions go on with what the migration found of them.
				await store.append('agents/a', [ev('complete')])
				await store.append('agents/c', [ev('progress'), ev('cancelled')])
				const [a] = await store.executions('agents/a', ALL, ALL, 1)
				const events = await store.read('agents/a', 11, 1)
				expect(a).toEqual({
					startId: 12,
					endId: 13,
					status: 'complete',
					startedAt: events[0].createdAt,
					endedAt: a.endedAt,
					messageId: 12,
				})
				expect((await ends(store, 'agents/c'))[0]).toEqual({
					startId: 3,
					endId: 5,
					status: 'cancelled',
					messageId: 3,
				})
			} finally {
				await store.close()
			}
		})
	})
}
