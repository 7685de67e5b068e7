import {
	agentState,
	emptyFold,
	type Fold,
	foldEvent,
	workflowState,
} from '../../client/src/runs.ts'
import type { StreamKind } from '../events.ts'
import type { AgentState, WorkflowState } from '../states.ts'
import type { Store, StreamState } from '../store/store.ts'

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
		if (!fold || fold.start !== start || fold.lastId > state.lastId)
			fold = emptyFold(state.name, start)
		// Work on a copy: a concurrent snapshot of an older state must not see a newer fold.
		let next: Fold = { ...fold, steps: new Map([...fold.steps].map(([k, s]) => [k, { ...s }])) }
		while (next.lastId < state.lastId) {
			const events = await store.read(state.name, next.lastId, 1000)
			if (events.length === 0) break
			for (const e of events)
				if (e.id <= state.lastId)
					next = foldEvent(next, e.id, e.event, JSON.parse(e.data), e.createdAt)
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
			if (state.snapshot && start < state.firstId) {
				// One kept by a server from before `updatedAt` lacks it: the stream's row has the time.
				const kept = JSON.parse(state.snapshot)
				kept.updatedAt ??= new Date(state.updatedAt).toISOString()
				return kept
			}
			const fold = await foldUpTo(state, start)
			return kind === 'agents' ? agentState(fold) : workflowState(fold)
		},
		forget(stream: string) {
			folds.delete(stream)
		},
		get size() {
			return folds.size
		},
	} as Snapshots
}
