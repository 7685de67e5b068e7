import type { AgentState, RunStatus, StepState, WorkflowState } from './types.js'

/**
 * What events do to a run: which end it, and the snapshot they fold into. The server's
 * snapshots, `cortex-stream tail` and the dashboard all fold with this module, so the three
 * show the same thing. It imports types only: it runs in the browser too.
 */

/** `complete`, `failed` and `cancelled` end an agent execution or a workflow run. */
export const TERMINAL_TYPES: ReadonlySet<string> = new Set(['complete', 'failed', 'cancelled'])
export const isTerminal = (type: string) => TERMINAL_TYPES.has(type)

/** What a fold keeps between events: enough for both kinds of snapshot. */
export interface Fold {
	/** `agents/<name>` or `workflows/<id>`. */
	stream: string
	/** The first id of the agent's execution (1 for a workflow run). */
	start: number
	lastId: number
	status: RunStatus
	/** Unix milliseconds. */
	startedAt: number | null
	endedAt: number | null
	/** When the last event folded was stored: the stream's last event. */
	updatedAt: number | null
	progress: number | null
	message: string | null
	result: unknown
	steps: Map<string, StepState>
}

export const emptyFold = (stream: string, start: number): Fold => ({
	stream,
	start,
	lastId: start - 1,
	status: 'running',
	startedAt: null,
	endedAt: null,
	updatedAt: null,
	progress: null,
	message: null,
	result: null,
	steps: new Map(),
})

const str = (value: unknown) => (typeof value === 'string' ? value : undefined)
const num = (value: unknown) => (typeof value === 'number' ? value : undefined)

function step(fold: Fold, stepId: string): StepState {
	let s = fold.steps.get(stepId)
	if (!s) {
		s = {
			stepId,
			name: null,
			agent: null,
			status: 'running',
			progress: null,
			message: null,
			duration: null,
		}
		fold.steps.set(stepId, s)
	}
	return s
}

/**
 * Folds event `id` (its type, its parsed `data`, when it was stored) into `fold`, in place, and
 * returns the fold to keep: a new one when an agent's event follows a terminal one, which starts
 * its next execution. Events go in id order.
 *
 * @example
 * fold = foldEvent(fold, 4, 'complete', { result: 'ok' }, Date.now())
 */
export function foldEvent(
	fold: Fold,
	id: number,
	event: string,
	data: Record<string, unknown>,
	at: number,
): Fold {
	if (fold.status !== 'running' && fold.stream.startsWith('agents/'))
		fold = emptyFold(fold.stream, id)
	fold.lastId = id
	fold.status = isTerminal(event) ? (event as RunStatus) : 'running'
	fold.startedAt ??= at
	fold.updatedAt = at
	switch (event) {
		case 'progress':
			fold.progress = num(data.progress) ?? fold.progress
			fold.message = str(data.message) ?? fold.message
			break
		case 'complete':
			fold.progress = 1
			fold.result = data.result ?? null
			fold.endedAt = at
			break
		case 'failed':
			fold.message = str(data.message) ?? fold.message
			fold.endedAt = at
			break
		case 'cancelled':
			fold.message = str(data.reason) ?? fold.message
			fold.endedAt = at
			break
		case 'step_start': {
			const s = step(fold, data.stepId as string)
			s.status = 'running'
			s.name = str(data.name) ?? s.name
			s.agent = str(data.agent) ?? s.agent
			break
		}
		case 'step_progress': {
			const s = step(fold, data.stepId as string)
			s.progress = num(data.progress) ?? s.progress
			s.message = str(data.message) ?? s.message
			break
		}
		case 'step_complete': {
			const s = step(fold, data.stepId as string)
			s.status = 'complete'
			s.progress = 1
			s.duration = num(data.duration) ?? s.duration
			break
		}
		case 'step_failed': {
			const s = step(fold, data.stepId as string)
			s.status = 'failed'
			s.message = str(data.message) ?? s.message
			break
		}
	}
	return fold
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
// A snapshot from a server older than `updatedAt` has none: undefined is null.
const ms = (iso: string | null | undefined) => (iso == null ? null : Date.parse(iso))
const baseName = (stream: string) => stream.slice(stream.indexOf('/') + 1)

export const agentState = (fold: Fold): AgentState => ({
	name: baseName(fold.stream),
	status: fold.status,
	progress: fold.progress,
	message: fold.message,
	lastEventId: fold.lastId,
	updatedAt: iso(fold.updatedAt),
	execution: {
		startId: fold.start,
		startedAt: iso(fold.startedAt),
		endedAt: iso(fold.endedAt),
		result: fold.result,
	},
})

export const workflowState = (fold: Fold): WorkflowState => ({
	id: baseName(fold.stream),
	status: fold.status,
	lastEventId: fold.lastId,
	updatedAt: iso(fold.updatedAt),
	startedAt: iso(fold.startedAt),
	endedAt: iso(fold.endedAt),
	steps: [...fold.steps.values()].map((s) => ({ ...s })),
})

/** The fold a snapshot was made from, to go on folding events after it (the dashboard's). */
export function foldOf(snapshot: AgentState | WorkflowState): Fold {
	if ('name' in snapshot) {
		const { execution: run } = snapshot
		return {
			...emptyFold(`agents/${snapshot.name}`, run.startId),
			lastId: snapshot.lastEventId,
			status: snapshot.status,
			startedAt: ms(run.startedAt),
			endedAt: ms(run.endedAt),
			updatedAt: ms(snapshot.updatedAt),
			progress: snapshot.progress,
			message: snapshot.message,
			result: run.result,
		}
	}
	return {
		...emptyFold(`workflows/${snapshot.id}`, 1),
		lastId: snapshot.lastEventId,
		status: snapshot.status,
		startedAt: ms(snapshot.startedAt),
		endedAt: ms(snapshot.endedAt),
		updatedAt: ms(snapshot.updatedAt),
		steps: new Map(snapshot.steps.map((s) => [s.stepId, { ...s }])),
	}
}
