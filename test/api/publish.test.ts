import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import {
	auth,
	metric,
	openStream,
	publish,
	rawHttp,
	startServer,
	type TestServer,
} from '../helpers.ts'

let server: TestServer
beforeAll(async () => {
	server = await startServer({ args: ['--max-body', '200000'] })
})
afterAll(() => server[Symbol.asyncDispose]())

/** The stream's last id, from a snapshot, to prove a rejected request appended nothing. */
async function lastId(stream: string): Promise<number | undefined> {
	const res = await fetch(`${server.url}/api/${stream}`, { headers: auth() })
	return res.status === 404 ? undefined : (await res.json()).lastEventId
}

describe('publishing', () => {
	it('answers 201 with the ids of a single event and of a batch', async () => {
		expect(
			await publish(server, 'agents/p1', { event: 'progress', data: { progress: 0.1 } }),
		).toMatchObject({
			status: 201,
			body: { ids: [1] },
		})
		const batch = await publish(
			server,
			'agents/p1',
			Array.from({ length: 1000 }, (_, i) => ({ event: 'custom_tick', data: { i } })),
		)
		expect(batch.status).toBe(201)
		expect(batch.body.ids).toEqual(Array.from({ length: 1000 }, (_, i) => i + 2))
	})

	it('keeps unknown fields and custom event types as they were sent', async () => {
		const data = {
			progress: 1,
			message: 'done',
			extra: { nested: [1, 'two', null] },
			'ünïcode ✓': '🚀',
		}
		await publish(server, 'agents/keep', { event: 'progress', data })
		await publish(server, 'agents/keep', { event: 'tool_call_42', data: { tool: 'grep' } })
		const page = await (
			await fetch(`${server.url}/api/agents/keep/events`, { headers: auth() })
		).json()
		expect(page.events.map((e: { event: string; data: unknown }) => [e.event, e.data])).toEqual([
			['progress', data],
			['tool_call_42', { tool: 'grep' }],
		])
	})

	const invalid: Array<[string, unknown, string | undefined, string]> = [
		['malformed JSON', '{"event": "progress"', undefined, 'malformed_json'],
		['an empty body', '', undefined, 'malformed_json'],
		['a body that is not an event', '"progress"', undefined, 'invalid_event'],
		['an empty array', [], undefined, 'invalid_event'],
		[
			'a batch over 1000',
			Array.from({ length: 1001 }, () => ({ event: 'progress' })),
			undefined,
			'invalid_event',
		],
		['a client id', { id: 5, event: 'progress' }, '/id', 'invalid_event'],
		[
			'a client id in a batch',
			[{ event: 'progress' }, { id: 2, event: 'progress' }],
			'/1/id',
			'invalid_event',
		],
		['an unknown envelope field', { event: 'progress', date: {} }, '/date', 'invalid_event'],
		['a missing type', { data: {} }, '/event', 'invalid_event'],
		['a bad type name', { event: 'Progress' }, '/event', 'invalid_event'],
		['a type name too long', { event: `a${'b'.repeat(64)}` }, '/event', 'invalid_event'],
		['data that is not an object', { event: 'progress', data: [1] }, '/data', 'invalid_event'],
		['data null', { event: 'progress', data: null }, '/data', 'invalid_event'],
		[
			'progress over 1',
			[{ event: 'progress' }, { event: 'progress', data: { progress: 1.5 } }],
			'/1/data/progress',
			'invalid_event',
		],
		[
			'progress below 0',
			{ event: 'progress', data: { progress: -0.1 } },
			'/data/progress',
			'invalid_event',
		],
		[
			'a null message',
			{ event: 'progress', data: { message: null } },
			'/data/message',
			'invalid_event',
		],
		[
			'a step that is a number',
			{ event: 'progress', data: { step: 3 } },
			'/data/step',
			'invalid_event',
		],
		[
			'a negative duration',
			{ event: 'complete', data: { duration: -1 } },
			'/data/duration',
			'invalid_event',
		],
		[
			'failed without message',
			{ event: 'failed', data: { code: 'E1' } },
			'/data/message',
			'invalid_event',
		],
		[
			'a code that is a number',
			{ event: 'failed', data: { message: 'x', code: 1 } },
			'/data/code',
			'invalid_event',
		],
		[
			'a reason that is not a string',
			{ event: 'cancelled', data: { reason: false } },
			'/data/reason',
			'invalid_event',
		],
		[
			'a step event on an agent',
			{ event: 'step_start', data: { stepId: 'a' } },
			'/event',
			'invalid_event',
		],
		['the reserved type gap', { event: 'gap' }, '/event', 'invalid_event'],
		[
			'the reserved type error',
			{ event: 'error', data: { message: 'x' } },
			'/event',
			'invalid_event',
		],
		[
			'cancel_requested from a publisher, in a batch',
			[{ event: 'progress' }, { event: 'cancel_requested', data: { reason: 'x' } }],
			'/1/event',
			'invalid_event',
		],
		[
			'data over 64 KiB',
			{ event: 'progress', data: { message: 'é'.repeat(33_000) } },
			'/data',
			'invalid_event',
		],
	]
	for (const [what, body, field, code] of invalid)
		it(`answers 400 to ${what}, naming the field, and appends nothing`, async () => {
			const before = await lastId('agents/p2')
			const res = await publish(server, 'agents/p2', body)
			expect(res.status).toBe(400)
			expect(res.body.error.code).toBe(code)
			expect(typeof res.body.error.message).toBe('string')
			expect(res.body.error.field).toBe(field)
			expect(await lastId('agents/p2')).toBe(before)
		})

	const workflowInvalid: Array<[string, unknown, string]> = [
		['step_start without stepId', { event: 'step_start', data: { name: 'x' } }, '/data/stepId'],
		[
			'step_progress over 1',
			{ event: 'step_progress', data: { stepId: 's', progress: 2 } },
			'/data/progress',
		],
		[
			'step_complete with a numeric stepId',
			{ event: 'step_complete', data: { stepId: 3, result: 'x' } },
			'/data/stepId',
		],
		[
			'step_failed without message',
			{ event: 'step_failed', data: { stepId: 's' } },
			'/data/message',
		],
	]
	for (const [what, body, field] of workflowInvalid)
		it(`answers 400 to ${what}`, async () => {
			const res = await publish(server, 'workflows/wf-bad', body)
			expect(res.status).toBe(400)
			expect(res.body.error.field).toBe(field)
			expect(await lastId('workflows/wf-bad')).toBeUndefined()
		})

	it('accepts data of exactly 64 KiB and the null result of complete', async () => {
		const message = 'x'.repeat(64 * 1024 - '{"message":""}'.length)
		expect(
			(await publish(server, 'agents/edge', { event: 'progress', data: { message } })).status,
		).toBe(201)
		expect(
			(await publish(server, 'agents/edge', { event: 'complete', data: { result: null } })).status,
		).toBe(201)
	})

	it('answers 400 to a bad name, including percent-encoded path tricks', async () => {
		for (const name of ['a%2Fb', '%252F', 'a%20b', 'x'.repeat(129), 'caf%C3%A9']) {
			const res = await fetch(`${server.url}/api/agents/${name}/events`, {
				method: 'POST',
				headers: auth(),
				body: '{"event":"progress"}',
			})
			expect(res.status).toBe(400)
			expect((await res.json()).error.code).toBe('bad_request')
		}
		const ok = await fetch(`${server.url}/api/agents/${'x'.repeat(128)}/events`, {
			method: 'POST',
			headers: auth(),
			body: '{"event":"progress"}',
		})
		expect(ok.status).toBe(201)
		const encoded = await fetch(`${server.url}/api/agents/a%3Ab/events`, {
			method: 'POST',
			headers: auth(),
			body: '{"event":"progress"}',
		})
		expect(encoded.status).toBe(201)
		expect(await lastId('agents/a:b')).toBe(1)
		// fetch() folds `.` and `%2e` segments away; a raw request does not.
		for (const name of ['.', '..', '%2E%2E', '%2e']) {
			const raw = await rawHttp(
				server.port,
				`POST /api/agents/${name}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.token}\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{"event":"progress"}`,
			)
			expect(raw.status).toBe(400)
		}
	})

	it('answers 413 to a body over --max-body, declared or chunked', async () => {
		const big = JSON.stringify(
			Array.from({ length: 5 }, () => ({
				event: 'progress',
				data: { message: 'x'.repeat(50_000) },
			})),
		)
		const declared = await publish(server, 'agents/big', big)
		expect(declared.status).toBe(413)
		expect(declared.body.error.code).toBe('payload_too_large')
		const chunks = new ReadableStream({
			start(c) {
				for (let i = 0; i < 5; i++)
					c.enqueue(new TextEncoder().encode(big.slice(i * 60_000, (i + 1) * 60_000)))
				c.close()
			},
		})
		const chunked = await fetch(`${server.url}/api/agents/big/events`, {
			method: 'POST',
			headers: auth(),
			body: chunks,
		})
		expect(chunked.status).toBe(413)
		expect(await lastId('agents/big')).toBeUndefined()
	})
})

