import { describe, expect, it } from 'bun:test'
import fc from 'fast-check'
import { auth, openStream, startServer } from './helpers.ts'

const RUNS = 150
const OK = new Set([200, 201, 204, 400, 401, 403, 404, 409, 413, 422])

/** Streams the fuzzer aims at: a few valid names, so events pile up, and anything at all. */
const streamName = fc.oneof(
	fc.constantFrom('agents/f1', 'agents/f2', 'workflows/w1', 'workflows/w2'),
	fc
		.tuple(fc.constantFrom('agents', 'workflows', 'nope'), fc.string({ maxLength: 140 }))
		.map(([k, n]) => `${k}/${encodeURIComponent(n)}`),
)
const eventType = fc.oneof(
	fc.constantFrom(
		'progress',
		'complete',
		'failed',
		'cancelled',
		'step_start',
		'step_progress',
		'step_complete',
		'step_failed',
		'custom_x',
	),
	fc.string({ maxLength: 70 }),
)
const event = fc.record(
	{ event: eventType, data: fc.oneof(fc.object(), fc.jsonValue()), id: fc.integer() },
	{ requiredKeys: [] },
)
const body = fc.oneof(event, fc.array(event, { maxLength: 5 }), fc.jsonValue(), fc.string())

describe('fuzzing every endpoint', () => {
	it('never answers 5xx, never half-writes a batch, never shows a subscriber an event twice', async () => {
		await using server = await startServer()
		await using watcher = await openStream(server, 'agents/f1', { 'last-event-id': '0' })
		const appended = new Map<string, number>()

		await fc.assert(
			fc.asyncProperty(
				streamName,
				body,
				fc.option(fc.string({ maxLength: 130 })),
				async (stream, payload, key) => {
					const res = await fetch(`${server.url}/api/${stream}/events`, {
						method: 'POST',
						headers: {
							...auth(),
							...(key !== null && /^[\x20-\x7e]*$/.test(key) && { 'idempotency-key': key }),
						},
						body: typeof payload === 'string' ? payload : JSON.stringify(payload),
					})
					expect(OK.has(res.status)).toBe(true)
					const answer = await res.json()
					if (res.status === 201 && res.headers.get('idempotent-replayed') !== 'true')
						appended.set(stream, (appended.get(stream) ?? 0) + answer.ids.length)
				},
			),
			{ numRuns: RUNS },
		)

		await fc.assert(
			fc.asyncProperty(
				streamName,
				fc.string({ maxLength: 20 }),
				fc.string({ maxLength: 40 }),
				async (stream, lastId, token) => {
					const path = stream.startsWith('nope') ? stream : `streaming/${stream}/stream`
					for (const headers of [
						{ ...auth(), 'last-event-id': lastId.replace(/[\r\n]/g, '') },
						{ authorization: `Bearer ${token.replace(/[\r\n]/g, '')}` },
					]) {
						const res = await fetch(
							`${server.url}/api/${path}?lastEventId=${encodeURIComponent(lastId)}`,
							{
								headers,
								signal: AbortSignal.timeout(2_000),
							},
						)
						expect(OK.has(res.status)).toBe(true)
						await res.body?.cancel()
					}
				},
			),
			{ numRuns: RUNS },
		)

		// Snapshots, event pages, tickets and the feed, with anything in their parameters and bodies.
		await fc.assert(
			fc.asyncProperty(
				streamName,
				fc.string({ maxLength: 20 }),
				fc.string({ maxLength: 20 }),
				fc.oneof(fc.jsonValue(), fc.string()),
				fc.array(fc.string({ maxLength: 30 }), { maxLength: 4 }),
				async (stream, after, limit, ticketBody, match) => {
					const q = (s: string) => encodeURIComponent(s)
					const matchQuery = match.map((m) => `match=${q(m)}`).join('&')
					const requests: Array<[string, RequestInit]> = [
						[`/api/${stream}`, {}],
						[`/api/${stream}/events?after=${q(after)}&limit=${q(limit)}`, {}],
						[
							`/api/tickets`,
							{
								method: 'POST',
								body: typeof ticketBody === 'string' ? ticketBody : JSON.stringify(ticketBody),
							},
						],
						[
							`/api/streaming/events?${matchQuery}&lastEventId=${q(after)}`,
							{ signal: AbortSignal.timeout(1_000) },
						],
					]
					for (const [path, init] of requests) {
						const res = await fetch(`${server.url}${path}`, { ...init, headers: auth() })
						expect([path, OK.has(res.status)]).toEqual([path, true])
						await res.body?.cancel()
					}
				},
			),
			{ numRuns: RUNS },
		)

		// The WebSocket feed with any first message, and the remaining routes with any token.
		await fc.assert(
			fc.asyncProperty(
				fc.oneof(fc.jsonValue(), fc.string()),
				fc.string({ maxLength: 40 }),
				async (message, token) => {
					const ws = new WebSocket(
						`${server.url.replace('http', 'ws')}/api/ws?access_token=${server.token}`,
					)
					await new Promise<void>((resolve, reject) => {
						ws.onopen = () => resolve()
						ws.onerror = () => reject(new Error('the WebSocket did not open'))
					})
					ws.send(typeof message === 'string' ? message : JSON.stringify(message))
					await Bun.sleep(5)
					ws.close()
					for (const [method, path] of [
						['POST', '/api/admin/prune'],
						['GET', '/healthz'],
						['GET', '/metrics'],
						['GET', '/openapi.json'],
						['GET', '/'],
					]) {
						const res = await fetch(`${server.url}${path}`, {
							method,
							headers: { authorization: `Bearer ${token.replace(/[\r\n]/g, '')}` },
						})
						expect([path, OK.has(res.status)]).toEqual([path, true])
						await res.body?.cancel()
					}
				},
			),
			{ numRuns: 50 },
		)

		// What the 201s added is exactly what the streams hold: nothing half-written.
		for (const [stream, count] of appended) {
			const res = await fetch(`${server.url}/api/${stream}`, { headers: auth() })
			expect([stream, (await res.json()).lastEventId]).toEqual([stream, count])
		}
		const ids = watcher.events().map((e) => Number(e.id))
		expect(ids).toEqual([...new Set(ids)].sort((a, b) => a - b))
		expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
	}, 120_000)
})
