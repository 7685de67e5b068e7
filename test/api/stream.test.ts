import { describe, expect, it } from 'bun:test'
import {
	auth,
	eventually,
	metric,
	openStream,
	publish,
	RawStream,
	stalledClient,
	startServer,
	streamUrl,
	untilStalledDropped,
} from '../helpers.ts'

describe('the wire format of the brief', () => {
	it('streams an agent execution byte for byte as the brief shows it', async () => {
		await using server = await startServer()
		await using stream = await openStream(server, 'agents/my-agent')
		expect(stream.status).toBe(200)
		expect(stream.headers.get('content-type')).toBe('text/event-stream')
		expect(stream.headers.get('cache-control')).toBe('no-cache, no-transform')
		expect(stream.headers.get('x-accel-buffering')).toBe('no')
		await publish(server, 'agents/my-agent', {
			event: 'progress',
			data: { step: 'analyzing', message: 'Reading codebase...', progress: 0.2 },
		})
		await publish(server, 'agents/my-agent', [
			{
				event: 'progress',
				data: { step: 'implementing', message: 'Writing code...', progress: 0.5 },
			},
			{ event: 'complete', data: { result: 'Task completed successfully', duration: 12500 } },
		])
		await stream.untilEnded()
		expect(stream.text).toBe(
			'retry: 1000\n\n' +
				'id: 1\nevent: progress\ndata: {"step":"analyzing","message":"Reading codebase...","progress":0.2}\n\n' +
				'id: 2\nevent: progress\ndata: {"step":"implementing","message":"Writing code...","progress":0.5}\n\n' +
				'id: 3\nevent: complete\ndata: {"result":"Task completed successfully","duration":12500}\n\n',
		)
	})

	it('streams a workflow run byte for byte, and keeps it open between steps', async () => {
		await using server = await startServer({ args: ['--retry-ms', '2500'] })
		await publish(server, 'workflows/wf-123', [
			{
				event: 'step_start',
				data: { stepId: 'step-1', name: 'Code Review', agent: 'reviewer-agent' },
			},
			{
				event: 'step_progress',
				data: { stepId: 'step-1', progress: 0.75, message: 'Found 3 issues' },
			},
			{
				event: 'step_complete',
				data: { stepId: 'step-1', result: '3 issues found', duration: 8000 },
			},
		])
		await using stream = await openStream(server, 'workflows/wf-123')
		await publish(server, 'workflows/wf-123', {
			event: 'step_start',
			data: { stepId: 'step-2', name: 'Fix Issues', agent: 'coder-agent' },
		})
		await stream.until((s) => s.text.includes('id: 4\n'))
		expect(stream.text).toBe(
			'retry: 2500\n\n' +
				'id: 1\nevent: step_start\ndata: {"stepId":"step-1","name":"Code Review","agent":"reviewer-agent"}\n\n' +
				'id: 2\nevent: step_progress\ndata: {"stepId":"step-1","progress":0.75,"message":"Found 3 issues"}\n\n' +
				'id: 3\nevent: step_complete\ndata: {"stepId":"step-1","result":"3 issues found","duration":8000}\n\n' +
				'id: 4\nevent: step_start\ndata: {"stepId":"step-2","name":"Fix Issues","agent":"coder-agent"}\n\n',
		)
		expect(stream.done).toBe(false)
	})

	it('cannot be made to forge an event through a data string', async () => {
		await using server = await startServer()
		const evil = 'x\n\nid: 99\nevent: complete\ndata: {}\n\r\n ✓🚀\u2028'
		const res = await publish(server, 'agents/a', {
			event: 'progress',
			data: { message: evil, [evil]: evil },
		})
		expect(res.status).toBe(201)
		const forged = await publish(server, 'agents/a', {
			event: 'progress\n\nevent: complete',
			data: {},
		})
		expect(forged.status).toBe(400)
		expect(forged.body.error.field).toBe('/event')
		await using stream = await openStream(server, 'agents/a')
		await stream.until((s) => s.events().length === 1)
		const frames = stream.events()
		expect(frames).toHaveLength(1)
		expect(frames[0].id).toBe('1')
		expect(frames[0].event).toBe('progress')
		expect(JSON.parse(frames[0].data as string).message).toBe(evil)
		expect(stream.text.split('\n').filter((l) => l.startsWith('event:'))).toEqual([
			'event: progress',
		])
		expect(stream.text).not.toContain('\r')
	})
})

