/**
 * `@cortex-stream/client/react`: one hook, useRun(), that shows an agent or a workflow run in a
 * React 18 or 19 component: its snapshot first, then live, resuming by itself. It imports only
 * `react` (a peer dependency) and this package, needs no JSX runtime, and does nothing at import
 * time, so a server-rendered page may import it (it renders the `loading` state there).
 *
 * @example
 * function Build() {
 *   const run = useRun('agents/build', { url, token: fetchTicket })
 *   if (run.error) return <p>{run.error.message}</p>
 *   return <progress value={run.progress ?? 0} title={run.message ?? run.status} />
 * }
 */

import { useEffect, useRef, useState } from 'react'
import { bearer, CortexRequestError, endpoint, isRetryable, sleep, streamPath } from './http.js'
import { backoff } from './publish.js'
import { agentState, emptyFold, type Fold, foldEvent, foldOf, workflowState } from './runs.js'
import {
	type CustomEvents,
	type GapEvent,
	type NoCustomEvents,
	type StreamEvent,
	type SubscribeOptions,
	subscribe,
} from './subscribe.js'
import type { AgentState, RunStatus, StepState, WorkflowState } from './types.js'

/**
 * subscribe()'s options (`url`, `token`, `fetch`, `maxRetryMs`), but not `lastEventId` and
 * `signal`, which the hook sets itself, and two of its own.
 *
 * @example
 * useRun('agents/build', { url: 'https://cortex.example', token: () => getTicket(), maxEvents: 100 })
 */
export interface UseRunOptions extends Omit<SubscribeOptions, 'lastEventId' | 'signal'> {
	/** `events` keeps the last this many; default 500. */
	maxEvents?: number
	/**
	 * An agent's stream ends with its execution; the hook then asks every this many ms whether
	 * the next one has started (each time a request that the server answers `204` at once while
	 * nothing new is stored), and shows it when it has. Default 5000; `false` stops at the end of
	 * the execution. A workflow run's hook always stops at the run's end.
	 */
	pollAfterEndMs?: number | false
}

/**
 * What useRun() returns: the run as its snapshot shows it, then as the events it received
 * since it mounted fold into it (with the same fold as the server's snapshots).
 *
 * @example
 * const { status, progress, message, steps, events, error, lastEventId } = useRun('workflows/wf-1', { token })
 */
export interface RunView<C extends CustomEvents = NoCustomEvents> {
	/**
	 * `loading` until the snapshot came; `waiting` when the stream has no event yet (the snapshot
	 * was a 404: the hook follows the stream and shows its first event when it comes); then the
	 * run's status. For an agent, the status of its current execution: an event after a
	 * terminal one starts the next execution, which resets `progress` and `message`.
	 */
	status: 'loading' | 'waiting' | RunStatus
	/** An agent's last reported progress (0 to 1; 1 after `complete`); null for a workflow run. */
	progress: number | null
	/** An agent's last message (of `progress`, `failed`, or the reason of `cancelled`); null for a workflow run. */
	message: string | null
	/** A workflow run's steps in the order they were first named; empty for an agent. */
	steps: StepState[]
	/**
	 * The events received since the hook mounted (not those the snapshot already held), oldest
	 * first, each once, at most `maxEvents`; a `gap` (no id) when retention pruned some of them.
	 */
	events: Array<StreamEvent<C> | GapEvent>
	/**
	 * Why the hook stopped: a `CortexRequestError` the server answered (`401` after asking a
	 * token function twice, `403`, `400` for a bad name), a `TypeError` for a stream that is not
	 * `agents/<name>` or `workflows/<id>`, or what a token function threw. A `404` snapshot is
	 * no error (see `waiting`); a server that cannot be reached, a `429` or a `5xx` is retried,
	 * not shown. Undefined while all is well.
	 */
	error: Error | undefined
	/** The id of the last event shown; 0 when there is none yet, undefined while loading. */
	lastEventId: number | undefined
}

const loading = <C extends CustomEvents>(): RunView<C> => ({
	status: 'loading',
	progress: null,
	message: null,
	steps: [],
	events: [],
	error: undefined,
	lastEventId: undefined,
})

/**
 * Shows a run, `agents/<name>` or `workflows/<id>`: first from its snapshot (`GET /api/agents/:name`
 * or `GET /api/workflows/:id`), then live from its stream, which it follows from the snapshot's
 * `lastEventId`, so that nothing is missed or shown twice, across dropped connections and server
 * restarts. A workflow run's hook stops at the run's end; an agent's keeps watching for the
 * next execution (`pollAfterEndMs`).
 *
 * One connection per mounted hook, in Strict Mode too: the effect's cleanup aborts the mount
 * React throws away before it sends anything. Changing `stream`, `url` or a string `token` closes the
 * connection and opens another (the view starts again from `loading`); unmounting closes it.
 * The other options are read when they are used, so an inline `token` function or `fetch` does
 * not reconnect on each render.
 *
 * @example
 * function Run({ id }: { id: string }) {
 *   const run = useRun(`workflows/${id}`, { url, token: () => ticketFromMyBackend(id) })
 *   if (run.error) return <p role="alert">{run.error.message}</p>
 *   return <ul>{run.steps.map((s) => <li key={s.stepId}>{s.name ?? s.stepId}: {s.status}</li>)}</ul>
 * }
 */
