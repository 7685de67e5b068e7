import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { auth, publish, startServer, type TestServer } from '../helpers.ts'

let server: TestServer
beforeAll(async () => {
	server = await startServer()
})
afterAll(() => server[Symbol.asyncDispose]())

const get = async (path: string) => {
	const res = await fetch(`${server.url}${path}`, { headers: auth() })
	return { status: res.status, body: await res.json() }
}
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

describe('agent snapshots', () => {
	it('folds the current execution into status, progress, message and result', async () => {
		await publish(server, 'agents/snap', [
			{ event: 'progress', data: { step: 'a', message: 'Reading', progress: 0.2 } },
			{ event: 'complete', data: { result: { files: 3 }, duration: 100 } },
			{ event: 'progress', data: { message: 'Second run', progress: 0.4 } },
			{ event: 'progress', data: { step: 'b' } },
		])
		const running = await get('/api/agents/snap')
		expect(running.status).toBe(200)
		expect(running.body).toMatchObject({
			name: 'snap',
			status: 'running',
			progress: 0.4,
			message: 'Second run',
			lastEventId: 4,
			execution: { startId: 3, endedAt: null, result: null },
		})
		expect(running.body.execution.startedAt).toMatch(ISO)

		await publish(server, 'agents/snap', {
			event: 'failed',
			data: { message: 'disk full', code: 'ENOSPC' },
		})
		const failed = await get('/api/agents/snap')
		expect(failed.body).toMatchObject({
			status: 'failed',
			message: 'disk full',
			lastEventId: 5,
			execution: { startId: 3 },
		})
		expect(failed.body.execution.endedAt).toMatch(ISO)

		await publish(server, 'agents/snap', { event: 'complete', data: { result: 'done' } })
		expect((await get('/api/agents/snap')).body).toMatchObject({
			status: 'complete',
			progress: 1,
			message: null,
			lastEventId: 6,
			execution: { startId: 6, result: 'done' },
		})
	})

	it('answers 404 for an unknown agent and 400 for a bad name', async () => {
		expect((await get('/api/agents/nobody')).status).toBe(404)
		expect((await get('/api/agents/bad%20name')).status).toBe(400)
	})
})

describe('workflow snapshots', () => {
	it('folds steps in the order they started', async () => {
		await publish(server, 'workflows/wf-snap', [
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
			{ event: 'step_start', data: { stepId: 'step-2', name: 'Fix Issues', agent: 'coder-agent' } },
			{ event: 'step_progress', data: { stepId: 'step-2', progress: 0.5 } },
			{ event: 'step_start', data: { stepId: 'step-3', name: 'Deploy' } },
			{ event: 'step_failed', data: { stepId: 'step-3', message: 'no credentials' } },
		])
		const { status, body } = await get('/api/workflows/wf-snap')
		expect(status).toBe(200)
		expect(body).toMatchObject({ id: 'wf-snap', status: 'running', lastEventId: 7, endedAt: null })
		expect(body.startedAt).toMatch(ISO)
		expect(body.steps).toEqual([
			{
				stepId: 'step-1',
				name: 'Code Review',
				agent: 'reviewer-agent',
				status: 'complete',
				progress: 1,
				message: 'Found 3 issues',
				duration: 8000,
			},
			{
				stepId: 'step-2',
				name: 'Fix Issues',
				agent: 'coder-agent',
				status: 'running',
				progress: 0.5,
				message: null,
				duration: null,
			},
			{
				stepId: 'step-3',
				name: 'Deploy',
				agent: null,
				status: 'failed',
				progress: null,
				message: 'no credentials',
				duration: null,
			},
		])
		await publish(server, 'workflows/wf-snap', {
			event: 'failed',
			data: { message: 'step-3 failed' },
		})
		const ended = await get('/api/workflows/wf-snap')
		expect(ended.body.status).toBe('failed')
		expect(ended.body.endedAt).toMatch(ISO)
	})

	it('lists workflows with a cursor that matches the global event count', async () => {
		await publish(server, 'workflows/wf-list', { event: 'step_start', data: { stepId: 'a' } })
		const { body } = await get('/api/workflows')
		const ids = body.workflows.map((w: { id: string }) => w.id)
		expect(ids).toContain('wf-list')
		expect(ids).toContain('wf-snap')
		const all = [...(await get('/api/agents')).body.agents, ...body.workflows]
		const total = all.reduce((n: number, s: { lastEventId: number }) => n + s.lastEventId, 0)
		expect(body.cursor).toBe(total)
		expect(body.next).toBeNull()
	})
})

