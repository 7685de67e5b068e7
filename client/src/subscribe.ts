import type { CancelRequestedData, EventData, StandardEventType } from './types.js'
import { isTerminal } from './runs.js'
import { SseParser } from './sse.js'
import {
	authHeaders,
	type ClientOptions,
	CortexRequestError,
	endpoint,
	isRetryable,
	sleep,
	streamPath,
} from './http.js'
import { backoff } from './publish.js'

/**
 * The data of each type of event a stream can carry: the standard ones, `cancel_requested`
 * (appended by the server), and the custom types `C` a subscriber declares.
 */
export type KnownEvents<C extends CustomEvents = {}> = EventData & {
	cancel_requested: CancelRequestedData
} & Omit<C, StandardEventType | 'cancel_requested'>

/**
 * Custom event types a subscriber expects, each with its data, e.g.
 * `{ tool_call: { tool: string } }`; `unknown` data when its shape is not known.
 */
export type CustomEvents = Record<string, unknown>

/**
 * An event received from a stream, its `data` typed by its `event`: comparing `e.event` with a
 * type name narrows `e.data` to that type's fields. Custom types are typed by the type
 * parameter; one that was not declared still arrives, so a `default:` branch sees it at run
 * time even where its type says it cannot.
 *
 * @example
 * function show(e: StreamEvent) { if (e.event === 'failed') console.error(e.data.message) }
 */
export type StreamEvent<C extends CustomEvents = {}> = {
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
 */
export interface SubscribeOptions extends ClientOptions {
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
 * `Authorization` header. A 4xx other than 429 throws `CortexRequestError`.
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
export async function* subscribe<C extends CustomEvents = {}>(
	stream: string,
	options: SubscribeOptions = {},
): AsyncGenerator<StreamEvent<C> | GapEvent, void> {
	const { kind, name } = streamPath(stream)
	const doFetch = options.fetch ?? fetch
	const url = endpoint(options, `/api/streaming/${kind}/${name}/stream`)
	let lastEventId = options.lastEventId
	let retryMs = 1_000
	let failures = 0
	while (!options.signal?.aborted) {
		let res: Response | undefined
		try {
			res = await doFetch(url, {
				headers: {
					...authHeaders(options),
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
			if (!isRetryable(res.status)) throw failure
		}
		let ended = false
		if (res?.status === 200 && res.body) {
			failures = 0
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
