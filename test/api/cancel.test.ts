import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import {
	auth,
	onPostgres,
	openStream,
	publish,
	RawStream,
	startServer,
	streamUrl,
	type TestServer,
} from '../helpers.ts'

const READER = 'cancel-reader-token'
const OTHER_PUBLISHER = 'cancel-publisher-of-others'

let server: TestServer
beforeAll(async () => {
	server = await startServer({
		tokens: [
			{ token: READER, scopes: ['read'], streams: ['*'] },
			{ token: OTHER_PUBLISHER, scopes: ['read', 'publish'], streams: ['agents/others-*'] },
		],
	})
})
afterAll(async () => {
	await server[Symbol.asyncDispose]()
})

/** POSTs a cancel request; `body` undefined sends none. Returns status, headers and parsed body. */
async function cancel(
	on: { url: string; token?: string },
	stream: string,
	body?: unknown,
	headers: Record<string, string> = auth(on.token),
) {
	const res = await fetch(`${on.url}/api/${stream}/cancel`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', ...headers },
		body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
	})
	const text = await res.text()
	return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined }
}

/** The stream's stored events, as `[id, type, data]`. */
async function stored(stream: string, on: TestServer = server) {
	const res = await fetch(`${on.url}/api/${stream}/events?limit=1000`, { headers: auth() })
	if (res.status === 404) return []
	const page = (await res.json()) as {
		events: Array<{ id: number; event: string; data: unknown }>
	}
	return page.events.map((e) => [e.id, e.event, e.data])
}

