import { describe, expect, it } from 'bun:test'
import { auth, publish, startServer, type TestServer } from '../helpers.ts'

const list = async (server: TestServer, path: string, token = server.token) => {
	const res = await fetch(`${server.url}${path}`, { headers: auth(token) })
	expect(res.status).toBe(200)
	return res.json()
}
const counts = async (server: TestServer, path: string, token = server.token) =>
	(await list(server, path, token)).counts
const ENDS = { complete: { result: 'ok' }, failed: { message: 'no' }, cancelled: { reason: 'x' } }

/** An agent in `status`: one progress, then its terminal event unless it is running. */
async function agent(server: TestServer, name: string, status: string) {
	const events: unknown[] = [{ event: 'progress', data: { message: name } }]
	if (status !== 'running') events.push({ event: status, data: ENDS[status as keyof typeof ENDS] })
	expect((await publish(server, `agents/${name}`, events)).status).toBe(201)
}

describe('list counts', () => {
	it('count every status over the prefix, whatever status the page is filtered to', async () => {
		await using s = await startServer()
		const plan: Array<[string, string]> = [
			['build-1', 'running'],
			['build-2', 'running'],
			['build-3', 'complete'],
			['build-4', 'failed'],
			['deploy-1', 'running'],
			['deploy-2', 'cancelled'],
			['deploy-3', 'complete'],
			['deploy-4', 'complete'],
		]
		for (const [name, status] of plan) await agent(s, name, status)
		// An agent whose last execution failed and whose next one runs counts as running.
		await publish(s, 'agents/build-4', { event: 'progress' })
		await publish(s, 'workflows/wf-1', { event: 'step_start', data: { stepId: 'a' } })
		await publish(s, 'workflows/wf-2', [
			{ event: 'step_start', data: { stepId: 'a' } },
			{ event: 'failed', data: { message: 'x' } },
		])

		const all = { running: 4, complete: 3, failed: 0, cancelled: 1 }
		expect(await counts(s, '/api/agents')).toEqual(all)
		for (const status of ['running', 'complete', 'failed', 'cancelled']) {
			const page = await list(s, `/api/agents?status=${status}&limit=1`)
			expect(page.counts).toEqual(all)
			expect(page.agents.length).toBe(Math.min(1, all[status as keyof typeof all]))
		}
		expect(await counts(s, '/api/agents?prefix=build-')).toEqual({
			running: 3,
			complete: 1,
			failed: 0,
			cancelled: 0,
		})
		expect(await counts(s, '/api/agents?prefix=deploy-&status=running')).toEqual({
			running: 1,
			complete: 2,
			failed: 0,
			cancelled: 1,
		})
		expect(await counts(s, '/api/agents?prefix=nobody')).toEqual({
			running: 0,
			complete: 0,
			failed: 0,
			cancelled: 0,
		})
		// Every page has them, not only the first.
		const second = await list(
			s,
			`/api/agents?limit=3&page=${(await list(s, '/api/agents?limit=3')).next}`,
		)
		expect(second.agents).toHaveLength(3)
		expect(second.counts).toEqual(all)
		expect(await counts(s, '/api/workflows')).toEqual({
			running: 1,
			complete: 0,
			failed: 1,
			cancelled: 0,
		})
	})

	it("count only the streams a narrow token may read, by the token's patterns", async () => {
		await using s = await startServer({
			tokens: [
				{ token: 'team-a', scopes: ['read'], streams: ['agents/team_a*', 'agents/*-shared'] },
				{ token: 'one', scopes: ['read'], streams: ['agents/team_a1'] },
				{ token: 'workflows-only', scopes: ['read'], streams: ['workflows/*'] },
			],
		})
		const plan: Array<[string, string]> = [
			['team_a1', 'running'],
			['team_a2', 'complete'],
			['team_a3', 'failed'],
			// `_` is a character of its own, not "any one character".
			['teamXa4', 'running'],
			['team-a5', 'complete'],
			['b-shared', 'cancelled'],
			['b-shared-not', 'running'],
			['other', 'running'],
		]
		for (const [name, status] of plan) await agent(s, name, status)
		expect(await counts(s, '/api/agents', 'team-a')).toEqual({
			running: 1,
			complete: 1,
			failed: 1,
			cancelled: 1,
		})
		expect(await counts(s, '/api/agents?prefix=team&status=failed', 'team-a')).toEqual({
			running: 1,
			complete: 1,
			failed: 1,
			cancelled: 0,
		})
		expect(await counts(s, '/api/agents', 'one')).toEqual({
			running: 1,
			complete: 0,
			failed: 0,
			cancelled: 0,
		})
		expect(await counts(s, '/api/agents', 'workflows-only')).toEqual({
			running: 0,
			complete: 0,
			failed: 0,
			cancelled: 0,
		})
		// The rows agree with the counts.
		const rows = (await list(s, '/api/agents?limit=1000', 'team-a')).agents
		expect(rows.map((r: { name: string }) => r.name).sort()).toEqual([
			'b-shared',
			'team_a1',
			'team_a2',
			'team_a3',
		])
		expect(await counts(s, '/api/agents')).toEqual({
			running: 4,
			complete: 2,
			failed: 1,
			cancelled: 1,
		})
	})

	it('count the runs retention emptied once, and once again after an append brings one back', async () => {
		await using s = await startServer({ args: ['--retention', '1s'] })
		await agent(s, 'old-1', 'complete')
		await agent(s, 'old-2', 'failed')
		await agent(s, 'old-3', 'cancelled')
		await publish(s, 'workflows/wf-old', [
			{ event: 'step_start', data: { stepId: 'a' } },
			{ event: 'complete' },
		])
		await Bun.sleep(1_200)
		await agent(s, 'new-1', 'running')
		const before = { running: 1, complete: 1, failed: 1, cancelled: 1 }
		expect(await counts(s, '/api/agents')).toEqual(before)
		const res = await fetch(`${s.url}/api/admin/prune`, { method: 'POST', headers: auth() })
		expect((await res.json()).prunedStreams).toBe(4)
		// Emptied, they are counted from what the store kept of them.
		expect(await counts(s, '/api/agents')).toEqual(before)
		expect(await counts(s, '/api/agents?prefix=old-')).toEqual({ ...before, running: 0 })
		expect(await counts(s, '/api/workflows')).toEqual({
			running: 0,
			complete: 1,
			failed: 0,
			cancelled: 0,
		})
		// Brought back by an event: counted in its new status only, at once and from then on.
		await publish(s, 'agents/old-2', { event: 'progress' })
		const after = { running: 2, complete: 1, failed: 0, cancelled: 1 }
		expect(await counts(s, '/api/agents')).toEqual(after)
		expect(await counts(s, '/api/agents?prefix=old-2')).toEqual({
			running: 1,
			complete: 0,
			failed: 0,
			cancelled: 0,
		})
		// The same after kill -9, before the store wrote the stream's row, and once it has.
		await s.kill('SIGKILL')
		await using again = await s.restart()
		expect(await counts(again, '/api/agents')).toEqual(after)
		await Bun.sleep(1_100)
		await publish(again, 'agents/new-1', { event: 'progress' })
		expect(await counts(again, '/api/agents')).toEqual(after)
		const names = (await list(again, '/api/agents')).agents.map((a: { name: string }) => a.name)
		expect(names.sort()).toEqual(['new-1', 'old-1', 'old-2', 'old-3'])
		await again.kill('SIGKILL')
		await using third = await again.restart()
		expect(await counts(third, '/api/agents')).toEqual(after)
	}, 30_000)
})
