import { isTerminal } from '../../client/src/runs.ts'
import { encodeEvent } from '../../client/src/sse.ts'
import { StreamEndedError } from '../errors.ts'
import type { NewEvent } from '../events.ts'
import type { EncodedEvent, RunStatus, StreamState } from './store.ts'

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
	const { lastId, status, executionStart } = state
	const next: RunState = { lastId, status, executionStart }
	for (const e of events) advancePast(next, next.lastId + 1, e.event)
	return next
}

/** Moves `state` on past event `id` of type `event`, in place (no object per event). */
export function advancePast(state: RunState, id: number, event: string) {
	state.lastId = id
	if (state.status !== 'running') {
		state.status = 'running'
		state.executionStart = id
	}
	if (isTerminal(event)) state.status = event as RunStatus
}

const encoder = new TextEncoder()

/**
 * The events of one append as stored: ids and global cursors from the first ones on, framed.
 * The frames are encoded in one go, as adjacent views of one buffer (see `adjacent` in chunks.ts).
 */
export function stamp(events: NewEvent[], firstId: number, firstSeq: number, now: number) {
	if (events.length === 1) {
		const { event, data } = events[0]
		const frame = encoder.encode(encodeEvent(firstId, event, data))
		return [{ id: firstId, seq: firstSeq, event, data, createdAt: now, frame }]
	}
	let text = ''
	const ends: number[] = new Array(events.length)
	for (let i = 0; i < events.length; i++) {
		text += encodeEvent(firstId + i, events[i].event, events[i].data)
		ends[i] = text.length
	}
	const bytes = encoder.encode(text)
	// With one byte per character (ASCII, the usual case) offsets in the text are byte offsets.
	const ascii = bytes.byteLength === text.length
	let start = 0
	let at = 0
	return events.map((e, i): EncodedEvent => {
		const end = ascii ? ends[i] : start + Buffer.byteLength(text.slice(at, ends[i]))
		const frame = bytes.subarray(start, end)
		start = end
		at = ends[i]
		return {
			id: firstId + i,
			seq: firstSeq + i,
			event: e.event,
			data: e.data,
			createdAt: now,
			frame,
		}
	})
}