describe('ids, order and resume', () => {
	it('numbers events from 1 without gaps under concurrent publishers', async () => {
		await using server = await startServer()
		const publishers = 8
		const each = 25
		const results = await Promise.all(
			Array.from({ length: publishers }, (_, p) =>
				(async () => {
					const ids: number[] = []
					for (let i = 0; i < each; i++) {
						const batch = i % 5 === 0 ? 3 : 1
						const res = await publish(
							server,
							'agents/busy',
							Array.from({ length: batch }, (_, b) => ({
								event: 'progress',
								data: { message: `${p}-${i}-${b}` },
							})),
						)
						expect(res.status).toBe(201)
						ids.push(...res.body.ids)
					}
					return ids
				})(),
			),
		)
		const all = results.flat().sort((a, b) => a - b)
		expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1))
		// Each publisher's own events keep their order, and a batch's ids are consecutive.
		for (const ids of results) expect([...ids].sort((a, b) => a - b)).toEqual(ids)
		// Concurrent requests shared commits.
		expect(await metric(server, 'cortex_store_commits_total')).toBeLessThan(publishers * each)
		// The stream replays them all in id order, each message once.
		await using stream = await openStream(server, 'agents/busy')
		await stream.until((s) => s.events().length === all.length)
		expect(stream.events().map((f) => Number(f.id))).toEqual(all)
		const messages = stream.events().map((f) => JSON.parse(f.data as string).message)
		expect(new Set(messages).size).toBe(all.length)
	})

	it('resumes from every position with the header or ?lastEventId=, the header winning', async () => {
		await using server = await startServer()
		const n = 12
		for (let i = 1; i <= n; i++)
			await publish(server, 'workflows/run', {
				event: 'step_progress',
				data: { stepId: 's', message: `m${i}` },
			})
		for (let from = 0; from <= n + 1; from++) {
			const viaHeader = await openStream(server, 'workflows/run', { 'last-event-id': String(from) })
			const viaQuery = await openStream(server, 'workflows/run', {}, `?lastEventId=${from}`)
			const both = await openStream(
				server,
				'workflows/run',
				{ 'last-event-id': String(from) },
				'?lastEventId=0',
			)
			const expected = Array.from({ length: Math.max(0, n - from) }, (_, i) => String(from + i + 1))
			for (const s of [viaHeader, viaQuery, both]) {
				await s.until((x) => x.events().length >= expected.length && x.text.startsWith('retry:'))
				await Bun.sleep(expected.length === 0 ? 50 : 0)
				expect(s.events().map((f) => f.id)).toEqual(expected)
				await s.close()
			}
		}
	})

	it('treats an empty Last-Event-ID as absent', async () => {
		await using server = await startServer()
		await publish(server, 'workflows/w', [
			{ event: 'step_start', data: { stepId: 'a' } },
			{ event: 'step_start', data: { stepId: 'b' } },
		])
		await using s = await openStream(
			server,
			'workflows/w',
			{ 'last-event-id': '' },
			'?lastEventId=',
		)
		await s.until((x) => x.events().length === 2)
		expect(s.events().map((f) => f.id)).toEqual(['1', '2'])
	})

	it('starts an agent stream at its current execution, finished or not', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a', [
			{ event: 'progress', data: { message: 'first run' } },
			{ event: 'failed', data: { message: 'boom' } },
			{ event: 'progress', data: { message: 'second run' } },
		])
		await using live = await openStream(server, 'agents/a')
		await live.until((s) => s.events().length === 1)
		expect(live.events()[0].id).toBe('3')
		await publish(server, 'agents/a', { event: 'complete', data: { result: null } })
		await live.untilEnded()
		expect(live.events().map((f) => f.id)).toEqual(['3', '4'])
		// Finished: a new watcher gets the last execution whole, then the end.
		await using late = await openStream(server, 'agents/a')
		await late.untilEnded()
		expect(late.events().map((f) => [f.id, f.event])).toEqual([
			['3', 'progress'],
			['4', 'complete'],
		])
		// Terminal events of earlier executions met during a replay do not end it.
		await using replay = await openStream(server, 'agents/a', { 'last-event-id': '0' })
		await replay.untilEnded()
		expect(replay.events().map((f) => f.id)).toEqual(['1', '2', '3', '4'])
	})

	it('waits, on a running stream, for the events past a Last-Event-ID ahead of it', async () => {
		await using server = await startServer()
		await publish(server, 'agents/ahead', [{ event: 'progress' }, { event: 'progress' }])
		await using s = await openStream(server, 'agents/ahead', { 'last-event-id': '4' })
		expect(s.status).toBe(200)
		await s.until((x) => x.text === 'retry: 1000\n\n')
		await publish(server, 'agents/ahead', [
			{ event: 'progress', data: { progress: 0.3 } },
			{ event: 'progress', data: { progress: 0.4 } },
			{ event: 'complete', data: { result: 5 } },
		])
		// Ids are never reused: 3 and 4 are not what this client asked for.
		await s.untilEnded()
		expect(s.events().map((f) => [f.id, f.event])).toEqual([['5', 'complete']])
	})

	it('waits on a stream that has no events yet instead of answering 404', async () => {
		await using server = await startServer()
		await using s = await openStream(server, 'agents/later')
		expect(s.status).toBe(200)
		await s.until((x) => x.text === 'retry: 1000\n\n')
		await publish(server, 'agents/later', { event: 'progress' })
		await s.until((x) => x.events().length === 1)
		expect(s.events()[0]).toEqual({ id: '1', event: 'progress', data: '{}' })
	})
})

