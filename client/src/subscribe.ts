import {
	bearer,
	type ClientOptions,
	CortexRequestError,
	endpoint,
	isRetryable,
	sleep,
	streamPath,
	type TokenSource,
} from './http.js'
import { backoff } from './publish.js'
import { isTerminal } from './runs.js'
import { SseParser } from './sse.js'
import type { CancelRequestedData, EventData, StandardEventType } from './types.js'

/**
 * The data of each type of event a stream can carry: the standard ones, `cancel_requested`
 * (appended by the server), and the custom types `C` a subscriber declares.
 */
export type KnownEvents<C extends CustomEvents = NoCustomEvents> = EventData & {
	cancel_requested: CancelRequestedData
} & Omit<C, StandardEventType | 'cancel_requested'>

/**
 * Custom event types a subscriber expects, each with its data, e.g.
 * `{ tool_call: { tool: string } }`; `unknown` data when its shape is not known.
 */
export type CustomEvents = Record<string, unknown>

/** The default: no custom types declared. */
export type NoCustomEvents = Record<never, never>

/**
 * An event received from a stream, its `data` typed by its `event`: comparing `e.event` with a
 * type name narrows `e.data` to that type's fields. Custom types are typed by the type
 * parameter; one that was not declared still arrives, so a `default:` branch sees it at run
 * time even where its type says it cannot.
 *
 * @example
 * function show(e: StreamEvent) { if (e.event === 'failed') console.error(e.data.message) }
 */
export type StreamEvent<C extends CustomEvents = NoCustomEvents> = {
	[T in keyof KnownEvents<C> & string]: { id: number; event: T; data: KnownEvents<C>[T] }
}[keyof KnownEvents<C> & string]

/**
 * Sent first when the events after Last-Event-ID were pruned; the stream goes on from `firstAvailable`.
 *
 * @example
 * if (e.event === 'gap') console.warn(`missed ${e.data.firstAvailable - e.data.requested} pruned events`)
 */
export interface GapEvent {
	id?: undefined
	event: 'gap'
	data: { requested: number; firstAvailable: number }
}

/**
 * @example
 * subscribe('workflows/wf-1', { token, lastEventId: saved, signal: AbortSignal.timeout(60_000) })
 * // A browser page that never holds a token: a fresh read ticket from its backend for each connection.
 * subscribe('agents/build', { url, token: () => fetch('/my-app/cortex-ticket').then((r) => r.text()) })
 */
export interface SubscribeOptions extends Omit<ClientOptions, 'token'> {
	/**
	 * The credential, or a function that gives one (it may be async), called before each
	 * connection, reconnections included, so an expired ticket is replaced by a fresh one. After
	 * a `401` the function is called once more and the request sent again; a second `401` in a
	 * row throws. When it throws, subscribe() throws that.
	 */
	token?: TokenSource
	/** Start after this id; default: the start of the agent's current execution or the run. */
	lastEventId?: number
	/** Stops the subscription; the iterator then ends quietly. */
	signal?: AbortSignal
	/** Longest wait between reconnects, after the server's `retry:`; default 30 s. */
	maxRetryMs?: number
}

/**
 * Follows a stream: an async iterable of its events, in order, each once. It reconnects by
 * itself after a dropped connection or a server restart, with `Last-Event-ID` (the server's
 * `retry:` first, then backing off), and ends after a terminal event (`complete`, `failed`,
 * `cancelled`) or when the server answers 204. It uses `fetch`, so the token travels in the
 * `Authorization` header; `token` may be a function that gives a fresh one for each connection.
 * A 4xx other than 429 throws `CortexRequestError` (a 401 after asking that function twice).
 *
 * @example
 * for await (const e of subscribe('agents/my-agent', { token, signal })) {
 *   if (e.event === 'progress') bar.update(e.data.progress ?? 0)
 * }
 * // Custom types, declared with their data:
 * for await (const e of subscribe<{ tool_call: { tool: string } }>('agents/my-agent', { token })) {
 *   if (e.event === 'tool_call') console.log(e.data.tool)
 * }
 */
export async function* subscribe<C extends CustomEvents = NoCustomEvents>(
	stream: string,
	options: SubscribeOptions = {},
): AsyncGenerator<StreamEvent<C> | GapEvent, void> {
	const { kind, name } = streamPath(stream)
	const doFetch = options.fetch ?? fetch
	const url = endpoint(options, `/api/streaming/${kind}/${name}/stream`)
	let lastEventId = options.lastEventId
	let retryMs = 1_000
	let failures = 0
	// A 401 asks a token function for a fresh credential once before it counts.
	let refreshed = false
	while (!options.signal?.aborted) {
		const auth = await bearer(options.token)
		if (options.signal?.aborted) return
		let res: Response | undefined
		try {
			res = await doFetch(url, {
				headers: {
					...auth,
					accept: 'text/event-stream',
					...(lastEventId !== undefined && { 'last-event-id': String(lastEventId) }),
				},
				signal: options.signal,
			})
		} catch {
			// Connection refused or reset: the server may be restarting.
		}
		if (res?.status === 204) return
		if (res && res.status !== 200) {
			const failure = await CortexRequestError.from(res)
			if (res.status === 401 && typeof options.token === 'function' && !refreshed) {
				refreshed = true
				continue
			}
			if (!isRetryable(res.status)) throw failure
		}
		let ended = false
		if (res?.status === 200 && res.body) {
			failures = 0
			refreshed = false
			// Typed by the caller's declaration, not by anything checked here: data is JSON.
			const queue: Array<StreamEvent<C> | GapEvent> = []
			const parser = new SseParser(
				(m) => {
					const id = m.id === undefined ? undefined : Number(m.id)
					queue.push({ id, event: m.event, data: JSON.parse(m.data) } as StreamEvent<C> | GapEvent)
				},
				(ms) => {
					retryMs = ms
				},
			)
			const decoder = new TextDecoder()
			try {
				for await (const chunk of res.body) {
					parser.push(decoder.decode(chunk, { stream: true }))
					while (queue.length > 0) {
						const event = queue.shift() as StreamEvent<C> | GapEvent
						if (event.id !== undefined) lastEventId = event.id
						ended = event.id !== undefined && isTerminal(event.event)
						yield event
					}
				}
			} catch {
				// The connection dropped mid-stream; resume from lastEventId below.
			}
		}
		if (ended || options.signal?.aborted) return
		const wait = failures === 0 ? retryMs : Math.max(retryMs, backoff(failures))
		failures++
		try {
			await sleep(Math.min(wait, options.maxRetryMs ?? 30_000), options.signal)
		} catch {
			return
		}
	}
}
