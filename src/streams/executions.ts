import { emptyFold, type Fold, foldEvent } from '../../client/src/runs.ts'
import type { StoredEvent } from '../events.ts'
import type { Execution } from '../states.ts'
import type { EndedExecution, Store, StreamState } from '../store/store.ts'
import type { Snapshots } from './snapshots.ts'

/** A page of an agent's executions, newest first, and whether older ones come after it. */
export interface ExecutionPage {
	executions: Execution[]
	more: boolean
}

const iso = (ms: number) => new Date(ms).toISOString()
const str = (value: unknown) => (typeof value === 'string' ? value : undefined)

const parse = (event: StoredEvent | undefined) =>
	event ? (JSON.parse(event.data) as Record<string, unknown>) : undefined

/** The message an ended execution's terminal event gives itself, if it gives one. */
function ownMessage(e: EndedExecution, end: Record<string, unknown>) {
	if (e.status === 'failed') return str(end.message)
	if (e.status === 'cancelled') return str(end.reason)
	return undefined
}

/**
 * The message of an ended execution that its terminal event does not give: the `message` of its
 * last message candidate (`messageId`, found by a text search when it was appended). When that
 * turns out to be a `message` key nested deeper, not the event's own, the execution is folded
 * as a snapshot is, up to that event: rare, and bounded by the execution.
 */
async function lastMessage(
	store: Store,
	stream: string,
	e: EndedExecution,
	candidate: StoredEvent | undefined,
) {
	if (e.messageId === 0) return null
	const own = str(parse(candidate)?.message)
	if (own !== undefined) return own
	let fold: Fold = emptyFold(stream, e.startId)
	for (let after = e.startId - 1; after < e.messageId; ) {
		const events = await store.read(stream, after, Math.min(1000, e.messageId - after))
		if (events.length === 0) break
		for (const ev of events) fold = foldEvent(fold, ev.id, ev.event, JSON.parse(ev.data), 0)
		after = events[events.length - 1].id
	}
	return fold.message
}

/**
 * Ended executions as the API shows them, from what the store kept of them and, in one read
 * for the whole page, their terminal events and the events their messages come from: `message`
 * and `result` as the snapshot's fold makes them.
 */
async function describe(
	store: Store,
	stream: string,
	ended: EndedExecution[],
): Promise<Execution[]> {
	const ids = new Set<number>()
	for (const e of ended) {
		ids.add(e.endId)
		// A failed execution's message is its own (`message` is required of `failed`).
		if (e.messageId > 0 && e.status !== 'failed') ids.add(e.messageId)
	}
	const events = new Map<number, StoredEvent>()
	for (const event of await store.readIds(
		stream,
		[...ids].sort((a, b) => a - b),
	))
		events.set(event.id, event)
	const described: Execution[] = []
	for (const e of ended) {
		const end = parse(events.get(e.endId)) ?? {}
		described.push({
			startId: e.startId,
			endId: e.endId,
			status: e.status,
			startedAt: iso(e.startedAt),
			endedAt: iso(e.endedAt),
			message: ownMessage(e, end) ?? (await lastMessage(store, stream, e, events.get(e.messageId))),
			result: e.status === 'complete' ? (end.result ?? null) : null,
		})
	}
	return described
}

/**
 * A page of the executions of the agent whose state is `state`, newest first: those that start
 * below id `before`, at most `limit`. The running one is its snapshot's (it has no row until it
 * ends); the ended ones are the store's rows, as of `state`. Pruned ones are not there.
 */
export async function executionsPage(
	store: Store,
	snapshots: Snapshots,
	state: StreamState,
	before: number,
	limit: number,
): Promise<ExecutionPage> {
	const executions: Execution[] = []
	if (state.status === 'running' && state.executionStart < before) {
		const snapshot = await snapshots.one('agents', state)
		executions.push({
			startId: snapshot.execution.startId,
			endId: null,
			status: 'running',
			startedAt: snapshot.execution.startedAt ?? iso(state.updatedAt),
			endedAt: null,
			message: snapshot.message,
			result: null,
		})
	}
	const wanted = limit - executions.length
	const ended = await store.executions(state.name, before, state.lastId, wanted + 1)
	const more = ended.length > wanted
	executions.push(...(await describe(store, state.name, ended.slice(0, wanted))))
	return { executions, more }
}
