import type { StreamKind } from '../events.ts'
import type { Store, StreamState } from '../store/store.ts'

/**
 * Whether a run is over for a subscriber that has everything up to `cursor`: its last event is
 * terminal and it has it. The one rule behind a 204 at the start and the end of a stream.
 */
export const runIsOver = (state: StreamState | undefined, cursor: number) =>
	state !== undefined && state.status !== 'running' && cursor >= state.lastId

/** `{requested, firstAvailable}`: sent first when what the client asked for next was pruned. */
const gapData = (requested: number, firstAvailable: number) =>
	JSON.stringify({ requested, firstAvailable })

/** Where a subscription goes on: after `afterId`, with a `gap` to send first, or nowhere. */
export type Start = { over: true } | { over: false; afterId: number; gap?: string }

/**
 * Where a subscription to one stream starts, the one place that decides it. After the client's
 * Last-Event-ID when it sent one; else at the first event of an agent's current execution (a
 * workflow's run), or for a stream with no events yet, at the first one to come. Retention may
 * have pruned what comes next: then at the first event kept, with a `gap` first. A run that is
 * over with nothing of it left to send is `over` (a 204, which tells EventSource to stop
 * reconnecting). A Last-Event-ID ahead of the stream waits for events past it.
 */
export async function streamStart(
	store: Store,
	kind: StreamKind,
	stream: string,
	lastEventId: number | undefined,
): Promise<Start> {
	const state = await store.state(stream)
	const firstAvailable = state?.firstId ?? 1
	const start = lastEventId ?? (state ? (kind === 'agents' ? state.executionStart : 1) - 1 : 0)
	const afterId = Math.max(start, firstAvailable - 1)
	if (runIsOver(state, afterId)) return { over: true }
	const gap =
		lastEventId !== undefined && lastEventId + 1 < firstAvailable
			? gapData(lastEventId + 1, firstAvailable)
			: undefined
	return { over: false, afterId, gap }
}

/**
 * Where the feed starts after the global cursor `afterSeq`: right after it; or, when retention
 * pruned what came next, at the first event kept after it, with the `gap` to send first.
 * Undefined starts live. The feed never ends: terminal events are events like any other there.
 */
export async function feedStart(
	store: Store,
	afterSeq: number | undefined,
): Promise<{ afterSeq: number | undefined; gap?: string }> {
	if (afterSeq === undefined) return { afterSeq }
	const cursor = await store.cursor()
	if (afterSeq >= cursor) return { afterSeq }
	// Nothing kept up to the cursor: the next event to come is the first available.
	const first = (await store.keptAfter(afterSeq))?.seq ?? cursor + 1
	if (first === afterSeq + 1) return { afterSeq }
	return { afterSeq: first - 1, gap: gapData(afterSeq + 1, first) }
}
