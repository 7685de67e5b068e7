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
