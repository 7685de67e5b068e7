import { describe, expect, it } from 'bun:test'
import { CortexConnectionError, CortexRequestError, publish } from '../../client/src/index.ts'
import { startServer } from '../helpers.ts'

/** Settles with `promise`'s value or error, or with 'timed out' after `ms`, so no test hangs. */
const within = (promise: Promise<unknown>, ms: number) =>
	Promise.race([
		promise.catch((error: unknown) => error),
		Bun.sleep(ms).then(() => 'timed out' as const),
	])

/** A port that nothing listens on: one a server just let go of. */
function freePort() {
	const probe = Bun.serve({ port: 0, fetch: () => new Response() })
	const port = probe.port as number
	probe.stop(true)
	return port
}

interface Answer {
	status: number
	headers?: Record<string, string>
	body?: unknown
}

/**
 * A stand-in for the network in front of the server: answers the requests with `answers` in
 * turn, the last one from then on, and records when each came and with which Idempotency-Key.
 */
function stub(answers: Answer[]) {
	const requests: Array<{ at: number; key: string | null; body: string }> = []
	const server = Bun.serve({
		port: 0,
		async fetch(req) {
			requests.push({
				at: performance.now(),
				key: req.headers.get('idempotency-key'),
				body: await req.text(),
			})
			const answer = answers[Math.min(requests.length, answers.length) - 1]
			return Response.json(answer.body ?? {}, { status: answer.status, headers: answer.headers })
		},
	})
	return {
		url: server.url.href.replace(/\/$/, ''),
		requests,
		[Symbol.dispose]: () => server.stop(true),
	}
}

const unavailable = (retryAfter: string): Answer => ({
	status: 503,
	headers: { 'retry-after': retryAfter },
	body: { error: { code: 'unavailable', message: 'draining' } },
})

describe('publish retries', () => {
	it('waits out a server restart and stores the event exactly once', async () => {
		await using first = await startServer()
		await first.kill()
		const options = { url: first.url, token: first.token }
		// Caught at once: a rejection while the test sleeps must fail this test, not the run.
		const pending = publish('agents/restart', { event: 'progress', data: { n: 1 } }, options).catch(
			(error: unknown) => error,
		)
		// Longer than the 1.5-3.1 s the client used to give up after, so this cannot pass by luck.
		await Bun.sleep(3_500)
		await using second = await first.restart()
		expect(await within(pending, 15_000)).toEqual({ ids: [1] })
		const page = await (
			await fetch(`${second.url}/api/agents/restart/events`, {
				headers: { authorization: `Bearer ${second.token}` },
			})
		).json()
		expect(page.events.map((e: { id: number; data: unknown }) => [e.id, e.data])).toEqual([
			[1, { n: 1 }],
		])
	}, 30_000)

	it('gives up after retryForMs with a CortexConnectionError naming the URL', async () => {
		const url = `http://127.0.0.1:${freePort()}`
		const started = performance.now()
		const error = await within(
			publish('agents/nowhere', { event: 'progress' }, { url, retryForMs: 1_000 }),
			10_000,
		)
		const took = performance.now() - started
		expect(error).toBeInstanceOf(CortexConnectionError)
		const e = error as CortexConnectionError
		expect(e.name).toBe('CortexConnectionError')
		expect(e.url).toBe(`${url}/api/agents/nowhere/events`)
		expect(e.message).toStartWith(`could not reach ${url}/api/agents/nowhere/events after 1`)
		expect(e.cause).toBeInstanceOf(Error)
		expect(took).toBeGreaterThan(900)
		expect(took).toBeLessThan(3_000)
	}, 15_000)

	it('stops at once when its signal aborts', async () => {
		const controller = new AbortController()
		const pending = publish(
			'agents/nowhere',
			{ event: 'progress' },
			{ url: `http://127.0.0.1:${freePort()}`, signal: controller.signal },
		)
		await Bun.sleep(300)
		const aborted = performance.now()
		controller.abort(new Error('the run was cancelled'))
		expect(await within(pending, 5_000)).toMatchObject({ message: 'the run was cancelled' })
		expect(performance.now() - aborted).toBeLessThan(200)
	})

	it('retries a 503 after its Retry-After, with the same Idempotency-Key', async () => {
		using server = stub([unavailable('1'), { status: 201, body: { ids: [7] } }])
		expect(
			await within(publish('agents/a', { event: 'complete' }, { url: server.url }), 10_000),
		).toEqual({ ids: [7] })
		const [first, second] = server.requests
		expect(server.requests).toHaveLength(2)
		expect(first.key).toBeString()
		expect(second.key).toBe(first.key)
		expect(second.body).toBe(first.body)
		expect(second.at - first.at).toBeGreaterThan(950)
		expect(second.at - first.at).toBeLessThan(2_000)
	}, 15_000)

	it('gives up at once with the 503 when its Retry-After is past the deadline', async () => {
		using server = stub([unavailable('5'), { status: 201, body: { ids: [7] } }])
		const started = performance.now()
		const error = await within(
			publish('agents/a', { event: 'complete' }, { url: server.url, retryForMs: 2_000 }),
			10_000,
		)
		expect(error).toBeInstanceOf(CortexRequestError)
		expect(error).toMatchObject({
			status: 503,
			code: 'unavailable',
			url: `${server.url}/api/agents/a/events`,
		})
		expect(performance.now() - started).toBeLessThan(1_000)
		expect(server.requests).toHaveLength(1)
	}, 15_000)

	it('sends once with retryForMs: 0', async () => {
		using server = stub([{ status: 500 }, { status: 201, body: { ids: [7] } }])
		const error = await within(
			publish('agents/a', { event: 'complete' }, { url: server.url, retryForMs: 0 }),
			10_000,
		)
		expect(error).toMatchObject({ name: 'CortexRequestError', status: 500, code: 'http_500' })
		expect(server.requests).toHaveLength(1)
	}, 15_000)
})