describe('lists', () => {
	/** Every row of a list, page after page, and the pages' sizes. */
	async function pages(s: TestServer, path: string, token = s.token) {
		const rows: Array<Record<string, unknown>> = []
		const sizes: number[] = []
		let page: string | null = null
		const kind = path.includes('workflows') ? 'workflows' : 'agents'
		do {
			const sep = path.includes('?') ? '&' : '?'
			const res = await fetch(
				`${s.url}${path}${page === null ? '' : `${sep}page=${encodeURIComponent(page)}`}`,
				{ headers: auth(token) },
			)
			expect(res.status).toBe(200)
			const text = await res.text()
			sizes.push(Buffer.byteLength(text))
			const body = JSON.parse(text)
			rows.push(...body[kind])
			page = body.next
		} while (page !== null)
		return { rows, sizes }
	}
	const names = (rows: Array<Record<string, unknown>>) => rows.map((r) => r.name ?? r.id)

	it('come in pages, most recently updated first, filtered by status and name prefix', async () => {
		await using s = await startServer()
		for (const name of ['a1', 'team-a2', 'team-a3', 'b4', 'team-a5'])
			await publish(s, `agents/${name}`, { event: 'progress' })
		await publish(s, 'agents/team-a2', { event: 'complete' })
		const all = await pages(s, '/api/agents?limit=2')
		expect(names(all.rows)).toEqual(['team-a2', 'team-a5', 'b4', 'team-a3', 'a1'])
		expect(all.sizes).toHaveLength(3)
		expect(names((await pages(s, '/api/agents?status=running')).rows)).toEqual([
			'team-a5',
			'b4',
			'team-a3',
			'a1',
		])
		expect(names((await pages(s, '/api/agents?status=complete')).rows)).toEqual(['team-a2'])
		expect(names((await pages(s, '/api/agents?prefix=team-&limit=1')).rows)).toEqual([
			'team-a2',
			'team-a5',
			'team-a3',
		])
		const first = await (await fetch(`${s.url}/api/agents?limit=1`, { headers: auth() })).json()
		expect(first).toMatchObject({ cursor: 6, next: expect.any(String) })
		expect(first.agents).toHaveLength(1)
	})

	it('answer 400 to bad values, naming the parameter', async () => {
		for (const [query, field] of [
			['limit=0', 'limit'],
			['limit=1001', 'limit'],
			['limit=ten', 'limit'],
			['status=done', 'status'],
			['prefix=a%20b', 'prefix'],
			['prefix=agents/x', 'prefix'],
			[`prefix=${'p'.repeat(129)}`, 'prefix'],
			['page=not-a-page', 'page'],
			[`page=${'1'.repeat(65)}`, 'page'],
		]) {
			const res = await get(`/api/agents?${query}`)
			expect([query, res.status, res.body.error.field]).toEqual([query, 400, field])
		}
	})

	it('hold only what the token may read, each page full of it', async () => {
		const { writeFileSync } = await import('node:fs')
		const { tempDir } = await import('../helpers.ts')
		using dir = tempDir()
		const file = `${dir.path}/tokens.json`
		writeFileSync(
			file,
			JSON.stringify([{ token: 'team-a', scopes: ['read'], streams: ['agents/team-a*'] }]),
		)
		await using s = await startServer({ args: ['--tokens-file', file] })
		for (let i = 0; i < 12; i++)
			await publish(s, `agents/${i % 3 === 0 ? 'team-a' : 'other-'}${i}`, {
				event: 'progress',
			})
		const narrow = await (
			await fetch(`${s.url}/api/agents?limit=2`, { headers: auth('team-a') })
		).json()
		expect(names(narrow.agents)).toEqual(['team-a9', 'team-a6'])
		expect(names((await pages(s, '/api/agents?limit=2', 'team-a')).rows)).toEqual([
			'team-a9',
			'team-a6',
			'team-a3',
			'team-a0',
		])
	})

	it('stay within 4 MiB a page, leaving a large result to the stream’s own snapshot', async () => {
		await using s = await startServer()
		const message = 'm'.repeat(60_000)
		for (let i = 0; i < 100; i++)
			await publish(s, `agents/big-${i}`, { event: 'progress', data: { message } })
		const result = { text: 'r'.repeat(10_000) }
		await publish(s, 'agents/with-result', { event: 'complete', data: { result } })
		await publish(s, 'agents/small-result', { event: 'complete', data: { result: 'ok' } })
		const all = await pages(s, '/api/agents?limit=1000')
		expect(all.rows).toHaveLength(102)
		expect(new Set(names(all.rows)).size).toBe(102)
		expect(all.sizes.length).toBeGreaterThan(1)
		for (const size of all.sizes) expect(size).toBeLessThanOrEqual(4 * 1024 * 1024)
		const omitted = all.rows.find((r) => r.name === 'with-result') as {
			resultOmitted?: boolean
			execution: { result: unknown }
		}
		expect(omitted).toMatchObject({ resultOmitted: true, execution: { result: null } })
		expect(all.rows.find((r) => r.name === 'small-result')).toMatchObject({
			execution: { result: 'ok' },
		})
		expect(all.rows.find((r) => r.name === 'small-result')).not.toHaveProperty('resultOmitted')
		const one = await (await fetch(`${s.url}/api/agents/with-result`, { headers: auth() })).json()
		expect(one.execution.result).toEqual(result)
	})
})

describe('event pages', () => {
	it('pages through a stream with after, limit and next', async () => {
		await publish(
			server,
			'agents/pages',
			Array.from({ length: 25 }, (_, i) => ({ event: 'progress', data: { i } })),
		)
		const first = await get('/api/agents/pages/events?limit=10')
		expect(first.body.events.map((e: { id: number }) => e.id)).toEqual(
			Array.from({ length: 10 }, (_, i) => i + 1),
		)
		expect(first.body.events[0]).toMatchObject({ id: 1, event: 'progress', data: { i: 0 } })
		expect(first.body.events[0].createdAt).toMatch(ISO)
		expect(first.body.next).toBe(10)
		const last = await get('/api/agents/pages/events?after=20&limit=10')
		expect(last.body.events.map((e: { id: number }) => e.id)).toEqual([21, 22, 23, 24, 25])
		expect(last.body.next).toBeNull()
		const exact = await get('/api/agents/pages/events?after=15&limit=10')
		expect(exact.body.next).toBeNull()
		expect((await get('/api/agents/pages/events')).body.events).toHaveLength(25)
	})

	it('answers 400 to bad after and limit values', async () => {
		for (const q of [
			'after=-1',
			'after=x',
			'after=1234567890123456',
			'limit=0',
			'limit=1001',
			'limit=abc',
			'limit=',
		])
			expect([q, (await get(`/api/agents/pages/events?${q}`)).status]).toEqual([q, 400])
	})
})
