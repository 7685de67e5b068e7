import { isTerminal } from '../../client/src/runs.ts'
import { encodeEvent } from '../../client/src/sse.ts'
import { NotRunningError, StreamEndedError } from '../errors.ts'
import { CANCEL_REQUESTED, type NewEvent } from '../events.ts'
import type { AppendResult, EncodedEvent, EndedExecution, RunStatus, StreamState } from './store.ts'

/**
 * What appending needs of a stream, and keeps beside its events (in the stream's row, written
 * in the transaction that appends, and rebuilt from the events on open where that row lags).
 */
export interface RunState extends Pick<StreamState, 'lastId' | 'status' | 'executionStart'> {
	/** The id of the `cancel_requested` pending in the running execution or run; 0 when none. */
	cancelId: number
	/** Its `data` (JSON text); '' when none. */
	cancelData: string
	/** When the current execution (or run) started: its first event's time, ms; 0 before any. */
	startedAt: number
	/** The execution's last message candidate (see `namesMessage`); 0 when none. */
	messageId: number
}

/**
 * Whether a stored event may name the message of its execution: a `progress` whose data (compact
 * JSON, as the server stores it) holds the key `message`. A text search, not a parse, so an
 * append pays next to nothing for it; a `message` key nested deeper matches too, which the read
 * that takes the message sees and corrects (see executions.ts).
 */
export const namesMessage = (event: string, data: string) =>
	event === 'progress' && data.includes('"message":')

export const isWorkflowRun = (stream: string) => stream.startsWith('workflows/')

/** A stream before its first event. */
export const NEW_RUN: RunState = {
	lastId: 0,
	status: 'running',
	executionStart: 1,
	cancelId: 0,
	cancelData: '',
	startedAt: 0,
	messageId: 0,
}

/**
 * What appending `events` (stored at `now`) makes of a stream's run state; the events take the
 * ids after `state.lastId`, in order. Every engine appends through it, so the rules are the same
 * on each: a workflow run that ended takes nothing more, and its terminal event must come last.
 * An agent starts a new execution with the first event after a terminal one; each execution the
 * events end is pushed on `ended`.
 */
export function advance(
	stream: string,
	state: RunState,
	events: NewEvent[],
	now: number,
	ended?: EndedExecution[],
): RunState {
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
	const { lastId, status, executionStart, cancelId, cancelData, startedAt, messageId } = state
	const next: RunState = {
		lastId,
		status,
		executionStart,
		cancelId,
		cancelData,
		startedAt,
		messageId,
	}
	const record = isWorkflowRun(stream) ? undefined : ended
	for (const e of events) advancePast(next, next.lastId + 1, e.event, e.data, now, record)
	return next
}

/**
 * Moves `state` on past event `id` of type `event`, stored at `at`, in place (no object per
 * event). The first `cancel_requested` of a run is pending until the run ends: a terminal event
 * clears it, so the next execution of an agent starts without one. A terminal event pushes the
 * execution it ends on `ended`, when given.
 */
export function advancePast(
	state: RunState,
	id: number,
	event: string,
	data: string,
	at: number,
	ended?: EndedExecution[],
) {
	state.lastId = id
	if (state.status !== 'running') {
		state.status = 'running'
		state.executionStart = id
	}
	if (id === state.executionStart) {
		state.startedAt = at
		state.messageId = 0
	}
	if (isTerminal(event)) {
		ended?.push({
			startId: state.executionStart,
			endId: id,
			status: event as EndedExecution['status'],
			startedAt: state.startedAt,
			endedAt: at,
			messageId: state.messageId,
		})
		state.status = event as RunStatus
		state.cancelId = 0
		state.cancelData = ''
	} else if (namesMessage(event, data)) state.messageId = id
	else if (event === CANCEL_REQUESTED && state.cancelId === 0) {
		state.cancelId = id
		state.cancelData = data
	}
}

/**
 * What a cancel request finds in a stream: the id of the `cancel_requested` already pending in
 * its run (answered again, nothing appended), or 0 when one is to be appended. Nothing running
 * (no events, or the last one terminal) is a 409.
 */
export function pendingCancel(stream: string, state: RunState): number {
	if (state.lastId === 0)
		throw new NotRunningError(`${stream} has no events: there is no run to cancel`)
	if (state.status !== 'running')
		throw new NotRunningError(
			`${stream} is not running: its last ${isWorkflowRun(stream) ? 'run' : 'execution'} ended (${state.status}); there is nothing to cancel`,
		)
	return state.cancelId
}

/** `result`, with the cancel pending in `state` when there is one (see `AppendResult.cancel`). */
export const withCancel = (result: AppendResult, state: RunState | undefined): AppendResult =>
	state !== undefined && state.cancelId > 0
		? { ...result, cancel: { id: state.cancelId, data: state.cancelData } }
		: result

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
