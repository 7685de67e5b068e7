/**
 * What `@cortex-stream/client/ai-sdk` and `@cortex-stream/client/langgraph` share: a run (an
 * agent execution or a workflow run) published through one `Publisher`, ended exactly once
 * (`complete`, `failed` or `cancelled`), aborted by a cancel request seen in a publish answer or
 * on the run's own stream, and data bounded to what the server takes.
 */

import { streamPath } from './http.js'
import type { OutgoingEvent } from './publish.js'
import { Publisher, type PublisherOptions } from './publisher.js'
import { subscribe } from './subscribe.js'
import type { CancelRequest, RunStatus } from './types.js'

/**
 * Where the server is and how publishing goes (the `Publisher`'s options), and what else a
 * tracked run needs.
 *
 * @example
 * { url: 'http://127.0.0.1:8787', token: process.env.CORTEX_TOKEN, signal: AbortSignal.timeout(600_000) }
 */
export interface RunOptions extends Omit<PublisherOptions, 'signal'> {
	/**
	 * Aborts the call (it is in the run's `signal`), which then ends `cancelled`. Unlike a
	 * `Publisher`'s `signal`, it does not stop publishing: the `cancelled` is still sent.
	 */
	signal?: AbortSignal
	/**
	 * Whether to follow the run's own stream from its first event, so that a cancel request
	 * reaches the call even while it publishes nothing (a long model call); default true. It
	 * needs `read` on the stream; without it, a request is seen in the answers to publishes.
	 */
	followCancel?: boolean
	/**
	 * Where cortex-stream's own failures go: a publish refused or unreachable for `retryForMs`
	 * (after which nothing more is sent), or a stream that could not be followed. They never
	 * fail the call itself. Default: `console.warn`, once per failure.
	 */
	reportError?: (error: unknown) => void
}

/** Bounds, in bytes of JSON, under the server's 64 KiB for an event's data. */
export const LIMITS = {
	/** A tool's input or output, a workflow step's result. */
	value: 16 * 1024,
	/** The final text, a workflow run's final state. */
	result: 48 * 1024,
	/** A message: an error's, a progress message. */
	message: 4 * 1024,
} as const

const encoder = new TextEncoder()
const byteLength = (text: string) => encoder.encode(text).length

/**
 * `value` as it can be published within `maxBytes` of JSON: itself when it fits; else the start
 * of its text (of its JSON for what is not a string) and a marker saying how much was cut.
 * What JSON cannot hold (a cycle, a BigInt) is published as its `String()`.
 *
 * @example
 * bounded({ rows }, LIMITS.value) // { rows } when its JSON fits in 16 KiB, else '{"rows":[[1,… … [91170 more characters]'
 */
export function bounded(value: unknown, maxBytes: number): unknown {
	let json: string | undefined
	try {
		json = JSON.stringify(value)
	} catch {
		value = String(value)
		json = JSON.stringify(value)
	}
	if (json === undefined) return undefined
	if (byteLength(json) <= maxBytes) return value
	const text = typeof value === 'string' ? value : json
	const cut = (n: number) => {
		// Not between the two halves of a surrogate pair.
		const end = n > 0 && /[\uD800-\uDBFF]/.test(text[n - 1]) ? n - 1 : n
		return `${text.slice(0, end)} … [${text.length - end} more characters]`
	}
	let low = 0
	let high = text.length
	while (low < high) {
		const mid = Math.ceil((low + high) / 2)
		if (byteLength(JSON.stringify(cut(mid))) <= maxBytes) low = mid
		else high = mid - 1
	}
	return cut(low)
}

/** An error's message (its `String()` for what is not an Error), bounded. */
export function errorMessage(error: unknown): string {
	const { message, name } = (typeof error === 'object' && error !== null ? error : {}) as {
		message?: unknown
		name?: unknown
	}
	const text = typeof message === 'string' ? message || String(name ?? 'Error') : String(error)
	return bounded(text, LIMITS.message) as string
}

/**
 * What agent executions and workflow runs tracked by these adapters share: a `Publisher` for
 * their events, a `signal` that a cancel request (or your own `signal`) aborts, and one
 * terminal event, sent once. After it nothing more is sent, so a late callback of the framework
 * cannot append to the next execution (or be refused by an ended workflow run).
 */
export class TrackedRun {
	/** Aborted by a cancel request, by `cancel()`, or by the `signal` of the options. */
	readonly signal: AbortSignal
	/**
	 * Resolves once the terminal event is acknowledged (or publishing failed for good, which
	 * `reportError` was told). It never rejects.
	 */
	readonly done: Promise<void>
	protected readonly publisher: Publisher
	private readonly started = performance.now()
	private readonly controller = new AbortController()
	private readonly watching = new AbortController()
	private readonly reported = new Set<unknown>()
	private state: RunStatus = 'running'
	private request: CancelRequest | undefined
	private firstId: number | undefined
	private checked = false
	private resolveDone: () => void = () => {}

