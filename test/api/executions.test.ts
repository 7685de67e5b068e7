import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { auth, publish, startServer, type TestServer } from '../helpers.ts'

const NARROW = 'executions-narrow-reader'
const PUBLISH_ONLY = 'executions-publisher'

let server: TestServer
beforeAll(async () => {
	server = await startServer({
		tokens: [
			{ token: NARROW, scopes: ['read'], streams: ['agents/mine-*'] },
			{ token: PUBLISH_ONLY, scopes: ['publish'], streams: ['*'] },
		],
	})
})
afterAll(async () => {
	await server[Symbol.asyncDispose]()
})

const get = async (path: string, token = server.token, on: TestServer = server) => {
	const res = await fetch(`${on.url}${path}`, { headers: auth(token) })
	return { status: res.status, body: await res.json() }
}
const executions = async (name: string, query = '', on: TestServer = server) => {
	const res = await get(`/api/agents/${name}/executions${query}`, on.token, on)
	expect(res.status).toBe(200)
	return res.body as { executions: Array<Record<string, unknown>>; next: number | null }
}
/** When each event of an agent was stored, by id. */
const storedAt = async (name: string, on: TestServer = server) =>
	new Map<number, string>(
		(await get(`/api/agents/${name}/events?limit=1000`, on.token, on)).body.events.map(
			(e: { id: number; createdAt: string }) => [e.id, e.createdAt],
		),
	)
/** `count` executions of two events each, `complete` with result `i`, one publish each. */
async function runs(on: TestServer, name: string, count: number) {
	for (let i = 0; i < count; i++)
		await publish(on, `agents/${name}`, [
			{ event: 'progress', data: { message: `run ${i}` } },
			{ event: 'complete', data: { result: i } },
		])
}

