import { Database } from 'bun:sqlite'
import { describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { encodeEvent } from '../../client/src/sse.ts'
import { openSqliteStore } from '../../src/store/sqlite/index.ts'
import { APPLICATION_ID, MIGRATIONS } from '../../src/store/sqlite/schema.ts'
import { tempDir } from '../helpers.ts'

const decoder = new TextDecoder()

describe('sqlite migrations', () => {
	it('gives the events of a version 3 file the frames encodeEvent makes, byte for byte', async () => {
		using dir = tempDir()
		const path = join(dir.path, 'v3.db')
		const old = new Database(path, { create: true, strict: true })
		for (let v = 0; v < 3; v++) {
			old.exec(MIGRATIONS[v])
			old.exec(`PRAGMA application_id = ${APPLICATION_ID}`)
			old.exec(`PRAGMA user_version = ${v + 1}`)
		}
		const data = ['{"progress":1}', '{"message":"naïve 日本 🚀"}', '{"result":"ok"}']
		const types = ['progress', 'progress', 'complete']
		old.exec(
			"INSERT INTO streams (key, name, last_id, status, execution_start, created_at, updated_at) VALUES (1, 'agents/a', 3, 'complete', 1, 0, 0)",
		)
		const insert = old.query(
			'INSERT INTO events (stream, id, seq, type, data, created_at) VALUES (1, ?, ?, ?, ?, 0)',
		)
		for (const [i, d] of data.entries()) insert.run(i + 1, i + 1, types[i], d)
		old.exec("UPDATE meta SET value = 3 WHERE key = 'last_seq'")
		old.close()

		const store = openSqliteStore(path)
		try {
			const block = await store.readFrames('agents/a', 0, 10, 1 << 20)
			expect(block && decoder.decode(block.bytes)).toBe(
				data.map((d, i) => encodeEvent(i + 1, types[i], d)).join(''),
			)
			expect(block).toMatchObject({ lastId: 3, count: 3 })
			// `data` is cut back out of the frame, multi-byte characters included.
			const events = await store.read('agents/a', 0, 10)
			expect(events.map((e) => [e.id, e.event, e.data])).toEqual(
				data.map((d, i) => [i + 1, types[i], d]),
			)
			// A new event after the upgrade continues the stream with its own frame.
			const { ids } = await store.append('agents/a', [
				{ event: 'progress', data: '{"progress":9}' },
			])
			expect(ids).toEqual([4])
			const next = await store.readFrames('agents/a', 3, 10, 1 << 20)
			expect(next && decoder.decode(next.bytes)).toBe(encodeEvent(4, 'progress', '{"progress":9}'))
			expect(await store.readAll(2, 10, Infinity)).toMatchObject([
				{ id: 3, seq: 3, event: 'complete' },
				{ id: 4, seq: 4, event: 'progress' },
			])
			// The stored terminal event still tells retention where the execution ended.
			expect(await store.prunable(Date.now() + 60_000)).toEqual([{ stream: 'agents/a', upToId: 3 }])
		} finally {
			await store.close()
		}
	})

	it('gives the file a read-only events view that shows the log one row per event', async () => {
		using dir = tempDir()
		const path = join(dir.path, 'view.db')
		const store = openSqliteStore(path)
		const x = [
			{ event: 'progress', data: '{"message":"line\\nbreak, naïve 日本 🚀"}' },
			{ event: 'complete', data: '{"result":{"data: ":[1,2]}}' },
		]
		await store.append('agents/x', x)
		await store.append('agents/y', [{ event: 'tool_call', data: '{}' }])
		await store.append('agents/x', [{ event: 'progress', data: '{"n":3}' }])
		// Pruned events leave the view with their chunks.
		await store.append('workflows/w', [
			{ event: 'step_start', data: '{"stepId":"s"}' },
			{ event: 'complete', data: '{}' },
		])
		await store.prune('workflows/w', 2, '{}')
		await store.close()
		const db = new Database(path, { readonly: true })
		try {
			const rows = db
				.query("SELECT id, type, data FROM events WHERE stream = 'agents/x' ORDER BY id")
				.all()
			expect(rows).toEqual([
				{ id: 1, type: x[0].event, data: x[0].data },
				{ id: 2, type: x[1].event, data: x[1].data },
				{ id: 3, type: 'progress', data: '{"n":3}' },
			])
			expect(
				db.query('SELECT stream, count(*) AS n FROM events GROUP BY stream ORDER BY stream').all(),
			).toEqual([
				{ stream: 'agents/x', n: 3 },
				{ stream: 'agents/y', n: 1 },
			])
			expect(() => db.exec("DELETE FROM events WHERE stream = 'agents/x'")).toThrow()
		} finally {
			db.close()
		}
	})
})
