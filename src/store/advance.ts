import { StreamEndedError } from '../errors.ts'
import { encodeEvent, isTerminal, type NewEvent } from '../events.ts'
import type { AppendResult, EncodedEvent, Idempotency, RunStatus, StreamState } from './store.ts'

/** An append waiting for the group commit that will carry it. */
export interface Pending {
	stream: string
	events: NewEvent[]
	idempotency?: Idempotency
	resolve: (result: AppendResult) => void
	reject: (error: Error) => void
}

export type RunState = Pick<StreamState, 'lastId' | 'status' | 'executionStart'>

export const isWorkflowRun = (stream: string) => stream.startsWith('workflows/')

/** A stream before its first event. */
export const NEW_RUN: RunState = { lastId: 0, status: 'running', executionStart: 1 }

/**
 * What appending `events` makes of a stream's run state; the events take the ids after
 * `state.lastId`, in order. Every engine appends through it, so the rules are the same on each:
 * a workflow run that ended takes nothing more, and its terminal event must come last. An agent
 * starts a new execution with the first event after a terminal one.
 */
export function advance(stream: string, state: RunState, events: NewEvent[]): RunState {
	if (isWorkflowRun(stream)) {
		if (state.status !== 'running')
			throw new StreamEndedError(`${stream} has ended (${state.status}); it accepts no more events`)
		const end = events.findIndex((e) => isTerminal(e.event))
		if (end >= 0 && end < events.length - 1)
			throw new StreamEndedError(
				`event ${end} (${events[end].event}) ends the workflow run; nothing may follow it`,
				`/${end + 1}`,
			)
	}
	let { lastId, status, executionStart } = state
	for (const e of events) {
		lastId++
		if (status !== 'running') {
			status = 'running'
			executionStart = lastId
		}
		if (isTerminal(e.event)) status = e.event as RunStatus
	}
	return { lastId, status, executionStart }
}

const encoder = new TextEncoder()

/** The events of one append as stored: ids and global cursors from the first ones on, framed. */
export function stamp(events: NewEvent[], firstId: number, firstSeq: number, now: number) {
	return events.map(
		(e, i): EncodedEvent => ({
			id: firstId + i,
			seq: firstSeq + i,
			event: e.event,
			data: e.data,
			createdAt: now,
			frame: encoder.encode(encodeEvent(firstId + i, e.event, e.data)),
		}),
	)
}
