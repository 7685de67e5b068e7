import { describe, expect, it } from 'bun:test'
import {
	agentState,
	emptyFold,
	type Fold,
	foldEvent,
	foldOf,
	isTerminal,
	workflowState,
} from '../../client/src/runs.ts'

const at = Date.UTC(2026, 0, 2, 3, 4, 5)

/** Folds `[id, event, data, at]` events in order, as the server, the CLI and the page do. */
function fold(stream: string, events: Array<[number, string, object?, number?]>, from?: Fold) {
	let f = from ?? emptyFold(stream, events[0][0])
	for (const [id, event, data = {}, when = at] of events)
		f = foldEvent(f, id, event, data as Record<string, unknown>, when)
	return f
}

describe('agent fold', () => {
	it('keeps the latest progress and message, and ends with the result', () => {
		const f = fold('agents/x', [
			[1, 'progress', { step: 'a', message: 'Reading', progress: 0.2 }],
			[2, 'progress', { progress: 0.5 }],
			[3, 'custom_thing', { message: 'ignored' }],
		])
		expect(agentState(f)).toEqual({
			name: 'x',
			status: 'running',
			progress: 0.5,
			message: 'Reading',
			lastEventId: 3,
			updatedAt: '2026-01-02T03:04:05.000Z',
			execution: { startId: 1, startedAt: '2026-01-02T03:04:05.000Z', endedAt: null, result: null },
		})
		const done = fold('agents/x', [[4, 'complete', { result: { ok: true } }, at + 1000]], f)
		expect(agentState(done)).toMatchObject({
			status: 'complete',
			progress: 1,
			updatedAt: '2026-01-02T03:04:06.000Z',
			execution: { endedAt: '2026-01-02T03:04:06.000Z', result: { ok: true } },
		})
	})

	it('moves updatedAt with every event, whatever its type, and keeps it through a snapshot', () => {
		const f = fold('agents/x', [[1, 'progress', { progress: 0.1 }]])
		expect(agentState(f).updatedAt).toBe('2026-01-02T03:04:05.000Z')
		const later = fold('agents/x', [[2, 'tool_call', { tool: 'grep' }, at + 60_000]], f)
		expect(agentState(later)).toMatchObject({
			updatedAt: '2026-01-02T03:05:05.000Z',
			execution: { startedAt: '2026-01-02T03:04:05.000Z', endedAt: null },
		})
		expect(agentState(foldOf(agentState(later))).updatedAt).toBe('2026-01-02T03:05:05.000Z')
		const w = fold('workflows/w', [
			[1, 'step_start', { stepId: 'a' }],
			[2, 'step_progress', { stepId: 'a', progress: 0.5 }, at + 2_000],
		])
		expect(workflowState(w)).toMatchObject({
			startedAt: '2026-01-02T03:04:05.000Z',
			updatedAt: '2026-01-02T03:04:07.000Z',
		})
		expect(workflowState(foldOf(workflowState(w))).updatedAt).toBe('2026-01-02T03:04:07.000Z')
		// A snapshot from a server that did not send updatedAt folds on as one that sent null.
		const { updatedAt: _, ...old } = agentState(f)
		expect(foldOf(old as ReturnType<typeof agentState>).updatedAt).toBeNull()
	})

	it('starts a new execution with the first event after a terminal one', () => {
		const f = fold('agents/x', [
			[1, 'progress', { message: 'first', progress: 0.9 }],
			[2, 'failed', { message: 'boom' }],
			[3, 'progress', { message: 'second' }, at + 5000],
		])
		expect(agentState(f)).toEqual({
			name: 'x',
			status: 'running',
			progress: null,
			message: 'second',
			lastEventId: 3,
			updatedAt: '2026-01-02T03:04:10.000Z',
			execution: { startId: 3, startedAt: '2026-01-02T03:04:10.000Z', endedAt: null, result: null },
		})
	})

	it('says cancelled with the reason as the message', () => {
		const f = fold('agents/x', [
			[1, 'progress', { message: 'working' }],
			[2, 'cancelled', { reason: 'user' }],
		])
		expect(agentState(f)).toMatchObject({ status: 'cancelled', message: 'user' })
	})
})

describe('workflow fold', () => {
	it('tracks each step from start to complete or failed', () => {
		const f = fold('workflows/w', [
			[1, 'step_start', { stepId: 's1', name: 'Review', agent: 'r' }],
			[2, 'step_progress', { stepId: 's2', progress: 0.3 }],
			[3, 'step_complete', { stepId: 's1', duration: 80 }],
			[4, 'step_failed', { stepId: 's2', message: 'x' }],
		])
		expect(workflowState(f).steps).toEqual([
			{
				stepId: 's1',
				name: 'Review',
				agent: 'r',
				status: 'complete',
				progress: 1,
				message: null,
				duration: 80,
			},
			{
				stepId: 's2',
				name: null,
				agent: null,
				status: 'failed',
				progress: 0.3,
				message: 'x',
				duration: null,
			},
		])
		expect(workflowState(f).status).toBe('running')
	})
})

describe('folding on from a snapshot', () => {
	it('gives back the snapshot it came from, and folds what follows as the log would', () => {
		const events: Array<[number, string, object?, number?]> = [
			[1, 'step_start', { stepId: 'a', name: 'A' }],
			[2, 'step_progress', { stepId: 'a', progress: 0.5, message: 'half' }],
			[3, 'step_complete', { stepId: 'a', duration: 10 }, at + 10],
			[4, 'complete', {}, at + 20],
		]
		const whole = fold('workflows/w', events)
		const snapshot = workflowState(fold('workflows/w', events.slice(0, 2)))
		expect(workflowState(foldOf(snapshot))).toEqual(snapshot)
		expect(workflowState(fold('workflows/w', events.slice(2), foldOf(snapshot)))).toEqual(
			workflowState(whole),
		)

		const agent = fold('agents/x', [
			[1, 'progress', { progress: 0.4, message: 'm' }],
			[2, 'complete', { result: [1, 2] }, at + 1],
		])
		expect(agentState(foldOf(agentState(agent)))).toEqual(agentState(agent))
		// An agent's snapshot of an ended execution: the next event starts a new one.
		expect(
			agentState(fold('agents/x', [[3, 'progress']], foldOf(agentState(agent)))),
		).toMatchObject({ status: 'running', progress: null, execution: { startId: 3, result: null } })
	})
})

describe('terminal types', () => {
	it('are complete, failed and cancelled, and nothing else', () => {
		expect(
			['complete', 'failed', 'cancelled', 'progress', 'gap', 'step_failed'].map(isTerminal),
		).toEqual([true, true, true, false, false, false])
	})
})