describe('POST /api/agents/:name/cancel', () => {
	it('appends cancel_requested to the running execution and answers 202 with its id; watchers see it live', async () => {
		await publish(server, 'agents/c1', { event: 'progress', data: { progress: 0.2 } })
		await using watcher = await openStream(server, 'agents/c1')
		await watcher.until((s) => s.events().length === 1, 10_000, 'the first event')

		const res = await cancel(server, 'agents/c1', { reason: 'user clicked stop' })
		expect(res.status).toBe(202)
		expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
		expect(res.body).toEqual({ id: 2 })

		await watcher.until((s) => s.events().length === 2, 10_000, 'the cancel_requested event')
		expect(watcher.events()[1]).toEqual({
			id: '2',
			event: 'cancel_requested',
			data: '{"reason":"user clicked stop"}',
		})
		// It does not end the run: the stream stays open, and the snapshot still says running.
		expect(watcher.done).toBe(false)
		const snapshot = await (await fetch(`${server.url}/api/agents/c1`, { headers: auth() })).json()
		expect(snapshot).toMatchObject({ status: 'running', lastEventId: 2, progress: 0.2 })
		expect(Object.keys(snapshot).sort()).toEqual([
			'execution',
			'lastEventId',
			'message',
			'name',
			'progress',
			'status',
			'updatedAt',
		])
	})

	it("tells the runner in its next publish's 201, until the execution ends; the next starts clean", async () => {
		await publish(server, 'agents/c2', { event: 'progress' })
		expect((await publish(server, 'agents/c2', { event: 'progress' })).body).toEqual({ ids: [2] })
		expect((await cancel(server, 'agents/c2', { reason: 'budget' })).body).toEqual({ id: 3 })

		const next = await publish(server, 'agents/c2', { event: 'progress', data: { progress: 0.5 } })
		expect(next.status).toBe(201)
		expect(next.body).toEqual({ ids: [4], cancelRequested: { reason: 'budget', id: 3 } })
		// A batch too, and a custom event.
		const batch = await publish(server, 'agents/c2', [{ event: 'progress' }, { event: 'note' }])
		expect(batch.body).toEqual({ ids: [5, 6], cancelRequested: { reason: 'budget', id: 3 } })

		// The runner ends the run: the answer to that publish has no cancelRequested any more.
		const end = await publish(server, 'agents/c2', {
			event: 'cancelled',
			data: { reason: 'budget' },
		})
		expect(end.body).toEqual({ ids: [7] })
		// The next execution starts without one.
		expect((await publish(server, 'agents/c2', { event: 'progress' })).body).toEqual({ ids: [8] })

		// A batch that ends the execution and starts the next gets none either.
		expect((await cancel(server, 'agents/c2')).body).toEqual({ id: 9 })
		const over = await publish(server, 'agents/c2', [
			{ event: 'complete', data: { result: 'done anyway' } },
			{ event: 'progress' },
		])
		expect(over.body).toEqual({ ids: [10, 11] })
	})

	it('takes no body, {} or a reason, and says cancelRequested without a reason when none was given', async () => {
		for (const [i, body] of [undefined, {}, '', { reason: '' }].entries()) {
			const stream = `agents/c3-${i}`
			await publish(server, stream, { event: 'progress' })
			const res = await cancel(server, stream, body)
			expect([i, res.status, res.body]).toEqual([i, 202, { id: 2 }])
			const next = await publish(server, stream, { event: 'progress' })
			const data = body && typeof body === 'object' && 'reason' in body ? { reason: '' } : {}
			expect([i, next.body]).toEqual([i, { ids: [3], cancelRequested: { ...data, id: 2 } }])
			expect(await stored(stream)).toContainEqual([2, 'cancel_requested', data])
		}
	})

	it('answers a second cancel while one is pending with the first one’s id, appending nothing', async () => {
		await publish(server, 'agents/c4', { event: 'progress' })
		expect(await cancel(server, 'agents/c4', { reason: 'first' })).toMatchObject({
			status: 202,
			body: { id: 2 },
		})
		expect(await cancel(server, 'agents/c4', { reason: 'second' })).toMatchObject({
			status: 202,
			body: { id: 2 },
		})
		// Many at once, as a dashboard's double click or several watchers would send them.
		await publish(server, 'agents/c4b', { event: 'progress' })
		const all = await Promise.all(
			Array.from({ length: 8 }, (_, i) => cancel(server, 'agents/c4b', { reason: `r${i}` })),
		)
		expect(new Set(all.map((r) => `${r.status} ${r.body.id}`))).toEqual(new Set(['202 2']))
		expect(await stored('agents/c4')).toEqual([
			[1, 'progress', {}],
			[2, 'cancel_requested', { reason: 'first' }],
		])
		expect((await stored('agents/c4b')).filter(([, type]) => type === 'cancel_requested')).toEqual([
			[2, 'cancel_requested', { reason: expect.stringMatching(/^r[0-7]$/) }],
		])
		// The reason of the first one stands.
		expect((await publish(server, 'agents/c4', { event: 'progress' })).body).toEqual({
			ids: [3],
			cancelRequested: { reason: 'first', id: 2 },
		})
	})

	it('answers 409 not_running when nothing runs: no events yet, or the execution has ended', async () => {
		const fresh = await cancel(server, 'agents/c5-never', { reason: 'x' })
		expect(fresh.status).toBe(409)
		expect(fresh.body.error.code).toBe('not_running')
		// It did not make the stream exist.
		expect((await fetch(`${server.url}/api/agents/c5-never`, { headers: auth() })).status).toBe(404)

		for (const end of [
			{ event: 'complete', data: { result: 'ok' } },
			{ event: 'failed', data: { message: 'boom' } },
			{ event: 'cancelled' },
		]) {
			const stream = `agents/c5-${end.event}`
			await publish(server, stream, [{ event: 'progress' }, end])
			const res = await cancel(server, stream)
			expect([end.event, res.status, res.body.error.code]).toEqual([end.event, 409, 'not_running'])
			expect((await stored(stream)).length).toBe(2)
		}
	})

	it('refuses an unauthenticated caller 401, a read-only token, a ticket or a token for other streams 403', async () => {
		await publish(server, 'agents/others-1', { event: 'progress' })
		const none = await cancel(server, 'agents/others-1', {}, {})
		expect(none.status).toBe(401)
		expect(none.headers.get('www-authenticate')).toBe('Bearer realm="cortex-stream"')
		expect(none.body.error.code).toBe('unauthorized')
		expect((await cancel(server, 'agents/others-1', {}, auth('nope'))).status).toBe(401)

		const reader = await cancel(server, 'agents/others-1', {}, auth(READER))
		expect([reader.status, reader.body.error.code]).toEqual([403, 'forbidden'])

		const made = await fetch(`${server.url}/api/tickets`, {
			method: 'POST',
			headers: auth(),
			body: JSON.stringify({ streams: ['agents/*'] }),
		})
		const { ticket } = (await made.json()) as { ticket: string }
		const byTicket = await cancel(server, 'agents/others-1', {}, auth(ticket))
		expect([byTicket.status, byTicket.body.error.code]).toEqual([403, 'forbidden'])

		await publish(server, 'agents/c6', { event: 'progress' })
		const elsewhere = await cancel(server, 'agents/c6', {}, auth(OTHER_PUBLISHER))
		expect([elsewhere.status, elsewhere.body.error.code]).toEqual([403, 'forbidden'])
		// Its own streams it may cancel.
		expect((await cancel(server, 'agents/others-1', {}, auth(OTHER_PUBLISHER))).status).toBe(202)
		expect(await stored('agents/c6')).toEqual([[1, 'progress', {}]])
	})

	it('answers 400 naming the field for a bad body, 413 past 64 KiB, and appends nothing', async () => {
		await publish(server, 'agents/c7', { event: 'progress' })
		const cases: Array<[unknown, string, string | undefined]> = [
			[{ reason: 5 }, 'bad_request', '/reason'],
			[{ reason: null }, 'bad_request', '/reason'],
			[{ reason: ['a'] }, 'bad_request', '/reason'],
			[{ reason: 'x'.repeat(1001) }, 'bad_request', '/reason'],
			[{ reason: 'ok', why: 'typo' }, 'bad_request', '/why'],
			[{ 'a/b': 1 }, 'bad_request', '/a~1b'],
			[[{ reason: 'x' }], 'bad_request', undefined],
			['"stop"', 'bad_request', undefined],
			['null', 'bad_request', undefined],
			['{"reason": ', 'malformed_json', undefined],
		]
		for (const [body, code, field] of cases) {
			const res = await cancel(server, 'agents/c7', body)
			expect([body, res.status, res.body.error.code, res.body.error.field]).toEqual([
				body,
				400,
				code,
				field,
			])
		}
		const big = await cancel(server, 'agents/c7', { reason: 'x'.repeat(70_000) })
		expect([big.status, big.body.error.code]).toEqual([413, 'payload_too_large'])
		const badName = await cancel(server, 'agents/a%20b', {})
		expect([badName.status, badName.body.error.code]).toEqual([400, 'bad_request'])
		expect(await stored('agents/c7')).toEqual([[1, 'progress', {}]])

		// 1,000 characters is the bound, counted as characters, not UTF-16 units or bytes.
		const long = '🛑'.repeat(1000)
		expect((await cancel(server, 'agents/c7', { reason: long })).status).toBe(202)
		expect((await publish(server, 'agents/c7', { event: 'progress' })).body).toEqual({
			ids: [3],
			cancelRequested: { reason: long, id: 2 },
		})
	})

	it('answers an Idempotency-Key replay of a publish with the cancel as it is now', async () => {
		const key = { 'idempotency-key': 'c8-progress' }
		await publish(server, 'agents/c8', { event: 'progress' })
		const first = await publish(server, 'agents/c8', { event: 'progress' }, key)
		expect(first.body).toEqual({ ids: [2] })
		await cancel(server, 'agents/c8', { reason: 'now' })
		const again = await publish(server, 'agents/c8', { event: 'progress' }, key)
		expect(again.status).toBe(201)
		expect(again.headers.get('idempotent-replayed')).toBe('true')
		expect(again.body).toEqual({ ids: [2], cancelRequested: { reason: 'now', id: 3 } })
		await publish(server, 'agents/c8', { event: 'complete' })
		const after = await publish(server, 'agents/c8', { event: 'progress' }, key)
		expect(after.body).toEqual({ ids: [2] })
	})
})

