import { type Static, type TSchema, Type } from '@sinclair/typebox'
import type * as Wire from '../client/src/types.ts'

/** The two kinds of stream; a stream's full name is `<kind>/<name>`. */
export type StreamKind = 'agents' | 'workflows'

export const NAME_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/
export const MAX_BATCH = 1000
export const MAX_DATA_BYTES = 64 * 1024
/** How deep `data` may nest objects and arrays, `data` itself being 1. */
export const MAX_DATA_DEPTH = 64

/** What the server appends when someone asks a run to stop (`POST .../cancel`). */
export const CANCEL_REQUESTED = 'cancel_requested'

/**
 * Types a publisher may not send: the server sends `gap` itself, a browser EventSource takes an
 * event named `error` for a connection failure, and `cancel_requested` is what the server
 * appends when someone asks a run to stop.
 */
export const RESERVED_TYPES: ReadonlyMap<string, string> = new Map([
	['gap', 'the server sends "gap" itself, when events were pruned'],
	[
		'error',
		'a browser EventSource takes an event named "error" for a connection failure; use "failed"',
	],
	[CANCEL_REQUESTED, 'the server appends "cancel_requested" when a run is asked to stop'],
])

/** `.` and `..` match the character class but would read as path tricks. */
export const isValidName = (name: string) =>
	NAME_PATTERN.test(name) && name !== '.' && name !== '..'

export const streamName = (kind: StreamKind, name: string) => `${kind}/${name}`

const Fraction = Type.Number({ minimum: 0, maximum: 1 })
const Millis = Type.Number({ minimum: 0 })

export const Progress = Type.Object({
	step: Type.Optional(Type.String()),
	message: Type.Optional(Type.String()),
	progress: Type.Optional(Fraction),
})
export const Complete = Type.Object({
	result: Type.Optional(Type.Unknown()),
	duration: Type.Optional(Millis),
})
export const Failed = Type.Object({
	message: Type.String(),
	code: Type.Optional(Type.String()),
})
export const Cancelled = Type.Object({ reason: Type.Optional(Type.String()) })
export const StepStart = Type.Object({
	stepId: Type.String(),
	name: Type.Optional(Type.String()),
	agent: Type.Optional(Type.String()),
})
export const StepProgress = Type.Object({
	stepId: Type.String(),
	progress: Type.Optional(Fraction),
	message: Type.Optional(Type.String()),
})
export const StepComplete = Type.Object({
	stepId: Type.String(),
	result: Type.Optional(Type.Unknown()),
	duration: Type.Optional(Millis),
})
export const StepFailed = Type.Object({ stepId: Type.String(), message: Type.String() })

/** Data schemas of the standard types; any other valid type name is a custom event. */
export const STANDARD_EVENTS = {
	progress: Progress,
	complete: Complete,
	failed: Failed,
	cancelled: Cancelled,
	step_start: StepStart,
	step_progress: StepProgress,
	step_complete: StepComplete,
	step_failed: StepFailed,
} satisfies Record<string, TSchema>

export type StandardEventType = keyof typeof STANDARD_EVENTS
export type EventData = { [T in StandardEventType]: Static<(typeof STANDARD_EVENTS)[T]> }

/** True when A and B are the same type; false fails the typecheck where it is asserted. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
// The client's plain types say what these schemas accept; the typecheck fails if they drift.
true satisfies Same<EventData, Wire.EventData>

/** Step events only make sense on a workflow run. */
export const isStepType = (type: string) => type.startsWith('step_') && type in STANDARD_EVENTS

/** What a publisher sends: one of these, or an array of 1 to 1000. */
export const PublishedEvent = Type.Object(
	{
		event: Type.String({ pattern: EVENT_TYPE_PATTERN.source }),
		data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
	},
	{ additionalProperties: false },
)
export const PublishBody = Type.Union([
	PublishedEvent,
	Type.Array(PublishedEvent, { minItems: 1, maxItems: MAX_BATCH }),
])

/** An event accepted for appending: `data` is already the JSON text that goes on the wire. */
export interface NewEvent {
	event: string
	data: string
}

/** An event as stored: `seq` is the global cursor shared by every stream. */
export interface StoredEvent extends NewEvent {
	id: number
	seq: number
	createdAt: number
}