	constructor(
		readonly stream: string,
		protected readonly settings: RunOptions = {},
	) {
		streamPath(stream)
		const { signal, followCancel, reportError, onPublished, onCancelRequested, ...publishing } =
			settings
		this.signal = this.controller.signal
		this.done = new Promise((resolve) => {
			this.resolveDone = resolve
		})
		this.publisher = new Publisher(stream, {
			...publishing,
			onPublished: (ids) => {
				if (this.firstId === undefined && ids.length > 0) {
					this.firstId = ids[0]
					if (followCancel !== false && this.status === 'running') this.follow(ids[0])
				}
				onPublished?.(ids)
			},
			onCancelRequested: (request) => {
				// One left in an agent's execution that an earlier runner never ended is not for this one.
				if (this.firstId !== undefined && request.id > this.firstId) this.requested(request)
				onCancelRequested?.(request)
			},
		})
		if (signal?.aborted) this.controller.abort(signal.reason)
		else
			signal?.addEventListener('abort', () => this.controller.abort(signal.reason), {
				once: true,
				signal: this.watching.signal,
			})
	}

	/** `running` until the terminal event is queued, then `complete`, `failed` or `cancelled`. */
	get status(): RunStatus {
		return this.state
	}

	/** The cancel request that aborted the run, once one did. */
	get cancelRequest(): CancelRequest | undefined {
		return this.request
	}

	/** Queues an event of the run (a custom one too); nothing once the run has ended. */
	send<T extends string>(event: T, data?: OutgoingEvent<T>['data']) {
		if (this.status !== 'running') return
		this.publisher.send(event, data)
		// A refusal (a wrong token, a workflow id already used) is said at once, not at the end.
		if (!this.checked) {
			this.checked = true
			this.publisher.flush().catch((error) => this.report(error))
		}
	}

	/**
	 * Ends the run `failed` with the error's message, or `cancelled` when its `signal` was
	 * aborted (the error is then that abort's). Resolves as `done` does.
	 */
	fail(error: unknown): Promise<void> {
		if (this.signal.aborted) return this.cancel()
		const code = error instanceof Error && error.name !== 'Error' ? error.name : undefined
		return this.end('failed', { message: errorMessage(error), ...(code && { code }) })
	}

	/**
	 * Aborts the run's `signal` (so the call stops) and ends it `cancelled`, with `reason`, or
	 * that of the cancel request, or of the aborted `signal`, or "cancelled". Resolves as `done`
	 * does.
	 */
	cancel(reason?: string): Promise<void> {
		if (this.status !== 'running') return this.done
		const why = reason ?? (this.signal.aborted ? this.cancelReason() : 'cancelled')
		if (!this.signal.aborted) this.controller.abort(abortError(why))
		return this.end('cancelled', { reason: why })
	}

	/** Queues the terminal event, stops following the stream, and flushes. */
	protected end(
		type: 'complete' | 'failed' | 'cancelled',
		data: Record<string, unknown>,
	): Promise<void> {
		if (this.status !== 'running') return this.done
		this.beforeEnd(type)
		this.send(type, { ...data, duration: Math.round(performance.now() - this.started) })
		this.state = type
		this.watching.abort()
		this.publisher
			.close()
			.catch((error) => this.report(error))
			.finally(() => this.resolveDone())
		return this.done
	}

	/** Called once, before the terminal event is queued (a workflow closes its open steps). */
	protected beforeEnd(_type: 'complete' | 'failed' | 'cancelled') {}

	protected report(error: unknown) {
		if (this.reported.has(error)) return
		this.reported.add(error)
		const report =
			this.settings.reportError ??
			((e: unknown) => console.warn(`cortex-stream: ${this.stream}: ${errorMessage(e)}`))
		report(error)
	}

	private requested(request: CancelRequest) {
		if (this.status !== 'running' || this.signal.aborted) return
		this.request = request
		this.controller.abort(abortError(this.cancelReason()))
	}

	private cancelReason(): string {
		if (this.request) return this.request.reason || 'cancel requested'
		const reason: unknown = this.signal.reason
		if (typeof reason === 'string' && reason) return reason
		if (reason instanceof Error && reason.message) return reason.message
		return 'aborted'
	}

	private follow(afterId: number) {
		const { url, token, fetch } = this.settings
		;(async () => {
			try {
				const events = subscribe(this.stream, {
					url,
					token,
					fetch,
					lastEventId: afterId,
					signal: this.watching.signal,
					maxRetryMs: 5_000,
				})
				for await (const e of events)
					if (e.event === 'cancel_requested' && e.id !== undefined)
						this.requested({
							id: e.id,
							...(e.data.reason !== undefined && { reason: e.data.reason }),
						})
			} catch (error) {
				if (!this.watching.signal.aborted) this.report(error)
			}
		})()
	}
}

const abortError = (reason: string) =>
	new DOMException(reason === 'cancel requested' ? reason : `cancelled: ${reason}`, 'AbortError')
