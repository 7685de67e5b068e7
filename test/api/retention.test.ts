import { describe, expect, it } from 'bun:test'
import {
	auth,
	metric,
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
