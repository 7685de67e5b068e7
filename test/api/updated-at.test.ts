import { describe, expect, it } from 'bun:test'
import { auth, publish, startServer, type TestServer } from '../helpers.ts'

const get = async (server: TestServer, path: string) => {
	const res = await fetch(`${server.url}${path}`, { headers: auth() })
	expect(res.status).toBe(200)
	return res.json()
}
/** When each event of a stream was stored, by id, as its event page says. */
const storedAt = async (server: TestServer, stream: string) =>
	new Map<number, string>(
		(await get(server, `/api/${stream}/events?limit=1000`)).events.map(
			(e: { id: number; createdAt: string }) => [e.id, e.createdAt],
		),
	)

describe('updatedAt', () => {
	it("is the time of the stream's last event, in snapshots and list rows, and survives kill -9", async () => {
		await using first = await startServer()
		await publish(first, 'agents/quiet', { event: 'progress', data: { message: 'start' } })
		await publish(first, 'workflows/wf-quiet', { event: 'step_start', data: { stepId: 'a' } })
		const seen: string[] = []
		for (let i = 0; i < 3; i++) {
			await Bun.sleep(15)
			// Any event moves it: a custom one, then a terminal one, then the next execution's first.
			const event = ['tool_call', 'complete', 'progress'][i]
			const { body } = await publish(first, 'agents/quiet', { event, data: {} })
			const at = (await storedAt(first, 'agents/quiet')).get(body.ids[0])
			const snapshot = await get(first, '/api/agents/quiet')
			expect(snapshot.updatedAt).toBe(at)
			const row = (await get(first, '/api/agents')).agents.find(
				(a: { name: string }) => a.name === 'quiet',
			)
			expect(row.updatedAt).toBe(at)
			seen.push(snapshot.updatedAt)
		}
		expect(new Set(seen).size).toBe(3)
		expect([...seen].sort()).toEqual(seen)
		// The execution that started with the last event started when it was stored.
		const current = await get(first, '/api/agents/quiet')
		expect(current.execution.startedAt).toBe(current.updatedAt)

		await Bun.sleep(15)
		const { body } = await publish(first, 'workflows/wf-quiet', {
			event: 'step_progress',
			data: { stepId: 'a', progress: 0.5 },
		})
		const workflow = await get(first, '/api/workflows/wf-quiet')
		expect(workflow.updatedAt).toBe((await storedAt(first, 'workflows/wf-quiet')).get(body.ids[0]))
		expect(workflow.updatedAt > workflow.startedAt).toBe(true)
		expect((await get(first, '/api/workflows')).workflows[0].updatedAt).toBe(workflow.updatedAt)

		await first.kill('SIGKILL')
		await using second = await first.restart()
		expect(await get(second, '/api/agents/quiet')).toEqual(current)
		expect(await get(second, '/api/workflows/wf-quiet')).toEqual(workflow)
	}, 30_000)

	it('is kept in the snapshot of a run retention pruned', async () => {
		await using server = await startServer({ args: ['--retention', '1s'] })
		await publish(server, 'agents/gone', [{ event: 'progress' }, { event: 'complete' }])
		const before = await get(server, '/api/agents/gone')
		expect(before.updatedAt).toBe((await storedAt(server, 'agents/gone')).get(2))
		await Bun.sleep(1_200)
		const res = await fetch(`${server.url}/api/admin/prune`, { method: 'POST', headers: auth() })
		expect((await res.json()).prunedStreams).toBe(1)
		expect((await get(server, '/api/agents/gone/events')).events).toEqual([])
		expect(await get(server, '/api/agents/gone')).toEqual(before)
		expect((await get(server, '/api/agents')).agents[0].updatedAt).toBe(before.updatedAt)
	})
})
