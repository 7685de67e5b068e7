import { describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import {
	CortexRequestError,
	Publisher,
	publish,
	type StreamEvent,
	subscribe,
} from '../../client/src/index.ts'
import { eventually, metric, ROOT, startServer, type TestServer, tempDir } from '../helpers.ts'

const client = (server: TestServer) => ({ url: server.url, token: server.token })

async function collect(iterable: AsyncIterable<unknown>, into: unknown[] = []) {
	for await (const e of iterable) into.push(e)
	return into
}

describe('publish', () => {
	it('appends events and resolves with their ids', async () => {
		await using server = await startServer()
		expect(
			await publish('agents/sdk', { event: 'progress', data: { progress: 0.5 } }, client(server)),
		).toEqual({ ids: [1] })
		expect(
			await publish(
				'agents/sdk',
				[{ event: 'custom_x', data: { a: 1 } }, { event: 'complete' }],
				client(server),
			),
		).toEqual({
			ids: [2, 3],
		})
	})

	it('resolves with cancelRequested while someone has asked the execution to stop', async () => {
		await using server = await startServer()
		await publish('agents/stop', { event: 'progress' }, client(server))
		const cancel = await fetch(`${server.url}/api/agents/stop/cancel`, {
			method: 'POST',
			headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
			body: JSON.stringify({ reason: 'from the dashboard' }),
		})
		expect(cancel.status).toBe(202)
		expect(await publish('agents/stop', { event: 'progress' }, client(server))).toEqual({
			ids: [3],
			cancelRequested: { id: 2, reason: 'from the dashboard' },
		})
		expect(await publish('agents/stop', { event: 'cancelled' }, client(server))).toEqual({
			ids: [4],
		})
	})

	it('rejects with the contract error, field included', async () => {
		await using server = await startServer()
		const error = await publish(
			'agents/sdk',
			{ event: 'progress', data: { progress: 2 } },
			client(server),
		).catch((e) => e)
		expect(error).toBeInstanceOf(CortexRequestError)
		expect(error).toMatchObject({ status: 400, code: 'invalid_event', field: '/data/progress' })
		const denied = await publish(
			'agents/sdk',
			{ event: 'progress' },
			{ url: server.url, token: 'wrong' },
		).catch((e) => e)
		expect(denied).toMatchObject({ status: 401, code: 'unauthorized' })
	})

	it('retries a request whose answer was lost without appending twice', async () => {
		await using server = await startServer()
		let calls = 0
		// The request reaches the server, then the connection "drops" before the answer arrives.
		const lossy: typeof fetch = Object.assign(
			async (input: RequestInfo | URL, init?: RequestInit) => {
				const res = await fetch(input, init)
				if (++calls <= 2) throw new TypeError('connection reset')
				return res
			},
			{ preconnect: fetch.preconnect },
		)
		const { ids } = await publish(
			'agents/lossy',
			{ event: 'progress', data: { message: 'once' } },
			{ ...client(server), fetch: lossy },
		)
		expect(ids).toEqual([1])
		expect(calls).toBe(3)
		const next = await publish('agents/lossy', { event: 'progress' }, client(server))
		expect(next.ids).toEqual([2])
	})
})

describe('subscribe', () => {
	it('yields typed events in order and ends after the terminal event', async () => {
		await using server = await startServer()
		await publish(
			'workflows/wf-sdk',
			[{ event: 'step_start', data: { stepId: 's1', name: 'Review' } }],
			client(server),
		)
		const seen = collect(subscribe('workflows/wf-sdk', client(server)))
		await publish(
			'workflows/wf-sdk',
			[
				{ event: 'step_complete', data: { stepId: 's1', duration: 5 } },
				{ event: 'complete', data: { result: 'ok' } },
			],
			client(server),
		)
		expect(await seen).toEqual([
			{ id: 1, event: 'step_start', data: { stepId: 's1', name: 'Review' } },
			{ id: 2, event: 'step_complete', data: { stepId: 's1', duration: 5 } },
			{ id: 3, event: 'complete', data: { result: 'ok' } },
		])
		// Resuming at the end of an ended run gets 204, and the iterator ends with nothing.
		expect(
			await collect(subscribe('workflows/wf-sdk', { ...client(server), lastEventId: 3 })),
		).toEqual([])
	})

	it('stops when its signal aborts, and the server lets go', async () => {
		await using server = await startServer()
		const controller = new AbortController()
		const seen: unknown[] = []
		const done = collect(
			subscribe('agents/quiet', { ...client(server), signal: controller.signal }),
			seen,
		)
		await publish('agents/quiet', { event: 'progress' }, client(server))
		await eventually(() => seen.length === 1)
		controller.abort()
		await done
		await eventually(async () => (await metric(server, 'cortex_open_streams')) === 0)
	})

	it('throws a refusal instead of retrying it', async () => {
		await using server = await startServer()
		const error = await collect(subscribe('agents/x', { url: server.url, token: 'nope' })).catch(
			(e) => e,
		)
		expect(error).toMatchObject({ status: 401 })
	})

	it('delivers every acknowledged event exactly once across kill -9 and a restart', async () => {
		await using first = await startServer({ args: ['--retry-ms', '100'] })
		const seen: StreamEvent[] = []
		const done = collect(subscribe('agents/crash', client(first)), seen as unknown[])
		const acked: number[] = []
		for (let i = 0; i < 50; i++)
			acked.push(
				...(await publish('agents/crash', { event: 'progress', data: { i } }, client(first))).ids,
			)
		await first.kill('SIGKILL')
		await using second = await first.restart()
		for (let i = 50; i < 100; i++)
			acked.push(
				...(await publish('agents/crash', { event: 'progress', data: { i } }, client(second))).ids,
			)
		acked.push(...(await publish('agents/crash', { event: 'complete' }, client(second))).ids)
		await done
		expect(seen.map((e) => e.id)).toEqual(acked)
		expect(seen.slice(0, 100).map((e) => (e.data as { i: number }).i)).toEqual(
			Array.from({ length: 100 }, (_, i) => i),
		)
	}, 30_000)
})

describe('subscribe against a server that prunes', () => {
	it("reports a gap, follows the server's retry: and resumes with Last-Event-ID", async () => {
		// A stand-in for a server whose retention pruned ids 1-8 (the contract's gap event), which
		// drops the first connection after one event and asks for a 50 ms reconnect delay.
		const requests: Array<{ lastEventId: string | null; at: number }> = []
		using server = Bun.serve({
			port: 0,
			fetch(req) {
				requests.push({ lastEventId: req.headers.get('last-event-id'), at: performance.now() })
				const body =
					requests.length === 1
						? 'retry: 50\n\nevent: gap\ndata: {"requested":1,"firstAvailable":9}\n\nid: 9\nevent: progress\ndata: {"progress":0.5}\n\n'
						: 'id: 10\nevent: complete\ndata: {"result":"ok"}\n\n'
				return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
			},
		})
		const seen = await collect(subscribe('agents/pruned', { url: server.url.href, lastEventId: 0 }))
		expect(seen).toEqual([
			{ event: 'gap', data: { requested: 1, firstAvailable: 9 } },
			{ id: 9, event: 'progress', data: { progress: 0.5 } },
			{ id: 10, event: 'complete', data: { result: 'ok' } },
		])
		expect(requests.map((r) => r.lastEventId)).toEqual(['0', '9'])
		expect(requests[1].at - requests[0].at).toBeLessThan(500)
	})
})

describe('Publisher', () => {
	it('coalesces a burst of progress into few requests, keeping the last value and the terminal event', async () => {
		await using server = await startServer()
		const p = new Publisher('agents/chatty', { ...client(server), progressPerSecond: 10 })
		p.send('step_note', { note: 'start' })
		for (let i = 1; i <= 10_000; i++) p.progress({ progress: i / 10_000, message: `item ${i}` })
		p.send('complete', { result: 'done' })
		await p.close()
		expect(p.requests).toBeLessThan(10)
		const page = await (
			await fetch(`${server.url}/api/agents/chatty/events?limit=1000`, {
				headers: { authorization: `Bearer ${server.token}` },
			})
		).json()
		const events = page.events.map((e: { event: string; data: unknown }) => [e.event, e.data])
		expect(events[0]).toEqual(['step_note', { note: 'start' }])
		expect(events.at(-2)).toEqual(['progress', { progress: 1, message: 'item 10000' }])
		expect(events.at(-1)).toEqual(['complete', { result: 'done' }])
		expect(events.length).toBeLessThan(10)
	})

	it('keeps the order of calls and never drops a non-progress event', async () => {
		await using server = await startServer()
		const p = new Publisher('workflows/wf-pub', {
			...client(server),
			progressPerSecond: 1000,
			maxBatch: 7,
		})
		for (let s = 0; s < 20; s++) {
			p.send('step_start', { stepId: `s${s}` })
			p.send('step_progress', { stepId: `s${s}`, progress: 0.5 })
			p.send('step_complete', { stepId: `s${s}` })
		}
		await p.flush()
		const page = await (
			await fetch(`${server.url}/api/workflows/wf-pub/events?limit=1000`, {
				headers: { authorization: `Bearer ${server.token}` },
			})
		).json()
		expect(page.events).toHaveLength(60)
		expect(page.events.map((e: { data: { stepId: string } }) => e.data.stepId)).toEqual(
			Array.from({ length: 60 }, (_, i) => `s${Math.floor(i / 3)}`),
		)
	})

	it('rejects close() and flush() with the first failure, promptly, and sends nothing after it', async () => {
		// A publisher that spins does so on microtasks, which starves every timer in its process,
		// bun test's own timeout included: so it runs in a child process, killed after 10 s.
		await using server = await startServer()
		using dir = tempDir()
		await Bun.write(
			join(dir.path, 'refused.ts'),
			`import { Publisher } from ${JSON.stringify(join(ROOT, 'client/src/index.ts'))}
const p = new Publisher('agents/refused', { url: process.argv[2], token: process.argv[3] })
p.progress({ progress: 2 })
const first = await p.flush().catch((e) => e)
p.send('complete', { result: 'after the refusal' })
const closed = await p.close().catch((e) => e)
const again = await p.flush().catch((e) => e)
console.log(JSON.stringify({ name: closed?.name, status: closed?.status, field: closed?.field,
  same: closed === first && again === first, requests: p.requests }))`,
		)
		const started = performance.now()
		const proc = Bun.spawn([process.execPath, 'refused.ts', server.url, server.token], {
			cwd: dir.path,
			stdout: 'pipe',
			stderr: 'pipe',
			timeout: 10_000,
			killSignal: 'SIGKILL',
		})
		const [code, out, err] = await Promise.all([
			proc.exited,
			new Response(proc.stdout).text(),
			new Response(proc.stderr).text(),
		])
		expect({ code, signal: proc.signalCode, err }).toEqual({ code: 0, signal: null, err: '' })
		expect(performance.now() - started).toBeLessThan(5_000)
		expect(JSON.parse(out)).toEqual({
			name: 'CortexRequestError',
			status: 400,
			field: '/0/data/progress',
			same: true,
			requests: 1,
		})
		// Nothing after the refusal reached the server: the agent does not even exist.
		const page = await fetch(`${server.url}/api/agents/refused/events`, {
			headers: { authorization: `Bearer ${server.token}` },
		})
		expect(page.status).toBe(404)
	}, 20_000)
})
