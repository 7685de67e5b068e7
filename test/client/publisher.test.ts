import { describe, expect, it } from 'bun:test'
import {
	CortexConnectionError,
	CortexRequestError,
	type OutgoingEvent,
	Publisher,
} from '../../client/src/index.ts'

/**
 * A network that fails while `down` is true (a refused connection, or `status` when set) and
 * otherwise answers 201 with consecutive ids, and `extra` in the answer's body.
 */
function network() {
	const net = {
		down: false,
		status: 0,
		extra: {} as Record<string, unknown>,
		received: [] as OutgoingEvent[][],
		nextId: 1,
		fetch: (async (_input: string | URL | Request, init?: RequestInit) => {
			await Bun.sleep(1)
			// As a real fetch does.
			init?.signal?.throwIfAborted()
			if (net.down && !net.status)
				throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })
			if (net.down)
				return new Response('{"error":{"code":"unavailable","message":"busy"}}', {
					status: net.status,
				})
			const batch = JSON.parse(String(init?.body)) as OutgoingEvent[]
			net.received.push(batch)
			const ids = batch.map(() => net.nextId++)
			return new Response(JSON.stringify({ ids, ...net.extra }), { status: 201 })
		}) as typeof fetch,
	}
	return net
}

const within = <T>(promise: Promise<T>, ms = 10_000) =>
	Promise.race([promise, Bun.sleep(ms).then(() => Promise.reject(new Error('timed out')))])

describe('Publisher: a server away', () => {
	it('with retryForMs Infinity keeps the events through an outage and sends each once, in order', async () => {
		const net = network()
		net.down = true
		const retries: unknown[] = []
		const p = new Publisher('agents/a', {
			fetch: net.fetch,
			retryForMs: Number.POSITIVE_INFINITY,
			onRetry: (e) => retries.push(e),
		})
		for (let i = 0; i < 50; i++) p.send('progress', { message: `line ${i}` })
		await Bun.sleep(400)
		expect(p.retrying).toBeInstanceOf(CortexConnectionError)
		expect(retries.length).toBeGreaterThan(1)
		expect(p.unsent()).toHaveLength(50)
		net.down = false
		p.send('complete', { result: 'ok' })
		await within(p.close())
		expect(p.retrying).toBeUndefined()
		expect(p.unsent()).toEqual([])
		expect(net.received.flat()).toEqual([
			...Array.from({ length: 50 }, (_, i) => ({
				event: 'progress',
				data: { message: `line ${i}` },
			})),
			{ event: 'complete', data: { result: 'ok' } },
		])
	})

	it('past maxQueued drops the oldest waiting progress events, counted, and never another event', async () => {
		const net = network()
		net.down = true
		net.status = 503
		const p = new Publisher('workflows/w', {
			fetch: net.fetch,
			retryForMs: Number.POSITIVE_INFINITY,
			maxQueued: 10,
		})
		p.send('progress', { message: 'in flight' })
		await Bun.sleep(50)
		expect(p.retrying).toBeInstanceOf(CortexRequestError)
		expect((p.retrying as CortexRequestError).status).toBe(503)
		p.send('step_start', { stepId: 's' })
		for (let i = 0; i < 30; i++) p.send('progress', { message: `${i}` })
		p.send('step_complete', { stepId: 's' })
		// The request in flight keeps its event; of the 32 after it, 10 wait.
		expect(p.dropped).toBe(22)
		expect(p.unsent().map((e) => e.data?.message ?? e.event)).toEqual([
			'in flight',
			'step_start',
			...Array.from({ length: 8 }, (_, i) => `${22 + i}`),
			'step_complete',
		])
		net.down = false
		await within(p.close())
		expect(net.received.flat()).toHaveLength(11)
	})

	it('stops at its signal and lists what was not acknowledged, the request in flight first', async () => {
		const net = network()
		net.down = true
		const giveUp = new AbortController()
		const p = new Publisher('agents/a', {
			fetch: net.fetch,
			retryForMs: Number.POSITIVE_INFINITY,
			maxBatch: 2,
			signal: giveUp.signal,
		})
		for (const message of ['a', 'b', 'c']) p.send('progress', { message })
		p.send('complete')
		await Bun.sleep(100)
		giveUp.abort(new Error('enough'))
		expect(await within(p.close()).catch((e: Error) => e.message)).toBe('enough')
		expect(p.unsent().map((e) => e.data?.message ?? e.event)).toEqual(['a', 'b', 'c', 'complete'])
		expect(p.retrying).toBeInstanceOf(CortexConnectionError)
	})
})

describe('Publisher: answers', () => {
	it('passes on a cancel request an answer carries', async () => {
		const net = network()
		net.extra = { cancelRequested: { reason: 'stop', id: 7 } }
		const seen: unknown[] = []
		const p = new Publisher('agents/a', {
			fetch: net.fetch,
			onCancelRequested: (r) => seen.push(r),
		})
		p.send('progress', { message: 'x' })
		await within(p.flush())
		expect(seen).toEqual([{ reason: 'stop', id: 7 }])
		net.extra = {}
		p.send('progress', { message: 'y' })
		await within(p.close())
		expect(seen).toHaveLength(1)
	})

	it('keeps each request under maxBatchBytes, with at least one event in it', async () => {
		const net = network()
		const p = new Publisher('agents/a', { fetch: net.fetch, maxBatchBytes: 300 })
		const big = 'x'.repeat(100)
		for (let i = 0; i < 7; i++) p.send('progress', { message: big })
		p.send('progress', { message: 'y'.repeat(500) })
		await within(p.close())
		expect(net.received.map((batch) => batch.length)).toEqual([1, 2, 2, 2, 1])
		for (const batch of net.received.slice(0, -1))
			expect(JSON.stringify(batch).length).toBeLessThanOrEqual(300 + batch.length)
	})
})
