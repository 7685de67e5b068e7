import { describe, expect, it } from 'bun:test'
import { SQL } from 'bun'
import type { NewEvent } from '../../src/events.ts'
import { openPostgresStore, redactUrl } from '../../src/store/postgres/index.ts'
import type { EncodedEvent, Store } from '../../src/store/store.ts'
import { clusterForFile, runCli } from '../helpers.ts'

/** What only the Postgres engine promises: several instances on one database. */
const pg = clusterForFile()

const progress = (n: number): NewEvent[] =>
	Array.from({ length: n }, (_, i) => ({ event: 'progress', data: `{"i":${i}}` }))

async function pair(catchUpMs = 200) {
	const url = await pg.database()
	const a = await openPostgresStore(url, { catchUpMs })
	const b = await openPostgresStore(url, { catchUpMs })
	return {
		url,
		a,
		b,
		async [Symbol.asyncDispose]() {
			await a.close()
			await b.close()
		},
	}
}

/** Resolves once `count` events of `stream` reached the store's listeners. */
function heard(store: Store, stream: string, count: number, timeoutMs = 10_000) {
	const events: EncodedEvent[] = []
	return new Promise<EncodedEvent[]>((resolve, reject) => {
		const timer = setTimeout(() => {
			stop()
			reject(new Error(`heard ${events.length} of ${count} events`))
		}, timeoutMs)
		const stop = store.subscribe((s, batch) => {
			if (s !== stream) return
			events.push(...batch)
			if (events.length >= count) {
				clearTimeout(timer)
				stop()
				resolve(events)
			}
		})
	})
}

describe('postgres store: several instances on one database', () => {
	it('keeps ids gapless and each batch contiguous when two instances append to one stream at once', async () => {
		await using s = await pair()
		const results = await Promise.all(
			Array.from({ length: 60 }, (_, i) =>
				(i % 2 ? s.a : s.b).append('agents/shared', progress(4)),
			),
		)
		const ids = results.flatMap((r) => r.ids).sort((x, y) => x - y)
		expect(ids).toEqual(Array.from({ length: 240 }, (_, i) => i + 1))
		for (const r of results) expect(r.ids).toEqual([0, 1, 2, 3].map((n) => r.ids[0] + n))
		// The global cursor is gapless and in commit order across both instances.
		const all = await s.a.readAll(0, 1000, Infinity)
		expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 240 }, (_, i) => i + 1))
		expect(all.map((e) => e.id)).toEqual(ids)
	})

	it("hands one instance's commits to the other's listeners, in order", async () => {
		await using s = await pair(60_000)
		const onB = heard(s.b, 'agents/x', 50)
		for (let i = 0; i < 10; i++) await s.a.append('agents/x', progress(5))
		const events = await onB
		expect(events.map((e) => e.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
		expect(new TextDecoder().decode(events[0].frame)).toBe(
			'id: 1\nevent: progress\ndata: {"i":0}\n\n',
		)
	})

	it('catches up on commits whose notification was lost while the listening connection was down', async () => {
		await using s = await pair(300)
		const onB = heard(s.b, 'agents/y', 20)
		const admin = new SQL(s.url, { max: 1 })
		try {
			// Cut every listening connection: B's reconnects, but commits made meanwhile sent their
			// notifications to nobody.
			await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`
		} finally {
			await admin.close()
		}
		for (let i = 0; i < 4; i++) await s.a.append('agents/y', progress(5))
		const events = await onB
		expect(events.map((e) => e.id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
	})

	it('shares the ticket key between instances', async () => {
		await using s = await pair()
		const [x, y] = await Promise.all([s.a.secret('ticket-key'), s.b.secret('ticket-key')])
		expect(x).toEqual(y)
	})

	it('refuses to start on a database it cannot reach or a newer build migrated, naming it without its password', async () => {
		const away = await runCli([
			'serve',
			'--db',
			'postgres://cortex:hunter2@127.0.0.1:1/cortex',
			'--token',
			'test-token-0123456789',
		])
		expect(away.code).toBe(1)
		expect(away.stderr).toContain('postgres://cortex:***@127.0.0.1:1/cortex cannot be used')
		expect(away.stderr + away.stdout).not.toContain('hunter2')

		const url = await pg.database()
		const admin = new SQL(url, { max: 1 })
		try {
			await admin`CREATE TABLE cortex_schema (version integer NOT NULL)`
			await admin`INSERT INTO cortex_schema (version) VALUES (99)`
		} finally {
			await admin.close()
		}
		const newer = await runCli(['serve', '--db', url, '--token', 'test-token-0123456789'])
		expect(newer.code).toBe(1)
		expect(newer.stderr).toContain('schema version 99, newer than this build knows')
	})

	it('keeps the password out of the URL it logs', () => {
		expect(redactUrl('postgres://cortex:hunter2@db:5432/cortex')).toBe(
			'postgres://cortex:***@db:5432/cortex',
		)
		expect(redactUrl('./data/cortex-stream.db')).toBe('./data/cortex-stream.db')
	})
})