describe('POST /api/workflows/:id/cancel', () => {
	it('asks the run to stop; its steps learn of it; the runner ends it; then 409', async () => {
		await publish(server, 'workflows/wf-c1', { event: 'step_start', data: { stepId: 's1' } })
		await using watcher = await RawStream.open(streamUrl(server, 'workflows/wf-c1'), auth())
		const res = await cancel(server, 'workflows/wf-c1', { reason: 'deploy frozen' })
		expect([res.status, res.body]).toEqual([202, { id: 2 }])
		await watcher.until((s) => s.events().length === 2, 10_000, 'cancel_requested')
		expect(watcher.events()[1]).toEqual({
			id: '2',
			event: 'cancel_requested',
			data: '{"reason":"deploy frozen"}',
		})
		expect((await cancel(server, 'workflows/wf-c1')).body).toEqual({ id: 2 })

		const step = await publish(server, 'workflows/wf-c1', {
			event: 'step_failed',
			data: { stepId: 's1', message: 'stopped' },
		})
		expect(step.body).toEqual({ ids: [3], cancelRequested: { reason: 'deploy frozen', id: 2 } })
		const end = await publish(server, 'workflows/wf-c1', {
			event: 'cancelled',
			data: { reason: 'deploy frozen' },
		})
		expect(end.body).toEqual({ ids: [4] })
		await watcher.untilEnded()

		const late = await cancel(server, 'workflows/wf-c1')
		expect([late.status, late.body.error.code]).toEqual([409, 'not_running'])
		const snapshot = await (
			await fetch(`${server.url}/api/workflows/wf-c1`, { headers: auth() })
		).json()
		expect(snapshot).toMatchObject({ status: 'cancelled', lastEventId: 4 })
	})

	it('answers 409 not_running for a run that does not exist, or has ended', async () => {
		const none = await cancel(server, 'workflows/wf-c2-none')
		expect([none.status, none.body.error.code]).toEqual([409, 'not_running'])
		await publish(server, 'workflows/wf-c2', { event: 'complete' })
		const ended = await cancel(server, 'workflows/wf-c2', { reason: 'too late' })
		expect([ended.status, ended.body.error.code]).toEqual([409, 'not_running'])
		expect(await stored('workflows/wf-c2')).toEqual([[1, 'complete', {}]])
		expect(
			(await fetch(`${server.url}/api/workflows/wf-c2-none`, { headers: auth() })).status,
		).toBe(404)
	})
})

