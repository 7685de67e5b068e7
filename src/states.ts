import { type Static, type TSchema, Type } from '@sinclair/typebox'
import type * as Wire from '../client/src/types.ts'
import type { Same } from './events.ts'

/**
 * The snapshots the API sends (`GET /api/agents`, `/api/workflows` and one of each, and an
 * agent's executions), written once: the schemas go into /openapi.json, their types are what the server folds and what the
 * dashboard reads. TypeBox only, so the browser's script can take the types.
 */

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/** When something happened, ISO 8601; null until it has. */
export const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()])

export const RunStatus = Type.Union([
	Type.Literal('running'),
	Type.Literal('complete'),
	Type.Literal('failed'),
	Type.Literal('cancelled'),
])
export type RunStatus = Static<typeof RunStatus>

export const StepState = Type.Object({
	stepId: Type.String(),
	name: Nullable(Type.String()),
	agent: Nullable(Type.String()),
	status: Type.Union([Type.Literal('running'), Type.Literal('complete'), Type.Literal('failed')]),
	progress: Nullable(Type.Number()),
	message: Nullable(Type.String()),
	duration: Nullable(Type.Number()),
})
export type StepState = Static<typeof StepState>

export const AgentState = Type.Object({
	name: Type.String(),
	status: RunStatus,
	progress: Nullable(Type.Number()),
	message: Nullable(Type.String()),
	lastEventId: Type.Integer(),
	updatedAt: Time,
	execution: Type.Object({
		startId: Type.Integer(),
		startedAt: Time,
		endedAt: Time,
		result: Type.Unknown(),
	}),
})
export type AgentState = Static<typeof AgentState>

export const WorkflowState = Type.Object({
	id: Type.String(),
	status: RunStatus,
	lastEventId: Type.Integer(),
	updatedAt: Time,
	startedAt: Time,
	endedAt: Time,
	steps: Type.Array(StepState),
})
export type WorkflowState = Static<typeof WorkflowState>

/** One of an agent's executions (`GET /api/agents/:name/executions`). */
export const Execution = Type.Object({
	startId: Type.Integer(),
	endId: Nullable(Type.Integer()),
	status: RunStatus,
	startedAt: Type.String({ format: 'date-time' }),
	endedAt: Time,
	message: Nullable(Type.String()),
	result: Type.Unknown(),
	resultOmitted: Type.Optional(
		Type.Literal(true, {
			description: 'the result is longer than 4 KiB as JSON and left out; the events have it',
		}),
	),
})
export type Execution = Static<typeof Execution>

/** How many of the streams a list covers are in each status. */
export const StatusCounts = Type.Object({
	running: Type.Integer({ minimum: 0 }),
	complete: Type.Integer({ minimum: 0 }),
	failed: Type.Integer({ minimum: 0 }),
	cancelled: Type.Integer({ minimum: 0 }),
})
export type StatusCounts = Static<typeof StatusCounts>

// The client's plain types say what these schemas describe; the typecheck fails if they drift.
true satisfies Same<AgentState, Wire.AgentState> &
	Same<WorkflowState, Wire.WorkflowState> &
	Same<StepState, Wire.StepState> &
	Same<RunStatus, Wire.RunStatus> &
	Same<Execution, Wire.Execution> &
	Same<StatusCounts, Wire.StatusCounts>
