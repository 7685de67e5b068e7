import { describe, expect, it } from 'bun:test'
import {
	auth,
	clusterForFile,
	eventually,
	openStream,
	publish,
	publishUntilStopped,
	RawStream,
	startServer,
	watch,
} from '../helpers.ts'

/** Two server processes on one Postgres database, as behind a load balancer. */
const pg = clusterForFile()

const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

describe('servers on Postgres', () => {
	it('delivers what A acknowledged to B exactly once after kill -9 of A, and a client moved from A to B misses nothing', async () => {
		const db = await pg.database()
		await using a = await startServer({ dbPath: db, args: ['--retry-ms', '100'] })
		await using b = await startServer({ dbPath: db, args: ['--retry-ms', '100'] })
		const stream = 'agents/scale'
		// Watchers on B with the `eventsource` package; one raw client on A that will have to move.
		const watchers = [watch(b, stream), watch(b, stream)]
		await using onA = await openStream(a, stream)
		// Publishers on both instances at once: ids come from one row lock, whichever writes.
		const loadA = publishUntilStopped(a, stream, 4)
		const loadB = publishUntilStopped(b, stream, 2)
		await eventually(() => loadA.acked.size >= 200, 30_000, '200 events acknowledged by A')
		await a.kill('SIGKILL')
		await loadA.done
		await loadB.stop()

		const end = await publish(b, stream, { event: 'complete', data: { result: 'ok' } })
		expect(end.status).toBe(201)
		const lastId = end.body.ids[0] as number
		// A request A committed but died before answering is in the log too, unacknowledged.
		const acked = new Map([...loadA.acked, ...loadB.acked])
		expect(acked.size).toBeGreaterThan(200)
		expect(Math.max(...acked.keys())).toBeLessThan(lastId)

		// The client that was reading A resumes on B from its Last-Event-ID.
		const seenOnA = onA.events().map((f) => Number(f.id))
		expect(seenOnA.length).toBeGreaterThan(0)
		expect(seenOnA).toEqual(ids(seenOnA.length))
		await using moved = await openStream(b, stream, { 'last-event-id': String(seenOnA.length) })
		await moved.untilEnded(20_000)
		const resumed = moved.events().map((f) => Number(f.id))
		expect([...seenOnA, ...resumed]).toEqual(ids(lastId))

		for (const w of watchers) {
			await eventually(
				() => w.seen.at(-1)?.type === 'complete',
				20_000,
				'B watchers to see complete',
			)
			expect(w.seen.map((e) => Number(e.id))).toEqual(ids(lastId))
			const byId = new Map(w.seen.map((e) => [Number(e.id), JSON.parse(e.data).message]))
			for (const [id, message] of acked) expect(byId.get(id)).toBe(message)
			w.source.close()
		}
	}, 90_000)

	it("serves B's feed, snapshots and tickets from what A wrote", async () => {
		const db = await pg.database()
		await using a = await startServer({ dbPath: db })
		await using b = await startServer({ dbPath: db })
		await publish(a, 'workflows/w1', { event: 'step_start', data: { stepId: 's1' } })
		await publish(a, 'agents/x', { event: 'progress', data: { n: 1 } })
		// B's feed replays A's commits in cursor order, then carries A's live ones.
		await using feed = await RawStream.open(`${b.url}/api/streaming/events`, {
			...auth(b.token),
			'last-event-id': '0',
		})
		await publish(a, 'workflows/w1', { event: 'complete', data: {} })
		await feed.until((f) => f.events().length === 3, 10_000, 'three feed events on B')
		expect(feed.events().map((f) => [f.id, f.event, JSON.parse(f.data as string).stream])).toEqual([
			['1', 'step_start', 'workflows/w1'],
			['2', 'progress', 'agents/x'],
			['3', 'complete', 'workflows/w1'],
		])
		const snapshot = await fetch(`${b.url}/api/workflows/w1`, { headers: auth(b.token) })
		expect(snapshot.status).toBe(200)
		expect(await snapshot.json()).toMatchObject({ status: 'complete' })
		// A ticket signed by A opens a stream on B: the key lives in the shared database.
		const ticket = await fetch(`${a.url}/api/tickets`, {
			method: 'POST',
			headers: { ...auth(a.token), 'content-type': 'application/json' },
			body: JSON.stringify({ streams: ['agents/*'], ttlSeconds: 60 }),
		})
		expect(ticket.status).toBe(201)
		const { ticket: token } = (await ticket.json()) as { ticket: string }
		await using withTicket = await RawStream.open(
			`${b.url}/api/streaming/agents/x/stream?access_token=${encodeURIComponent(token)}`,
		)
		await withTicket.until((f) => f.events().length === 1, 10_000, 'the event through a ticket')
		expect(withTicket.status).toBe(200)
		// A Postgres store is backed up with Postgres' own tools, and the server says so.
		const backup = await fetch(`${b.url}/api/admin/backup`, {
			method: 'POST',
			headers: auth(b.token),
		})
		expect(backup.status).toBe(501)
		expect(((await backup.json()) as { error: { code: string } }).error.code).toBe('not_supported')
		expect((await fetch(`${b.url}/healthz`)).status).toBe(200)
	}, 60_000)

	it('ends open streams at once on SIGTERM, even when the last store read was still in flight', async () => {
		// A read from Postgres spans turns of the event loop: a subscriber that was reading when the
		// hub closed once waited for a wake that had gone by, and held shutdown for its whole grace.
		for (let round = 0; round < 4; round++) {
			await using server = await startServer({ dbPath: await pg.database() })
			await publish(server, 'agents/a', { event: 'progress' })
			await using agent = await openStream(server, 'agents/a')
			await using feed = await RawStream.open(`${server.url}/api/streaming/events`, {
				...auth(server.token),
				'last-event-id': '0',
			})
			await agent.until((s) => s.events().length === 1)
			await feed.until((s) => s.events().length === 1)
			const sent = performance.now()
			server.proc.kill('SIGTERM')
			await agent.untilEnded(10_000)
			await feed.untilEnded(10_000)
			expect(performance.now() - sent).toBeLessThan(2_000)
			expect(await server.exited).toBe(0)
		}
	}, 60_000)
})