describe('a pending cancel across a crash', () => {
	// Right after the cancel, the stream's row in a SQLite file still lags the log (the log
	// brings it up to date on open); a second later the row holds the cancel itself.
	for (const [what, wait] of [
		['right after the cancel', 0],
		['once the stream row was written', 1_200],
	] as const)
		it(`still tells the runner after kill -9 and a restart, ${what}`, async () => {
			await using first = await startServer()
			await publish(first, 'agents/crash', { event: 'progress' })
			await publish(first, 'workflows/wf-crash', { event: 'step_start', data: { stepId: 'a' } })
			expect((await cancel(first, 'agents/crash', { reason: 'kill it' })).body).toEqual({ id: 2 })
			expect((await cancel(first, 'workflows/wf-crash')).body).toEqual({ id: 2 })
			if (wait > 0) {
				await Bun.sleep(wait)
				// A commit writes the rows once they are a second behind.
				await publish(first, 'agents/other', { event: 'progress' })
			}
			await first.kill('SIGKILL')

			await using second = await first.restart()
			// A second request still answers the pending one.
			expect((await cancel(second, 'agents/crash', { reason: 'again' })).body).toEqual({ id: 2 })
			expect((await publish(second, 'agents/crash', { event: 'progress' })).body).toEqual({
				ids: [3],
				cancelRequested: { reason: 'kill it', id: 2 },
			})
			expect(
				(
					await publish(second, 'workflows/wf-crash', {
						event: 'step_progress',
						data: { stepId: 'a' },
					})
				).body,
			).toEqual({ ids: [3], cancelRequested: { id: 2 } })
			await publish(second, 'agents/crash', { event: 'cancelled' })
			await second.kill('SIGKILL')

			await using third = await second.restart()
			expect((await publish(third, 'agents/crash', { event: 'progress' })).body).toEqual({
				ids: [5],
			})
			expect(await stored('agents/crash', third)).toEqual([
				[1, 'progress', {}],
				[2, 'cancel_requested', { reason: 'kill it' }],
				[3, 'progress', {}],
				[4, 'cancelled', {}],
				[5, 'progress', {}],
			])
		}, 60_000)
})