describe('the end of a run', () => {
	it('ends the response after a terminal event, then answers 204 to a reconnect', async () => {
		await using server = await startServer()
		await using s = await openStream(server, 'workflows/done')
		await publish(server, 'workflows/done', [
			{ event: 'step_start', data: { stepId: 'a' } },
			{ event: 'cancelled', data: { reason: 'user' } },
		])
		await s.untilEnded()
		expect(s.events().map((f) => f.event)).toEqual(['step_start', 'cancelled'])
		for (const last of ['2', '3', '99']) {
			const res = await fetch(streamUrl(server, 'workflows/done'), {
				headers: { ...auth(), 'last-event-id': last },
			})
			expect(res.status).toBe(204)
			expect(await res.text()).toBe('')
		}
		const earlier = await RawStream.open(streamUrl(server, 'workflows/done'), {
			...auth(),
			'last-event-id': '1',
		})
		await earlier.untilEnded()
		expect(earlier.events().map((f) => f.id)).toEqual(['2'])
	})

	it('answers 409 to events after a workflow run ended, appending nothing', async () => {
		await using server = await startServer()
		await publish(server, 'workflows/w', { event: 'complete', data: { result: 'ok' } })
		const after = await publish(server, 'workflows/w', {
			event: 'step_start',
			data: { stepId: 'x' },
		})
		expect(after.status).toBe(409)
		expect(after.body.error.code).toBe('stream_ended')
		const batch = await publish(server, 'workflows/w2', [
			{ event: 'step_start', data: { stepId: 'x' } },
			{ event: 'failed', data: { message: 'no' } },
			{ event: 'step_start', data: { stepId: 'y' } },
		])
		expect(batch.status).toBe(409)
		const list = await fetch(`${server.url}/api/workflows/w2`, { headers: auth() })
		expect(list.status).toBe(404)
	})

	it('lets an agent start a new execution after a terminal event', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a', { event: 'complete' })
		const next = await publish(server, 'agents/a', { event: 'progress', data: { progress: 0.1 } })
		expect(next.status).toBe(201)
		expect(next.body.ids).toEqual([2])
	})
})

