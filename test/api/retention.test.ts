import { describe, expect, it } from 'bun:test'
import {
	auth,
	eventually,
	metric,
	onPostgres,
	openStream,
	publish,
	RawStream,
	startServer,
	streamUrl,
	type TestServer,
} from '../helpers.ts'

const prune = async (server: TestServer, token = server.token) => {
	const res = await fetch(`${server.url}/api/admin/prune`, { method: 'POST', headers: auth(token) })
	return { status: res.status, body: await res.json() }
}
const get = async (server: TestServer, path: string) =>
	(await fetch(`${server.url}${path}`, { headers: auth() })).json()

describe('retention', () => {
	it('prunes ended executions and runs whole, never a running one, and keeps ids and snapshots', async () => {
		await using first = await startServer({ args: ['--retention', '1s'] })
		await publish(first, 'agents/a', [
			{ event: 'progress', data: { progress: 0.5 } },
			{ event: 'complete', data: { result: 'one' } },
		])
		await publish(first, 'workflows/wf-old', [
			{ event: 'step_start', data: { stepId: 's1', name: 'Review' } },
			{ event: 'step_complete', data: { stepId: 's1', duration: 50 } },
			{ event: 'complete', data: { result: 'done' } },
		])
		await publish(first, 'workflows/wf-running', { event: 'step_start', data: { stepId: 's1' } })
		const before = await get(first, '/api/workflows/wf-old')
		await Bun.sleep(1_200)
		await publish(first, 'agents/a', { event: 'progress', data: { message: 'second run' } })

		expect(await prune(first)).toEqual({ status: 200, body: { prunedEvents: 5, prunedStreams: 2 } })
		expect(await prune(first)).toEqual({ status: 200, body: { prunedEvents: 0, prunedStreams: 0 } })
		expect(await metric(first, 'cortex_pruned_events_total')).toBe(5)
		expect(await metric(first, 'cortex_oldest_event_timestamp_seconds')).toBeGreaterThan(0)

		// Resuming into the pruned range: the gap first, then the first event kept.
		await using resumed = await openStream(first, 'agents/a', { 'last-event-id': '0' })
		await resumed.until((s) => s.events().length === 2)
		expect(resumed.text).toBe(
			'retry: 1000\n\nevent: gap\ndata: {"requested":1,"firstAvailable":3}\n\nid: 3\nevent: progress\ndata: {"message":"second run"}\n\n',
		)
		// The running run is whole; the pruned one still answers its snapshot, and its stream is over.
		expect((await get(first, '/api/workflows/wf-running/events')).events).toHaveLength(1)
		expect(await get(first, '/api/workflows/wf-old')).toEqual(before)
		expect((await get(first, '/api/workflows/wf-old/events')).events).toEqual([])
		expect((await fetch(streamUrl(first, 'workflows/wf-old'), { headers: auth() })).status).toBe(
			204,
		)
		// Ids are never reused.
		expect((await publish(first, 'agents/a', { event: 'progress' })).body.ids).toEqual([4])

		await first.kill('SIGKILL')
		await using second = await first.restart()
		expect(await get(second, '/api/workflows/wf-old')).toEqual(before)
		await using again = await openStream(second, 'agents/a', { 'last-event-id': '1' })
		await again.until((s) => s.events().length === 3)
		expect(again.frames()[1]).toEqual({ event: 'gap', data: '{"requested":2,"firstAvailable":3}' })
	}, 30_000)

	it('tells a feed that resumes from before the oldest kept event about the gap', async () => {
		await using server = await startServer({ args: ['--retention', '1s'] })
		await publish(server, 'workflows/w1', [
			{ event: 'step_start', data: { stepId: 'a' } },
			{ event: 'complete' },
		])
		await Bun.sleep(1_200)
		await publish(server, 'agents/a', { event: 'progress' })
		expect((await prune(server)).body).toEqual({ prunedEvents: 2, prunedStreams: 1 })
		await using feed = await RawStream.open(`${server.url}/api/streaming/events`, {
			...auth(),
			'last-event-id': '0',
		})
		await feed.until((s) => s.events().length === 2)
		expect(feed.text).toBe(
			'retry: 1000\n\nevent: gap\ndata: {"requested":1,"firstAvailable":3}\n\n' +
				'id: 3\nevent: progress\ndata: {"stream":"agents/a","id":1,"data":{}}\n\n',
		)
	})

	it('never hands a feed a pruned event, from memory or the store, and gaps to the first one kept after the cursor', async () => {
		await using server = await startServer({ args: ['--retention', '1s'] })
		// A feed at the head keeps every event in the server's shared tail.
		await using live = await RawStream.open(`${server.url}/api/streaming/events`, auth())
		await live.until((s) => s.text.startsWith('retry:'))
		// Cursors 1 to 6, the ended agent's and the running one's interleaved.
		for (const [stream, event] of [
			['agents/old', 'progress'],
			['agents/live', 'progress'],
			['agents/old', 'progress'],
			['agents/live', 'progress'],
			['agents/old', 'complete'],
		])
			await publish(server, stream, { event })
		await Bun.sleep(1_200)
		await publish(server, 'agents/live', { event: 'progress' })
		await live.until((s) => s.events().length === 6)
		expect((await prune(server)).body).toEqual({ prunedEvents: 3, prunedStreams: 1 })
		const ids = (s: RawStream) => s.events().map((f) => f.id ?? `gap ${f.data}`)

		await using fromStart = await RawStream.open(`${server.url}/api/streaming/events`, {
			...auth(),
			'last-event-id': '0',
		})
		await fromStart.until((s) => s.events().length === 4)
		expect(ids(fromStart)).toEqual(['gap {"requested":1,"firstAvailable":2}', '2', '4', '6'])

		// Resumed between kept events, where the next one was pruned: the gap names the next kept.
		await using between = await RawStream.open(`${server.url}/api/streaming/events`, {
			...auth(),
			'last-event-id': '2',
		})
		await between.until((s) => s.events().length === 3)
		expect(ids(between)).toEqual(['gap {"requested":3,"firstAvailable":4}', '4', '6'])

		// The same over WebSocket.
		const ws = new WebSocket(
			`${server.url.replace('http', 'ws')}/api/ws?access_token=${server.token}`,
		)
		const messages: Array<Record<string, unknown>> = []
		ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)))
		await new Promise((resolve) => {
			ws.onopen = resolve
		})
		ws.send(JSON.stringify({ subscribe: [], after: 2 }))
		await eventually(() => messages.length === 3)
		expect(messages.map((m) => m.cursor ?? m.gap)).toEqual([
			{ requested: 3, firstAvailable: 4 },
			4,
			6,
		])
		ws.close()
		// And a new event still reaches everyone.
		await publish(server, 'agents/live', { event: 'progress' })
		await between.until((s) => s.events().length === 4)
		expect(ids(between).at(-1)).toBe('7')
	}, 30_000)

	// On Postgres the server holds no stream rows at all: the database keeps them.
	it.skipIf(onPostgres)(
		'gives back what the server held for the streams it prunes: rows, folds and heap',
		async () => {
			await using server = await startServer({ args: ['--retention', '1s'] })
			const heap = () => metric(server, 'cortex_memory_heap_bytes')
			const STREAMS = 8_000
			let next = 0
			await Promise.all(
				Array.from({ length: 16 }, async () => {
					for (let i = next++; i < STREAMS; i = next++)
						await publish(
							server,
							i % 2 ? `workflows/run-${i}` : `agents/agent-${i}`,
							i % 2
								? [
										{ event: 'step_start', data: { stepId: 'a', message: 'x'.repeat(200) } },
										{ event: 'complete' },
									]
								: [
										{ event: 'progress', data: { message: 'y'.repeat(200) } },
										{ event: 'complete' },
									],
						)
				}),
			)
			// Every page of both lists: the server folds a snapshot of each.
			for (const kind of ['agents', 'workflows']) {
				let page: string | null = ''
				while (page !== null) {
					const res: Response = await fetch(
						`${server.url}/api/${kind}?limit=1000${page ? `&page=${page}` : ''}`,
						{ headers: auth() },
					)
					page = (await res.json()).next
				}
			}
			expect(await metric(server, 'cortex_streams_in_memory')).toBe(STREAMS)
			expect(await metric(server, 'cortex_snapshot_folds')).toBe(2_048)
			const peak = await heap()
			await Bun.sleep(1_100)
			expect((await prune(server)).body).toEqual({
				prunedEvents: 2 * STREAMS,
				prunedStreams: STREAMS,
			})
			expect(await metric(server, 'cortex_streams_in_memory')).toBe(0)
			expect(await metric(server, 'cortex_snapshot_folds')).toBe(0)
			// Collected at the end of the prune: the heap is back near what a fresh server holds.
			expect(await heap()).toBeLessThan(0.8 * peak)
			// Every pruned stream still answers, from the table, and takes the next id.
			const run = await (
				await fetch(`${server.url}/api/workflows/run-7`, { headers: auth() })
			).json()
			expect(run).toMatchObject({ id: 'run-7', status: 'complete' })
			expect((await publish(server, 'agents/agent-4', { event: 'progress' })).body.ids).toEqual([3])
			expect(await metric(server, 'cortex_streams_in_memory')).toBe(1)
		},
		60_000,
	)

	it('prunes nothing without --retention, and only for admin tokens', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a', { event: 'complete' })
		expect(await prune(server)).toEqual({
			status: 200,
			body: { prunedEvents: 0, prunedStreams: 0 },
		})
		const ticket = await (
			await fetch(`${server.url}/api/tickets`, {
				method: 'POST',
				headers: auth(),
				body: '{"streams":["*"]}',
			})
		).json()
		expect((await prune(server, ticket.ticket)).status).toBe(403)
	})
})