describe('several instances on one Postgres database', () => {
	it.skipIf(!onPostgres)(
		'tell a runner publishing to one of a cancel taken by another',
		async () => {
			await using a = await startServer()
			await using b = await startServer({ dbPath: a.dbPath })
			// Each instance has the stream in hand before the cancel.
			await publish(a, 'agents/shared', { event: 'progress' })
			expect((await publish(b, 'agents/shared', { event: 'progress' })).body).toEqual({ ids: [2] })
			expect((await cancel(a, 'agents/shared', { reason: 'from a' })).body).toEqual({ id: 3 })
			expect((await cancel(b, 'agents/shared', { reason: 'from b' })).body).toEqual({ id: 3 })
			expect((await publish(b, 'agents/shared', { event: 'progress' })).body).toEqual({
				ids: [4],
				cancelRequested: { reason: 'from a', id: 3 },
			})
			await publish(b, 'agents/shared', { event: 'cancelled' })
			expect((await publish(a, 'agents/shared', { event: 'progress' })).body).toEqual({ ids: [6] })
		},
		30_000,
	)
})

describe('a pending cancel and retention', () => {
	it('survives a prune of the execution before it, and a crash right after', async () => {
		await using first = await startServer({ args: ['--retention', '1s'] })
		await publish(first, 'agents/kept', [{ event: 'progress' }, { event: 'complete' }])
		await Bun.sleep(1_200)
		await publish(first, 'agents/kept', { event: 'progress' })
		expect((await cancel(first, 'agents/kept', { reason: 'pruned before' })).body).toEqual({
			id: 4,
		})
		const pruned = await fetch(`${first.url}/api/admin/prune`, { method: 'POST', headers: auth() })
		expect(await pruned.json()).toMatchObject({ prunedEvents: 2 })
		await first.kill('SIGKILL')

		await using second = await first.restart()
		expect((await publish(second, 'agents/kept', { event: 'progress' })).body).toEqual({
			ids: [5],
			cancelRequested: { reason: 'pruned before', id: 4 },
		})
	}, 30_000)
})

describe('a full store', () => {
	it.skipIf(onPostgres)(
		'answers a cancel 507 storage_full, appending nothing',
		async () => {
			await using full = await startServer({ args: ['--max-db-bytes', String(128 * 1024)] })
			await publish(full, 'agents/run', { event: 'progress' })
			// Filled with large events, then with events the size of a cancel request, until no page is left.
			for (const size of [8_000, 40]) {
				let status = 201
				for (let i = 0; i < 2_000 && status === 201; i++)
					status = (
						await publish(full, 'agents/filler', {
							event: 'progress',
							data: { message: `${i}`.padEnd(size, 'x') },
						})
					).status
				expect(status).toBe(507)
			}
			const res = await cancel(full, 'agents/run', { reason: 'x'.repeat(40) })
			expect([res.status, res.body.error.code]).toEqual([507, 'storage_full'])
			expect(await stored('agents/run', full)).toEqual([[1, 'progress', {}]])
		},
		60_000,
	)
})