describe('a step result', () => {
	it('is any JSON, as a complete result is', async () => {
		const results = [{ issues: 3 }, [1, 'two'], 42, true, null, 'text']
		const res = await publish(
			server,
			'workflows/wf-results',
			results.map((result, i) => ({ event: 'step_complete', data: { stepId: `s${i}`, result } })),
		)
		expect(res.status).toBe(201)
		const page = await (
			await fetch(`${server.url}/api/workflows/wf-results/events`, { headers: auth() })
		).json()
		expect(page.events.map((e: { data: { result: unknown } }) => e.data.result)).toEqual(results)
	})
})

describe('Idempotency-Key', () => {
	it('knows a retry whose encoder wrote the same events otherwise: key order, spacing, numbers, one event or an array of it', async () => {
		const key = { 'idempotency-key': 'encoded-otherwise' }
		const first = await publish(
			server,
			'agents/idem-enc',
			'{"event":"progress","data":{"message":"m","progress":0.5,"meta":{"a":1,"b":[{"x":1,"y":2}]}}}',
			key,
		)
		expect(first.status).toBe(201)
		for (const retry of [
			'{"data":{"meta":{"b":[{"y":2,"x":1}],"a":1},"progress":0.5,"message":"m"},"event":"progress"}',
			'[ { "event" : "progress" , "data" : { "progress" : 5e-1, "meta" : { "a" : 1.0, "b" : [ { "x" : 1, "y" : 2 } ] }, "message" : "m" } } ]',
		]) {
			const again = await publish(server, 'agents/idem-enc', retry, key)
			expect(again).toMatchObject({ status: 201, body: first.body })
			expect(again.headers.get('idempotent-replayed')).toBe('true')
		}
		// Another order of the events themselves is another body.
		const other = await publish(
			server,
			'agents/idem-enc',
			'{"event":"progress","data":{"message":"m","progress":0.5,"meta":{"a":1,"b":[{"x":2,"y":1}]}}}',
			key,
		)
		expect(other.status).toBe(422)
		expect(await lastId('agents/idem-enc')).toBe(1)
	})

	it('appends a retried request once and answers it with the first response', async () => {
		const body = [
			{ event: 'progress', data: { progress: 0.5 } },
			{ event: 'progress', data: { progress: 0.6 } },
		]
		const first = await publish(server, 'agents/idem', body, { 'idempotency-key': 'req-1' })
		const again = await publish(server, 'agents/idem', body, { 'idempotency-key': 'req-1' })
		expect(first.status).toBe(201)
		expect(again).toMatchObject({ status: 201, body: first.body })
		expect(again.headers.get('idempotent-replayed')).toBe('true')
		expect(await lastId('agents/idem')).toBe(2)
		// The key is scoped to its stream.
		const elsewhere = await publish(server, 'agents/idem-other', body, {
			'idempotency-key': 'req-1',
		})
		expect(elsewhere.body.ids).toEqual([1, 2])
	})

	it('answers 422 to the same key with a different body', async () => {
		await publish(server, 'agents/idem2', { event: 'progress' }, { 'idempotency-key': 'k' })
		const res = await publish(
			server,
			'agents/idem2',
			{ event: 'progress', data: { x: 1 } },
			{ 'idempotency-key': 'k' },
		)
		expect(res.status).toBe(422)
		expect(res.body.error.code).toBe('idempotency_key_reused')
		expect(await lastId('agents/idem2')).toBe(1)
	})

	it('makes concurrent repeats wait for the first and share its answer', async () => {
		const body = { event: 'progress', data: { message: 'once' } }
		const answers = await Promise.all(
			Array.from({ length: 20 }, () =>
				publish(server, 'agents/idem3', body, { 'idempotency-key': 'same' }),
			),
		)
		expect(new Set(answers.map((a) => JSON.stringify([a.status, a.body])))).toEqual(
			new Set([JSON.stringify([201, { ids: [1] }])]),
		)
		expect(await lastId('agents/idem3')).toBe(1)
	})

	it('rejects a malformed key', async () => {
		for (const key of ['x'.repeat(129), 'tab\there']) {
			const res = await publish(
				server,
				'agents/idem4',
				{ event: 'progress' },
				{ 'idempotency-key': key },
			)
			expect(res.status).toBe(400)
		}
		expect(await lastId('agents/idem4')).toBeUndefined()
	})

	it('delivers a retried event once to a subscriber', async () => {
		await using s = await openStream(server, 'agents/idem5')
		for (let i = 0; i < 3; i++)
			await publish(
				server,
				'agents/idem5',
				{ event: 'progress', data: { n: 1 } },
				{ 'idempotency-key': 'retry' },
			)
		await publish(server, 'agents/idem5', { event: 'progress', data: { n: 2 } })
		await s.until((x) => x.events().length >= 2)
		await Bun.sleep(50)
		expect(s.events().map((f) => f.data)).toEqual(['{"n":1}', '{"n":2}'])
		expect(await metric(server, 'cortex_idempotent_replays_total')).toBeGreaterThanOrEqual(2)
	})
})