describe('GET /api/agents/:name/executions', () => {
	it('lists the executions newest first, each as the fold sees it, the running one without an end', async () => {
		const stream = 'agents/hist'
		// 1-3: complete, its message the last progress that has one, its result.
		await publish(server, stream, [
			{ event: 'progress', data: { message: 'Reading', progress: 0.2 } },
			{ event: 'progress', data: { progress: 0.6 } },
		])
		await Bun.sleep(5)
		await publish(server, stream, { event: 'complete', data: { result: { files: 3 } } })
		// 4-6: failed, its own message; a custom event's message is not a progress message.
		await publish(server, stream, [
			{ event: 'progress', data: { message: 'Writing' } },
			{ event: 'tool_call', data: { message: 'not shown' } },
			{ event: 'failed', data: { message: 'disk full', code: 'ENOSPC' } },
		])
		// 7-9: cancelled without a reason: the last progress message, even when a later progress
		// names "message" deeper in its data.
		await publish(server, stream, [
			{ event: 'progress', data: { message: 'Testing' } },
			{ event: 'progress', data: { progress: 0.9, detail: { message: 'nested' } } },
			{ event: 'cancelled', data: {} },
		])
		// 10-11: cancelled with a reason; 12: no message at all.
		await publish(server, stream, [
			{ event: 'progress', data: { message: 'Deploying' } },
			{ event: 'cancelled', data: { reason: 'user clicked stop' } },
		])
		await publish(server, stream, { event: 'complete', data: {} })
		// 13-: running, after a cancel request.
		await publish(server, stream, { event: 'progress', data: { message: 'Again', progress: 0.1 } })
		const cancel = await fetch(`${server.url}/api/${stream}/cancel`, {
			method: 'POST',
			headers: auth(),
			body: JSON.stringify({ reason: 'not a message either' }),
		})
		expect(cancel.status).toBe(202)
		await Bun.sleep(5)
		await publish(server, stream, { event: 'progress', data: { progress: 0.4 } })

		const at = await storedAt('hist')
		const page = await executions('hist')
		expect(page).toEqual({
			executions: [
				{
					startId: 13,
					endId: null,
					status: 'running',
					startedAt: at.get(13),
					endedAt: null,
					message: 'Again',
					result: null,
				},
				{
					startId: 12,
					endId: 12,
					status: 'complete',
					startedAt: at.get(12),
					endedAt: at.get(12),
					message: null,
					result: null,
				},
				{
					startId: 10,
					endId: 11,
					status: 'cancelled',
					startedAt: at.get(10),
					endedAt: at.get(11),
					message: 'user clicked stop',
					result: null,
				},
				{
					startId: 7,
					endId: 9,
					status: 'cancelled',
					startedAt: at.get(7),
					endedAt: at.get(9),
					message: 'Testing',
					result: null,
				},
				{
					startId: 4,
					endId: 6,
					status: 'failed',
					startedAt: at.get(4),
					endedAt: at.get(6),
					message: 'disk full',
					result: null,
				},
				{
					startId: 1,
					endId: 3,
					status: 'complete',
					startedAt: at.get(1),
					endedAt: at.get(3),
					message: 'Reading',
					result: { files: 3 },
				},
			],
			next: null,
		})
		// Times are the events' own: the first execution spans two publishes.
		expect(at.get(3)).not.toBe(at.get(1))
		// The running execution is the snapshot's current one.
		const snapshot = (await get('/api/agents/hist')).body
		expect(snapshot.execution).toMatchObject({ startId: 13, startedAt: at.get(13), endedAt: null })
		expect(snapshot.message).toBe('Again')

		// Once it ends, it is listed as ended, first.
		await publish(server, stream, { event: 'complete', data: { result: 'ok' } })
		const ended = await executions('hist', '?limit=1')
		expect(ended.executions).toEqual([
			{
				startId: 13,
				endId: 16,
				status: 'complete',
				startedAt: at.get(13),
				endedAt: (await storedAt('hist')).get(16),
				message: 'Again',
				result: 'ok',
			},
		])
		expect(ended.next).toBe(13)
	})

	it('finds the message however far before the end it was, nested look-alikes and all', async () => {
		const quiet = Array.from({ length: 40 }, (_, i) => ({
			event: 'progress',
			data: { progress: i / 40 },
		}))
		await publish(server, 'agents/far', [
			{ event: 'progress', data: { message: 'early' } },
			...quiet,
			{ event: 'complete', data: { result: 'r' } },
			{ event: 'progress', data: { message: 'real' } },
			...quiet,
			{ event: 'progress', data: { step: 's', detail: { message: 'nested' } } },
			...quiet,
			{ event: 'cancelled' },
		])
		expect((await executions('far')).executions).toMatchObject([
			{ startId: 43, endId: 125, status: 'cancelled', message: 'real', result: null },
			{ startId: 1, endId: 42, status: 'complete', message: 'early', result: 'r' },
		])
	})

	it('pages with before and next, and says when there is no next page', async () => {
		await runs(server, 'paged', 25)
		const seen: number[] = []
		const nexts: Array<number | null> = []
		let query = '?limit=10'
		for (;;) {
			const page = await executions('paged', query)
			seen.push(...page.executions.map((e) => e.startId as number))
			nexts.push(page.next)
			if (page.next === null) break
			query = `?limit=10&before=${page.next}`
		}
		expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => 49 - 2 * i))
		expect(nexts).toEqual([31, 11, null])
		// `before` takes executions that start below it, whatever the id.
		expect((await executions('paged', '?before=6')).executions).toMatchObject([
			{ startId: 5, endId: 6, result: 2, message: 'run 2' },
			{ startId: 3, endId: 4, result: 1 },
			{ startId: 1, endId: 2, result: 0 },
		])
		expect(await executions('paged', '?before=1')).toEqual({ executions: [], next: null })
		// A page that ends exactly at the last execution has no next.
		expect((await executions('paged', '?before=11&limit=5')).next).toBeNull()
		expect((await executions('paged', '?limit=100')).executions).toHaveLength(25)
		// A running execution takes its place on the page.
		await publish(server, 'agents/paged', { event: 'progress' })
		const first = await executions('paged', '?limit=2')
		expect(first.executions.map((e) => [e.startId, e.endId])).toEqual([
			[51, null],
			[49, 50],
		])
		expect(first.next).toBe(49)
	})

	it('leaves a long result out, as lists do, and keeps a page within 4 MiB', async () => {
		await publish(server, 'agents/big', [
			{ event: 'complete', data: { result: { text: 'r'.repeat(5000) } } },
			{ event: 'complete', data: { result: 'small' } },
		])
		const page = await executions('big')
		expect(page.executions).toEqual([
			expect.objectContaining({ startId: 2, result: 'small' }),
			expect.objectContaining({ startId: 1, result: null, resultOmitted: true }),
		])
		expect(page.executions[0]).not.toHaveProperty('resultOmitted')

		const message = 'm'.repeat(60_000)
		for (let i = 0; i < 80; i++)
			await publish(server, 'agents/wordy', [
				{ event: 'progress', data: { message } },
				{ event: 'cancelled', data: {} },
			])
		const sizes: number[] = []
		const ids: number[] = []
		let query = '?limit=1000'
		for (;;) {
			const res = await fetch(`${server.url}/api/agents/wordy/executions${query}`, {
				headers: auth(),
			})
			const text = await res.text()
			sizes.push(Buffer.byteLength(text))
			const body = JSON.parse(text)
			ids.push(...body.executions.map((e: { startId: number }) => e.startId))
			if (body.next === null) break
			query = `?limit=1000&before=${body.next}`
		}
		expect(sizes.length).toBeGreaterThan(1)
		for (const size of sizes) expect(size).toBeLessThanOrEqual(4 * 1024 * 1024)
		expect(ids).toEqual(Array.from({ length: 80 }, (_, i) => 159 - 2 * i))
	})

	it('answers 404 for an agent the credential may not read, as for one that does not exist', async () => {
		await publish(server, 'agents/mine-1', { event: 'complete' })
		await publish(server, 'agents/theirs', { event: 'complete' })
		expect((await get('/api/agents/mine-1/executions', NARROW)).body.executions).toHaveLength(1)
		for (const [path, token] of [
			['/api/agents/nobody/executions', server.token],
			['/api/agents/theirs/executions', NARROW],
			['/api/agents/theirs/executions', PUBLISH_ONLY],
			['/api/agents/nobody/executions', NARROW],
		]) {
			const res = await get(path, token)
			expect([path, token, res.status, res.body.error.code]).toEqual([
				path,
				token,
				404,
				'not_found',
			])
		}
		expect((await get('/api/agents/theirs/executions', 'no-such-token')).status).toBe(401)
		expect((await get('/api/workflows/wf-1/executions')).status).toBe(404)
	})

	it('answers 400 to bad values, naming the parameter', async () => {
		await publish(server, 'agents/bad', { event: 'complete' })
		for (const [query, field] of [
			['before=-1', 'before'],
			['before=x', 'before'],
			['before=1.5', 'before'],
			['before=1234567890123456', 'before'],
			['limit=0', 'limit'],
			['limit=1001', 'limit'],
			['limit=ten', 'limit'],
			['limit=', 'limit'],
		]) {
			const res = await get(`/api/agents/bad/executions?${query}`)
			expect([query, res.status, res.body.error.field]).toEqual([query, 400, field])
		}
		expect((await get('/api/agents/bad%20name/executions')).status).toBe(400)
		// Empty is absent, as for the event pages' `after`.
		expect((await get('/api/agents/bad/executions?before=')).body.executions).toHaveLength(1)
	})
})