describe('keeping a stream alive', () => {
	it('sends a heartbeat comment while silent', async () => {
		await using server = await startServer({ args: ['--heartbeat-ms', '50'] })
		await using s = await openStream(server, 'agents/quiet')
		await s.until((x) => x.text.includes(': heartbeat\n\n'))
		expect(s.text.startsWith('retry: 1000\n\n: heartbeat\n\n')).toBe(true)
	})

	it('outlives the runtime idle timeout when silent for longer than 10 s', async () => {
		await using server = await startServer({ args: ['--heartbeat-ms', '60000'] })
		await using s = await openStream(server, 'agents/silent')
		// Bun checks idle connections on a coarse timer: a 10 s timeout closes them within 20 s.
		await Bun.sleep(21_000)
		expect(s.done).toBe(false)
		await publish(server, 'agents/silent', { event: 'progress', data: { message: 'still here' } })
		await s.until((x) => x.events().length === 1)
		expect(s.text).toBe('retry: 1000\n\nid: 1\nevent: progress\ndata: {"message":"still here"}\n\n')
	}, 30_000)

	it('releases what a subscriber held when its client disconnects', async () => {
		await using server = await startServer()
		const streams = await Promise.all(
			Array.from({ length: 5 }, () => openStream(server, 'agents/a')),
		)
		await Promise.all(streams.map((s) => s.until((x) => x.text.startsWith('retry:'))))
		expect(await metric(server, 'cortex_open_streams')).toBe(5)
		expect(await metric(server, 'cortex_streams_with_subscribers')).toBe(1)
		await Promise.all(streams.map((s) => s.close()))
		await eventually(
			async () => (await metric(server, 'cortex_open_streams')) === 0,
			5_000,
			'open streams to drop to 0',
		)
		expect(await metric(server, 'cortex_streams_with_subscribers')).toBe(0)
	})

	it('does not read ahead for a client that stops reading', async () => {
		await using server = await startServer()
		// A client that never reads: the server may only fill the socket buffers.
		const socket = await stalledClient(server, '/api/streaming/agents/big/stream')
		await eventually(async () => (await metric(server, 'cortex_open_streams')) === 1)
		const payload = 'x'.repeat(60_000)
		for (let i = 0; i < 40; i++)
			expect(
				(
					await publish(
						server,
						'agents/big',
						Array.from({ length: 10 }, () => ({ event: 'progress', data: { message: payload } })),
					)
				).status,
			).toBe(201)
		await Bun.sleep(300)
		const delivered = await metric(server, 'cortex_events_delivered_total')
		// 400 events of 60 kB are 24 MB; what was handed to the socket stays near its buffers.
		expect(delivered).toBeLessThan(200)
		socket.destroy()
	})

	it('drops a client that stopped reading once a whole tail is waiting for it, and no one else', async () => {
		await using server = await startServer({ args: ['--heartbeat-ms', '100'] })
		const socket = await stalledClient(server, '/api/streaming/agents/slow/stream')
		let closed = false
		socket.on('close', () => {
			closed = true
		})
		await using reader = await openStream(server, 'agents/slow')
		await eventually(async () => (await metric(server, 'cortex_open_streams')) === 2)
		const payload = 'y'.repeat(4_000)
		for (let i = 0; i < 30; i++)
			await publish(
				server,
				'agents/slow',
				Array.from({ length: 100 }, () => ({ event: 'progress', data: { message: payload } })),
			)
		await reader.until(
			(s) => s.events().length === 3000,
			20_000,
			'the reading client to get every event',
		)
		await untilStalledDropped(server, 'the stalled stream to close')
		// The server closed the connection: reading what it had sent ends at the close.
		socket.resume()
		await eventually(() => closed, 10_000, 'the stalled connection to close')
		expect(reader.done).toBe(false)
		socket.destroy()
	}, 30_000)
})
