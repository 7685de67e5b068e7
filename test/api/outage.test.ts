import { describe, expect, it } from 'bun:test'
import {
	auth,
	eventually,
	metric,
	openStream,
	publish,
	RawStream,
	startServer,
	streamUrl,
} from '../helpers.ts'
import { startPostgres } from '../postgres.ts'

/** Every kind of request, by the route it takes, with what it sends. */
const REQUESTS: Array<[string, string, RequestInit?]> = [
	['list', '/api/agents'],
	['snapshot', '/api/agents/a'],
	['events page', '/api/agents/a/events'],
	['workflow list', '/api/workflows'],
	['publish', '/api/agents/a/events', { method: 'POST', body: '{"event":"progress"}' }],
	['new stream', '/api/streaming/agents/b/stream'],
	['feed', '/api/streaming/events?lastEventId=0'],
	['prune', '/api/admin/prune', { method: 'POST' }],
]

describe.skipIf(process.env.CORTEX_TEST_POSTGRES !== undefined)('a Postgres outage', () => {
	it('is a 503 with Retry-After on every route, /metrics goes on with the store down, and all recovers by itself', async () => {
		await using pg = await startPostgres({ fsync: false })
		await using server = await startServer({
			dbPath: await pg.database(),
			args: ['--retention', '1h'],
		})
		expect((await publish(server, 'agents/a', { event: 'progress' })).status).toBe(201)
		await using live = await openStream(server, 'agents/a', { 'last-event-id': '1' })

		pg.crash()
		for (const [what, path, init] of REQUESTS) {
			const res = await fetch(`${server.url}${path}`, {
				...init,
				headers: { ...auth(), accept: 'text/event-stream' },
			})
			const text = await res.text()
			expect([what, res.status, text]).toEqual([
				what,
				503,
				expect.stringContaining('store_unavailable'),
			])
			expect([what, Number(res.headers.get('retry-after'))]).toEqual([what, 2])
		}
		const health = await fetch(`${server.url}/healthz`)
		expect(health.status).toBe(503)
		expect(health.headers.get('retry-after')).toBe('5')
		const metrics = await fetch(`${server.url}/metrics`)
		expect(metrics.status).toBe(200)
		expect(await metric(server, 'cortex_store_up')).toBe(0)
		expect(await metric(server, 'cortex_http_responses_total{code="500"}').catch(() => 0)).toBe(0)

		pg.start()
		await eventually(
			async () => (await publish(server, 'agents/a', { event: 'complete' })).status === 201,
			20_000,
			'a publish to be taken again',
		)
		// The stream opened before the outage gets what was published after it, then ends.
		await live.untilEnded(20_000)
		expect(live.events().map((e) => e.event)).toEqual(['complete'])
		for (const [what, path, init] of REQUESTS) {
			const res = await fetch(`${server.url}${path}`, {
				...init,
				headers: auth(),
				signal: AbortSignal.timeout(5_000),
			})
			expect([what, res.status < 300]).toEqual([what, true])
			await res.body?.cancel()
		}
		expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
		expect(await metric(server, 'cortex_store_up')).toBe(1)
		// And a new subscriber is fed live again: the server listens for commits once more.
		await using later = await RawStream.open(streamUrl(server, 'agents/c'), auth())
		await publish(server, 'agents/c', { event: 'progress', data: { n: 1 } })
		await later.until((s) => s.events().length === 1)
	}, 90_000)
})