describe('executions across restarts and retention', () => {
	it('are the same after kill -9, whether or not the store had written them yet', async () => {
		await using first = await startServer()
		await runs(first, 'kept', 3)
		// The chunk index (and the executions written with it) lags the log by up to a second.
		await Bun.sleep(1_100)
		await runs(first, 'kept', 2)
		await publish(first, 'agents/kept', { event: 'progress', data: { message: 'on' } })
		const before = await executions('kept', '', first)
		expect(before.executions.map((e) => [e.startId, e.endId, e.status])).toEqual([
			[11, null, 'running'],
			[9, 10, 'complete'],
			[7, 8, 'complete'],
			[5, 6, 'complete'],
			[3, 4, 'complete'],
			[1, 2, 'complete'],
		])
		await first.kill('SIGKILL')
		await using second = await first.restart()
		expect(await executions('kept', '', second)).toEqual(before)
		await publish(second, 'agents/kept', { event: 'complete', data: { result: 'after' } })
		await Bun.sleep(1_100)
		await publish(second, 'agents/other', { event: 'progress' })
		const after = await executions('kept', '?limit=2', second)
		await second.kill('SIGKILL')
		await using third = await second.restart()
		expect(await executions('kept', '?limit=2', third)).toEqual(after)
		expect(after.executions[0]).toMatchObject({ startId: 11, endId: 12, result: 'after' })
	}, 30_000)

	it('leave out the executions retention pruned', async () => {
		await using s = await startServer({ args: ['--retention', '1s'] })
		await runs(s, 'old', 2)
		await publish(s, 'agents/gone', [{ event: 'progress' }, { event: 'complete' }])
		await Bun.sleep(1_200)
		await runs(s, 'old', 1)
		await publish(s, 'agents/old', { event: 'progress', data: { message: 'now' } })
		expect((await executions('old', '', s)).executions).toHaveLength(4)
		const res = await fetch(`${s.url}/api/admin/prune`, { method: 'POST', headers: auth() })
		expect(await res.json()).toEqual({ prunedEvents: 6, prunedStreams: 2 })
		const kept = await executions('old', '', s)
		expect(kept).toEqual({
			executions: [
				expect.objectContaining({ startId: 7, endId: null, status: 'running', message: 'now' }),
				expect.objectContaining({ startId: 5, endId: 6, status: 'complete', message: 'run 0' }),
			],
			next: null,
		})
		// A stream pruned whole has none left, and still answers its snapshot.
		expect(await executions('gone', '', s)).toEqual({ executions: [], next: null })
		expect((await get('/api/agents/gone', s.token, s)).status).toBe(200)
		await s.kill('SIGKILL')
		await using again = await s.restart()
		expect(await executions('old', '', again)).toEqual(kept)
		expect(await executions('gone', '', again)).toEqual({ executions: [], next: null })
	}, 30_000)
})
