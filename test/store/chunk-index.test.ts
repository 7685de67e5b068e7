import { Database } from 'bun:sqlite'
import { describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { encodeEvent } from '../../client/src/sse.ts'
import { InsufficientStorageError } from '../../src/errors.ts'
import { openSqliteStore } from '../../src/store/sqlite/index.ts'
import { tempDir } from '../helpers.ts'

const decoder = new TextDecoder()
const data = (i: number) => `{"i":${i}}`

describe('sqlite chunk index', () => {
	it('reads a stream whose older chunks are indexed and newer ones not yet, also after a reopen', async () => {
		using dir = tempDir()
		const path = join(dir.path, 'cortex.db')
		// The 5th commit writes the index; the 6th and 7th chunks wait for a later one.
		let store = openSqliteStore(path, { index: { batch: 5 } })
		for (let i = 1; i <= 7; i++)
			await store.append('agents/a', [{ event: 'progress', data: data(i) }])
		const check = async () => {
			for (let after = 0; after <= 7; after++) {
				const ids = Array.from({ length: 7 - after }, (_, i) => after + i + 1)
				expect((await store.read('agents/a', after, 100)).map((e) => [e.id, e.data])).toEqual(
					ids.map((id) => [id, data(id)]),
				)
				const block = await store.readFrames('agents/a', after, 100, 1 << 20)
				expect(block && decoder.decode(block.bytes)).toEqual(
					after === 7 ? undefined : ids.map((id) => encodeEvent(id, 'progress', data(id))).join(''),
				)
			}
		}
		await check()
		await store.close()
		const file = new Database(path, { readonly: true })
		expect(file.query('SELECT count(*) AS n FROM chunk_index').get()).toEqual({ n: 5 })
		file.close()
		store = openSqliteStore(path, { index: { batch: 5 } })
		try {
			await check()
			// Retention indexes everything before it looks.
			await store.append('agents/a', [{ event: 'complete', data: '{}' }])
			expect(await store.prunable(Date.now() + 60_000)).toEqual([{ stream: 'agents/a', upToId: 8 }])
		} finally {
			await store.close()
		}
	})

	it('brings the stream rows and the last seq up to date on open, also after retention deleted chunks the index did not hold', async () => {
		using dir = tempDir()
		const path = join(dir.path, 'cortex.db')
		// Nothing but retention writes the table's stream rows and last seq here.
		const never = { batch: Number.POSITIVE_INFINITY, everyMs: Number.POSITIVE_INFINITY }
		let store = openSqliteStore(path, { index: never })
		const append = (stream: string, ...types: string[]) =>
			store.append(
				stream,
				types.map((event) => ({ event, data: '{}' })),
			)
		// agents/a: execution 1 is ids 1-2, execution 2 starts at 3 and ends at 5, one append each.
		for (const type of ['progress', 'complete', 'progress', 'progress', 'complete'])
			await append('agents/a', type)
		await append('agents/b', 'progress', 'complete', 'progress')
		await append('workflows/w', 'step_start', 'failed')
		await append('agents/gone', 'progress', 'complete')
		const streams = ['agents/a', 'agents/b', 'workflows/w', 'agents/gone']
		// Mid-execution, and everything a stream has: both delete chunks the index does not hold.
		expect(await store.prune('agents/a', 3, '{"s":1}')).toBe(3)
		expect(await store.prune('agents/gone', 2, '{"s":2}')).toBe(2)
		const states = await Promise.all(streams.map((s) => store.state(s)))
		const cursor = await store.cursor()
		expect(states.map((s) => s && [s.lastId, s.status, s.executionStart, s.firstId])).toEqual([
			[5, 'complete', 3, 4],
			[3, 'running', 3, 1],
			[2, 'failed', 1, 1],
			[2, 'complete', 1, 3],
		])
		await store.close()

		store = openSqliteStore(path, { index: never })
		try {
			expect(await Promise.all(streams.map((s) => store.state(s)))).toEqual(states)
			expect(await store.cursor()).toBe(cursor)
			expect((await append('agents/gone', 'progress')).ids).toEqual([3])
			expect(
				(await store.readAll(cursor, 10, Infinity)).map((e) => [e.stream, e.id, e.seq]),
			).toEqual([['agents/gone', 3, cursor + 1]])
		} finally {
			await store.close()
		}
	})

	it('lets retention free a full store while thousands of chunks wait for the index', async () => {
		using dir = tempDir()
		const path = join(dir.path, 'cortex.db')
		// The index waits for nothing but retention, so the chunks it does not hold pile up.
		const store = openSqliteStore(path, {
			maxBytes: 512 * 1024,
			index: { batch: Number.POSITIVE_INFINITY, everyMs: Number.POSITIVE_INFINITY },
		})
		try {
			const big = 'x'.repeat(2_000)
			await store.append('workflows/old', [
				...Array.from({ length: 40 }, (_, i) => ({
					event: 'step_progress',
					data: `{"stepId":"s","m":"${i}${big}"}`,
				})),
				{ event: 'complete', data: '{}' },
			])
			let full: unknown
			for (let i = 0; i < 20_000 && !full; i += 50)
				await Promise.all(
					Array.from({ length: 50 }, (_, j) =>
						store
							.append(`agents/a${j % 25}`, [{ event: 'progress', data: '{}' }])
							.catch((error) => {
								full = error
							}),
					),
				)
			expect(full).toBeInstanceOf(InsufficientStorageError)
			const prunable = await store.prunable(Date.now() + 60_000)
			expect(prunable).toContainEqual({ stream: 'workflows/old', upToId: 41 })
			expect(await store.prune('workflows/old', 41, '{}')).toBe(41)
			expect(
				(await store.append('agents/a0', [{ event: 'progress', data: '{}' }])).ids,
			).toHaveLength(1)
		} finally {
			await store.close()
		}
	})
})
