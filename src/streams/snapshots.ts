import type { StoredEvent, StreamKind } from '../events.ts'
import type { RunStatus, Store, StreamState } from '../store/store.ts'

export interface AgentState {
	name: string
	status: RunStatus
	progress: number | null
	message: string | null
	lastEventId: number
	execution: {
		startId: number
		startedAt: string | null
		endedAt: string | null
		result: unknown
	}
}

export type StepStatus = 'running' | 'complete' | 'failed'

export interface StepState {
	stepId: string
	name: string | null
	agent: string | null
	status: StepStatus
	progress: number | null
	message: string | null
	duration: number | null
}

export interface WorkflowState {
	id: string
	status: RunStatus
	lastEventId: number
	startedAt: string | null
	endedAt: string | null
	steps: StepState[]
}

/** What a fold keeps between events: enough for both kinds of snapshot. */
export interface Fold {
	start: number
	lastId: number
	startedAt: number | null
	endedAt: number | null
	progress: number | null
	message: string | null
	result: unknown
	steps: Map<string, StepState>
}

export const emptyFold = (start: number): Fold => ({
	start,
	lastId: start - 1,
	startedAt: null,
	endedAt: null,
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

/** Applies one event to a fold, in place. Events are applied in id order. */
export function applyEvent(fold: Fold, e: StoredEvent) {
	const d = JSON.parse(e.data) as Record<string, unknown>
	fold.lastId = e.id
	fold.startedAt ??= e.createdAt
	switch (e.event) {
		case 'progress':
			fold.progress = num(d.progress) ?? fold.progress
			fold.message = str(d.message) ?? fold.message
			break
		case 'complete':
			fold.progress = 1
			fold.result = d.result ?? null
			fold.endedAt = e.createdAt
			break
		case 'failed':
			fold.message = str(d.message) ?? fold.message
			fold.endedAt = e.createdAt
			break
		case 'cancelled':
			fold.message = str(d.reason) ?? fold.message
			fold.endedAt = e.createdAt
			break
		case 'step_start': {
			const s = step(fold, d.stepId as string)
			s.status = 'running'
			s.name = str(d.name) ?? s.name
			s.agent = str(d.agent) ?? s.agent
			break
		}
		case 'step_progress': {
			const s = step(fold, d.stepId as string)
			s.progress = num(d.progress) ?? s.progress
			s.message = str(d.message) ?? s.message
			break
		}
		case 'step_complete': {
			const s = step(fold, d.stepId as string)
			s.status = 'complete'
			s.progress = 1
			s.duration = num(d.duration) ?? s.duration
			break
		}
		case 'step_failed': {
			const s = step(fold, d.stepId as string)
			s.status = 'failed'
			s.message = str(d.message) ?? s.message
			break
		}
	}
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
const baseName = (stream: string) => stream.slice(stream.indexOf('/') + 1)

export function agentState(state: StreamState, fold: Fold): AgentState {
	return {
		name: baseName(state.name),
		status: state.status,
		progress: fold.progress,
		message: fold.message,
		lastEventId: state.lastId,
		execution: {
			startId: fold.start,
			startedAt: iso(fold.startedAt),
			endedAt: iso(fold.endedAt),
			result: fold.result,
		},
	}
}

export function workflowState(state: StreamState, fold: Fold): WorkflowState {
	return {
		id: baseName(state.name),
		status: state.status,
		lastEventId: state.lastId,
		startedAt: iso(fold.startedAt),
		endedAt: iso(fold.endedAt),
		steps: [...fold.steps.values()].map((s) => ({ ...s })),
	}
}

export interface Snapshots {
	/** The snapshot of one stream as of `state`, or undefined for a stream never published to. */
	one(kind: 'agents', state: StreamState): Promise<AgentState>
	one(kind: 'workflows', state: StreamState): Promise<WorkflowState>
	one(kind: StreamKind, state: StreamState): Promise<AgentState | WorkflowState>
	/** Retention pruned the stream: its fold goes (the snapshot it kept answers from now on). */
	forget(stream: string): void
	/** Folds kept now. */
	readonly size: number
}

/** Folds kept at most: the streams a dashboard's pages and its open runs ask for, not every one. */
export const MAX_FOLDS = 2048

/**
 * Snapshots folded from the log: an agent's current execution, a workflow's whole run. Folds are
 * kept for the streams asked for most recently (at most MAX_FOLDS) and carried forward, so a
 * snapshot reads only the events since the last one. Each is folded exactly up to
 * `state.lastId`, so it agrees with the cursor read beside that state.
 */
export function createSnapshots(store: Store): Snapshots {
	// A Map iterates in insertion order: deleting and setting again moves a fold to the end, so
	// the first key is the one asked for least recently.
	const folds = new Map<string, Fold>()
	const keep = (stream: string, fold: Fold) => {
		folds.delete(stream)
		folds.set(stream, fold)
		if (folds.size > MAX_FOLDS) folds.delete(folds.keys().next().value as string)
	}

	async function foldUpTo(state: StreamState, start: number): Promise<Fold> {
		let fold = folds.get(state.name)
		if (!fold || fold.start !== start || fold.lastId > state.lastId) fold = emptyFold(start)
		// Work on a copy: a concurrent snapshot of an older state must not see a newer fold.
		const next: Fold = { ...fold, steps: new Map([...fold.steps].map(([k, s]) => [k, { ...s }])) }
		while (next.lastId < state.lastId) {
			const events = await store.read(state.name, next.lastId, 1000)
			if (events.length === 0) break
			for (const e of events) if (e.id <= state.lastId) applyEvent(next, e)
			if (events[events.length - 1].id >= state.lastId) break
		}
		const current = folds.get(state.name)
		if (!current || current.lastId <= next.lastId) keep(state.name, next)
		return next
	}

	return {
		async one(kind: StreamKind, state: StreamState) {
			// Retention pruned the events this snapshot would fold: the kept one is final.
			const start = kind === 'agents' ? state.executionStart : 1
			if (state.snapshot && start < state.firstId) return JSON.parse(state.snapshot)
			if (kind === 'agents') return agentState(state, await foldUpTo(state, state.executionStart))
			return workflowState(state, await foldUpTo(state, start))
		},
		forget(stream: string) {
			folds.delete(stream)
		},
		get size() {
			return folds.size
		},
	} as Snapshots
}
