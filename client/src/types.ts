/**
 * The wire's vocabulary as plain TypeScript: each standard event's data, and the snapshots the
 * API answers with. The server validates with TypeBox schemas of the same shapes
 * (`src/events.ts`, `src/states.ts`), and its typecheck fails if the two ever disagree, so this
 * package needs no schema library at run time or in its declarations. Event data are type
 * aliases, not interfaces, so that they fit `Record<string, unknown>`.
 */

/** `progress`: how far an agent execution is. `progress` is a fraction from 0 to 1. */
export type ProgressData = {
	step?: string
	message?: string
	progress?: number
}
/** `complete`: the execution or run ended well. `duration` in milliseconds. */
export type CompleteData = {
	result?: unknown
	duration?: number
}
/** `failed`: the execution or run ended with an error. */
export type FailedData = {
	message: string
	code?: string
}
/** `cancelled`: the runner stopped, usually after a `cancel_requested`. */
export type CancelledData = {
	reason?: string
}
export type StepStartData = {
	stepId: string
	name?: string
	agent?: string
}
export type StepProgressData = {
	stepId: string
	progress?: number
	message?: string
}
export type StepCompleteData = {
	stepId: string
	result?: unknown
	duration?: number
}
export type StepFailedData = {
	stepId: string
	message: string
}

/** The data of each standard event type; any other valid type name is a custom event. */
export interface EventData {
	progress: ProgressData
	complete: CompleteData
	failed: FailedData
	cancelled: CancelledData
	step_start: StepStartData
	step_progress: StepProgressData
	step_complete: StepCompleteData
	step_failed: StepFailedData
}
export type StandardEventType = keyof EventData

/** What the server appends when someone asks a run to stop (`POST .../cancel`). */
export type CancelRequestedData = {
	reason?: string
}

/** What a publish's answer carries while someone has asked the execution or run to stop. */
export interface CancelRequest {
	/** The `cancel_requested` event's id. */
	id: number
	reason?: string
}

/** A publish's answer: the new events' ids, once they are durable. */
export interface PublishAnswer {
	ids: number[]
	cancelRequested?: CancelRequest
}

/** An agent execution's or a workflow run's status. */
export type RunStatus = 'running' | 'complete' | 'failed' | 'cancelled'

/** A workflow step, as a workflow's snapshot shows it. */
export interface StepState {
	stepId: string
	name: string | null
	agent: string | null
	status: 'running' | 'complete' | 'failed'
	progress: number | null
	message: string | null
	/** Milliseconds, from `step_complete`. */
	duration: number | null
}

/** `GET /api/agents/:name`: the agent's current (or last) execution. Times are ISO 8601. */
export interface AgentState {
	name: string
	status: RunStatus
	progress: number | null
	message: string | null
	lastEventId: number
	/** When the stream's last event was stored (null only before any): how long a run has been silent. */
	updatedAt: string | null
	execution: {
		startId: number
		startedAt: string | null
		endedAt: string | null
		result: unknown
	}
}

/** `GET /api/workflows/:id`: the run and its steps. Times are ISO 8601. */
export interface WorkflowState {
	id: string
	status: RunStatus
	lastEventId: number
	/** When the run's last event was stored (null only before any). */
	updatedAt: string | null
	startedAt: string | null
	endedAt: string | null
	steps: StepState[]
}

/**
 * One of `GET /api/agents/:name/executions`: an execution of the agent, from its first event
 * (`startId`) to its terminal one (`endId`, null while it runs). Times are ISO 8601.
 */
export interface Execution {
	startId: number
	endId: number | null
	status: RunStatus
	startedAt: string
	endedAt: string | null
	/** Its last progress `message`, or the `message` of its `failed` or the `reason` of its `cancelled`. */
	message: string | null
	/** The `result` of its `complete`, else null. */
	result: unknown
	/** Present when the result is longer than 4 KiB as JSON: it is left out (`result` null). */
	resultOmitted?: true
}

/** How many of the streams a list covers are in each status (`counts` of the lists). */
export interface StatusCounts {
	running: number
	complete: number
	failed: number
	cancelled: number
}
