import { describe, expect, it } from 'bun:test'
import {
	Annotation,
	END,
	type LangGraphRunnableConfig,
	START,
	StateGraph,
} from '@langchain/langgraph'
import { stepProgress, WorkflowRun, withWorkflowRun } from '../../client/src/langgraph.ts'
import { eventually, startServer, type TestServer } from '../helpers.ts'
import { summarize } from './examples/langgraph.ts'

// @cortex-stream/client/langgraph with StateGraphs of plain functions, no model and no network
// but the real cortex-stream server's, whose stream is read back after each run.

const cortex = (server: TestServer) => ({ url: server.url, token: server.token })
const duration = expect.any(Number)

/** The stream's events as stored, without their ids and times; none before it exists. */
async function readBack(server: TestServer, stream: string) {
	const res = await fetch(`${server.url}/api/${stream}/events?limit=1000`, {
		headers: { authorization: `Bearer ${server.token}` },
	})
	if (res.status === 404) return []
	expect(res.status).toBe(200)
	const page = (await res.json()) as { events: { event: string; data: unknown }[] }
	return page.events.map(({ event, data }) => ({ event, data }))
}

const Log = Annotation.Root({
	log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
})

describe('withWorkflowRun around graph.invoke', () => {
	it("makes each node a step, with the node's progress, and ends complete with the final state", async () => {
		await using server = await startServer()

		const state = await summarize('wf-1', 'SSE', cortex(server))

		const final = {
			topic: 'SSE',
			notes: 'SSE: one-way streams over HTTP',
			summary: 'In short: SSE: one-way streams over HTTP',
		}
		expect(state).toEqual(final)
		expect(await readBack(server, 'workflows/wf-1')).toEqual([
			{ event: 'step_start', data: { stepId: 'research#1', name: 'research' } },
			{
				event: 'step_progress',
				data: { stepId: 'research#1', progress: 0.5, message: 'reading about SSE' },
			},
			{
				event: 'step_complete',
				data: { stepId: 'research#1', duration, result: { notes: final.notes } },
			},
			{ event: 'step_start', data: { stepId: 'write#1', name: 'write' } },
			{
				event: 'step_complete',
				data: { stepId: 'write#1', duration, result: { summary: final.summary } },
			},
			{ event: 'complete', data: { result: final, duration } },
		])
		// The snapshot the dashboard paints from agrees.
		const snapshot = await (
			await fetch(`${server.url}/api/workflows/wf-1`, {
				headers: { authorization: `Bearer ${server.token}` },
			})
		).json()
		expect(snapshot.status).toBe('complete')
		expect(
			snapshot.steps.map((s: { stepId: string; status: string }) => [s.stepId, s.status]),
		).toEqual([
			['research#1', 'complete'],
			['write#1', 'complete'],
		])
	})

	it('ends with step_failed for the node that threw, then failed, and rethrows', async () => {
		await using server = await startServer()
		const graph = new StateGraph(Log)
			.addNode('plan', () => ({ log: ['planned'] }))
			.addNode('act', () => ({ log: ['acted'] }))
			.addNode('check', (): typeof Log.Update => {
				throw new Error('the check found 3 problems')
			})
			.addEdge(START, 'plan')
			.addEdge('plan', 'act')
			.addEdge('act', 'check')
			.addEdge('check', END)
			.compile()

		const error = await withWorkflowRun('workflows/wf-2', cortex(server), (config) =>
			graph.invoke({}, config),
		).catch((e) => e)

		expect(error).toBeInstanceOf(Error)
		expect(error.message).toBe('the check found 3 problems')
		expect(await readBack(server, 'workflows/wf-2')).toEqual([
			{ event: 'step_start', data: { stepId: 'plan#1', name: 'plan' } },
			{
				event: 'step_complete',
				data: { stepId: 'plan#1', duration, result: { log: ['planned'] } },
			},
			{ event: 'step_start', data: { stepId: 'act#1', name: 'act' } },
			{ event: 'step_complete', data: { stepId: 'act#1', duration, result: { log: ['acted'] } } },
			{ event: 'step_start', data: { stepId: 'check#1', name: 'check' } },
			{ event: 'step_failed', data: { stepId: 'check#1', message: 'the check found 3 problems' } },
			{ event: 'failed', data: { message: 'the check found 3 problems', duration } },
		])
	})

	it('gives a node that runs again a step of its own each time', async () => {
		await using server = await startServer()
		const graph = new StateGraph(Log)
			.addNode('draft', ({ log }) => ({ log: [`draft ${log.length + 1}`] }))
			.addNode('publish', () => ({ log: ['published'] }))
			.addEdge(START, 'draft')
			.addConditionalEdges('draft', ({ log }) => (log.length < 2 ? 'draft' : 'publish'))
			.addEdge('publish', END)
			.compile()

		await withWorkflowRun('workflows/wf-3', cortex(server), (config) => graph.invoke({}, config))

		const events = await readBack(server, 'workflows/wf-3')
		expect(events.map((e) => [e.event, (e.data as { stepId?: string }).stepId])).toEqual([
			['step_start', 'draft#1'],
			['step_complete', 'draft#1'],
			['step_start', 'draft#2'],
			['step_complete', 'draft#2'],
			['step_start', 'publish#1'],
			['step_complete', 'publish#1'],
			['complete', undefined],
		])
		expect(events.at(-1)?.data).toEqual({
			result: { log: ['draft 1', 'draft 2', 'published'] },
			duration,
		})
	})

	it('aborts the graph at a cancel request and ends the run cancelled, its open step failed', async () => {
		await using server = await startServer()
		let aborted = false
		const graph = new StateGraph(Log)
			.addNode('quick', () => ({ log: ['quick'] }))
			// A node that would take a minute, unless its signal is aborted.
			.addNode('slow', async (_, config: LangGraphRunnableConfig) => {
				await stepProgress(config, { progress: 0.1, message: 'waiting' })
				await new Promise((resolve) => {
					const timer = setTimeout(resolve, 60_000)
					config.signal?.addEventListener('abort', () => {
						aborted = true
						clearTimeout(timer)
						resolve(undefined)
					})
				})
				return { log: ['slow'] }
			})
			.addEdge(START, 'quick')
			.addEdge('quick', 'slow')
			.compile()

		const started = performance.now()
		const run = withWorkflowRun('workflows/wf-4', cortex(server), (config) =>
			graph.invoke({}, config),
		).catch((e) => e)
		await eventually(async () =>
			(await readBack(server, 'workflows/wf-4')).some((e) => e.event === 'step_progress'),
		)
		const cancel = await fetch(`${server.url}/api/workflows/wf-4/cancel`, {
			method: 'POST',
			headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
			body: JSON.stringify({ reason: 'wrong topic' }),
		})
		expect(cancel.status).toBe(202)

		const error = await run
		expect(performance.now() - started).toBeLessThan(10_000)
		expect(aborted).toBe(true)
		expect(error).toMatchObject({ name: 'AbortError' })
		const events = await readBack(server, 'workflows/wf-4')
		expect(events).toEqual([
			{ event: 'step_start', data: { stepId: 'quick#1', name: 'quick' } },
			{ event: 'step_complete', data: { stepId: 'quick#1', duration, result: { log: ['quick'] } } },
			{ event: 'step_start', data: { stepId: 'slow#1', name: 'slow' } },
			{ event: 'step_progress', data: { stepId: 'slow#1', progress: 0.1, message: 'waiting' } },
			{ event: 'cancel_requested', data: { reason: 'wrong topic' } },
			{ event: 'step_failed', data: { stepId: 'slow#1', message: 'cancelled: wrong topic' } },
			{ event: 'cancelled', data: { reason: 'wrong topic', duration } },
		])
	})
})

describe('WorkflowRun', () => {
	it("follows a graph's stream() too, and ends with it", async () => {
		await using server = await startServer()
		const graph = new StateGraph(Log)
			.addNode('a', () => ({ log: ['a'] }))
			.addNode('b', () => ({ log: ['b'] }))
			.addEdge(START, 'a')
			.addEdge('a', 'b')
			.compile()
		const run = new WorkflowRun('workflows/wf-5', cortex(server))

		const updates: unknown[] = []
		for await (const update of await graph.stream({}, { ...run.config(), streamMode: 'updates' }))
			updates.push(update)
		await run.done

		expect(updates).toEqual([{ a: { log: ['a'] } }, { b: { log: ['b'] } }])
		expect(run.status).toBe('complete')
		const events = await readBack(server, 'workflows/wf-5')
		expect(events.map((e) => e.event)).toEqual([
			'step_start',
			'step_complete',
			'step_start',
			'step_complete',
			'complete',
		])
		expect(events.at(-1)?.data).toEqual({ result: { log: ['a', 'b'] }, duration })
	})

	it('takes only workflow streams', () => {
		expect(() => new WorkflowRun('agents/a')).toThrow(TypeError)
	})
})
