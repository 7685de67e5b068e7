import { describe, expect, it } from 'bun:test'
import type { StoredEvent } from '../../src/events.ts'
import type { StreamState } from '../../src/store/store.ts'
import { agentState, applyEvent, emptyFold, workflowState } from '../../src/streams/snapshots.ts'

const at = Date.UTC(2026, 0, 2, 3, 4, 5)
let seq = 0
const ev = (id: number, event: string, data: object = {}, createdAt = at): StoredEvent => ({
	id,
	seq: ++seq,
	event,
	data: JSON.stringify(data),
	createdAt,
})
const state = (
	name: string,
	lastId: number,
	status: StreamState['status'],
	executionStart = 1,
): StreamState => ({
	name,
	lastId,
	status,
	executionStart,
	firstId: 1,
	createdAt: at,
	updatedAt: at,
})

describe('agent fold', () => {
	it('keeps the latest progress and message, and ends with the result', () => {
		const fold = emptyFold(1)
		applyEvent(fold, ev(1, 'progress', { step: 'a', message: 'Reading', progress: 0.2 }))
		applyEvent(fold, ev(2, 'progress', { progress: 0.5 }))
		applyEvent(fold, ev(3, 'custom_thing', { message: 'ignored' }))
		expect(agentState(state('agents/x', 3, 'running'), fold)).toEqual({
			name: 'x',
			status: 'running',
			progress: 0.5,
			message: 'Reading',
			lastEventId: 3,
			execution: { startId: 1, startedAt: '2026-01-02T03:04:05.000Z', endedAt: null, result: null },
		})
		applyEvent(fold, ev(4, 'complete', { result: { ok: true } }, at + 1000))
		expect(agentState(state('agents/x', 4, 'complete'), fold)).toMatchObject({
			progress: 1,
			execution: { endedAt: '2026-01-02T03:04:06.000Z', result: { ok: true } },
		})
	})
})

describe('workflow fold', () => {
	it('tracks each step from start to complete or failed', () => {
		const fold = emptyFold(1)
		applyEvent(fold, ev(1, 'step_start', { stepId: 's1', name: 'Review', agent: 'r' }))
		applyEvent(fold, ev(2, 'step_progress', { stepId: 's2', progress: 0.3 }))
		applyEvent(fold, ev(3, 'step_complete', { stepId: 's1', duration: 80 }))
		applyEvent(fold, ev(4, 'step_failed', { stepId: 's2', message: 'x' }))
		expect(workflowState(state('workflows/w', 4, 'running'), fold).steps).toEqual([
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
	})
})