export function useRun<C extends CustomEvents = NoCustomEvents>(
	stream: string,
	options: UseRunOptions = {},
): RunView<C> {
	const latest = useRef(options)
	useEffect(() => {
		latest.current = options
	})
	const { url } = options
	const token = typeof options.token === 'string' ? options.token : undefined
	const key = JSON.stringify([stream, url, token])
	const [state, setState] = useState(() => ({ key, view: loading<C>() }))
	useEffect(() => {
		const controller = new AbortController()
		follow<C>(
			stream,
			() => ({ ...latest.current, url, token: token ?? latest.current.token }),
			controller.signal,
			(view) => setState({ key, view }),
		)
		return () => controller.abort()
	}, [key, stream, url, token])
	// Another stream (url, token): the old view is not this one's, start again from loading.
	if (state.key === key) return state.view
	const fresh = { key, view: loading<C>() }
	setState(fresh)
	return fresh.view
}

/** Loads the snapshot, then follows the stream; calls `show` with each new view until `signal` aborts. */
async function follow<C extends CustomEvents>(
	stream: string,
	options: () => UseRunOptions,
	signal: AbortSignal,
	show: (view: RunView<C>) => void,
) {
	let loaded = false
	let fold: Fold | undefined
	let events: Array<StreamEvent<C> | GapEvent> = []
	let error: Error | undefined
	let timer: ReturnType<typeof setTimeout> | undefined
	signal.addEventListener('abort', () => clearTimeout(timer), { once: true })
	const agent = stream.startsWith('agents/')

	function view(): RunView<C> {
		const state = fold && (agent ? agentState(fold) : workflowState(fold))
		return {
			status: !loaded ? 'loading' : state ? state.status : 'waiting',
			progress: state && 'progress' in state ? state.progress : null,
			message: state && 'message' in state ? state.message : null,
			steps: state && 'steps' in state ? state.steps : [],
			events: events.slice(),
			error,
			lastEventId: loaded ? (fold?.lastId ?? 0) : undefined,
		}
	}
	/** One render for the events of a chunk, not one each: they arrive in one task. */
	function render(now = false) {
		if (signal.aborted) return
		if (now) {
			clearTimeout(timer)
			timer = undefined
			return show(view())
		}
		timer ??= setTimeout(() => {
			timer = undefined
			if (!signal.aborted) show(view())
		}, 0)
	}

	try {
		// Strict Mode unmounts the first mount in the task that mounted it: a tick later its
		// signal has aborted, and it never called a token function or made a request.
		await Promise.resolve()
		if (signal.aborted) return
		const { kind, name } = streamPath(stream)
		const snapshot = await loadSnapshot(
			endpoint(options(), `/api/${kind}/${name}`),
			options,
			signal,
		)
		if (signal.aborted) return
		loaded = true
		fold = snapshot ? foldOf(snapshot) : undefined
		render(true)
		for (;;) {
			if (!agent && fold && fold.status !== 'running') return
			const lastEventId = fold?.lastId ?? 0
			for await (const e of subscribe<C>(stream, { ...options(), lastEventId, signal })) {
				if (e.id !== undefined) {
					// subscribe() sends each event once; this keeps it so whatever the server does.
					if (fold && e.id <= fold.lastId) continue
					const data = (e.data ?? {}) as Record<string, unknown>
					fold = foldEvent(fold ?? emptyFold(stream, e.id), e.id, e.event, data, Date.now())
				}
				events.push(e)
				const max = Math.max(0, options().maxEvents ?? 500)
				if (events.length > max) events = events.slice(events.length - max)
				render()
			}
			const poll = options().pollAfterEndMs ?? 5_000
			if (signal.aborted || !agent || poll === false) return
			await sleep(poll, signal)
		}
	} catch (e) {
		if (signal.aborted) return
		error = e instanceof Error ? e : new Error(String(e))
		render(true)
	}
}

/**
 * The run's snapshot, or null for a stream with no events yet (or one the credential may not
 * read: the stream then says 403). Retries what subscribe() retries: no answer, 429 and 5xx.
 */
async function loadSnapshot(
	url: string,
	options: () => UseRunOptions,
	signal: AbortSignal,
): Promise<AgentState | WorkflowState | null> {
	let refreshed = false
	for (let attempt = 0; ; attempt++) {
		const { token, fetch: doFetch = fetch } = options()
		const auth = await bearer(token)
		signal.throwIfAborted()
		let res: Response | undefined
		try {
			res = await doFetch(url, { headers: { ...auth, accept: 'application/json' }, signal })
			if (res.status === 200) return (await res.json()) as AgentState | WorkflowState
		} catch {
			// No answer, or one cut short: the server may be restarting.
			res = undefined
		}
		signal.throwIfAborted()
		if (res?.status === 404) {
			await res.body?.cancel()
			return null
		}
		if (res) {
			const failure = await CortexRequestError.from(res, url)
			if (res.status === 401 && typeof token === 'function' && !refreshed) {
				refreshed = true
				continue
			}
			if (!isRetryable(res.status)) throw failure
		}
		await sleep(Math.min(backoff(attempt), options().maxRetryMs ?? 30_000), signal)
	}
}
