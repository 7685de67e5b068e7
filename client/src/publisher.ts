import { CortexConnectionError, CortexRequestError, isRetryable } from './http.js'
import { type OutgoingEvent, type PublishOptions, publish } from './publish.js'
import type { CancelRequest, ProgressData } from './types.js'

// Under Node and Bun, publishers that were never closed still send what they hold before the
// process exits of itself; a browser page has no such moment, so call close() there.
const open = new Set<Publisher>()
;(globalThis as { process?: { once?(event: string, fn: () => void): void } }).process?.once?.(
	'beforeExit',
	() => {
		for (const publisher of open) publisher.close().catch(() => {})
	},
)

/**
 * publish()'s options, `retryForMs` and `signal` included, which apply to each request.
 *
 * @example
 * new Publisher('agents/a', { token, progressPerSecond: 2, retryForMs: 60_000, onPublished: (ids) => console.log(ids) })
 * // A runner that must outlive an outage of the server: keeps at most 10,000 events meanwhile.
 * new Publisher('agents/a', { token, retryForMs: Infinity, maxQueued: 10_000, signal })
 */
export interface PublisherOptions extends Omit<PublishOptions, 'idempotencyKey'> {
	/** At most this many `progress` events a second reach the server; default 4. */
	progressPerSecond?: number
	/** Events per request at most; default 1000 (the server's batch limit). */
	maxBatch?: number
	/**
	 * A request holds events of about this many bytes of JSON at most (always at least one
	 * event); default 1 MiB, well under the server's default `--max-body` of 4 MiB.
	 */
	maxBatchBytes?: number
	/**
	 * Events waiting to be sent (those of the request in flight not counted) at most; default
	 * no bound. Past it the oldest waiting `progress` events are dropped, and counted in
	 * `dropped`; no other event is ever dropped, even if that leaves more than this waiting.
	 */
	maxQueued?: number
	/** The same bound in bytes of JSON; default no bound. */
	maxQueuedBytes?: number
	/** Called with the ids of each acknowledged request. */
	onPublished?: (ids: number[]) => void
	/**
	 * Called after each acknowledged request whose answer says that a `cancel_requested` was
	 * appended to the execution or run: so again with each later answer.
	 */
	onCancelRequested?: (request: CancelRequest) => void
	/**
	 * Called after each attempt of a request that failed as publish() retries (the server
	 * unreachable, a 429 or a 5xx), the last one too; see `retrying`.
	 */
	onRetry?: (error: CortexConnectionError | CortexRequestError) => void
}

interface Queued {
	event: OutgoingEvent
	bytes: number
}

/**
 * A publisher for chatty agents. `progress` updates are coalesced (at most `progressPerSecond`
 * a second, the last value winning); every other event is kept, in order, and sent in batches,
 * one request at a time, each with its own Idempotency-Key. A pending progress update is sent
 * before any later event, so the stream's order is the order of the calls. `close()` flushes.
 * Each request is retried as publish() retries it (connection failures, 429 and 5xx, for
 * `retryForMs`, 30 s by default; `Infinity` retries until `signal` aborts); once one fails for
 * good nothing more is sent, and `flush()` and `close()` reject with that `CortexRequestError`
 * or `CortexConnectionError` (or the signal's reason), while `unsent()` still lists what was not
 * acknowledged.
 *
 * @example
 * const p = new Publisher('agents/my-agent', { token })
 * for (const file of files) p.progress({ message: file, progress: done++ / files.length })
 * p.send('complete', { result: 'ok', duration: Date.now() - started })
 * await p.close()
 */
export class Publisher {
	// The request in flight holds the first `inFlight` events, which stay here until they are
	// acknowledged, so that unsent() can tell what a failure or an abort left behind.
	private readonly queue: Queued[] = []
	private inFlight = 0
	private inFlightBytes = 0
	private queuedBytes = 0
	private latestProgress: ProgressData | undefined
	private progressTimer: ReturnType<typeof setTimeout> | undefined
	private lastProgressAt = Number.NEGATIVE_INFINITY
	private sending: Promise<void> | undefined
	// Boxed, so that even a falsy rejection value counts as a failure.
	private failure: { error: unknown } | undefined
	/** Requests sent so far; coalescing shows here. */
	requests = 0
	/** `progress` events dropped because more than `maxQueued` (or `maxQueuedBytes`) waited. */
	dropped = 0
	/**
	 * Why the request in flight is not acknowledged yet: the failure of its last attempt (the
	 * server unreachable, or a 429 or 5xx), which publish() is retrying; undefined otherwise.
	 */
	retrying: CortexConnectionError | CortexRequestError | undefined

	constructor(
		readonly stream: string,
		private readonly options: PublisherOptions = {},
	) {
		open.add(this)
	}

	/** Reports progress; updates closer together than the rate allows are merged, last wins. */
	progress(data: ProgressData & Record<string, unknown>) {
		this.latestProgress = data
		const interval = 1000 / (this.options.progressPerSecond ?? 4)
		const wait = this.lastProgressAt + interval - Date.now()
		if (wait <= 0) this.takeProgress()
		else this.progressTimer ??= setTimeout(() => this.takeProgress(), wait)
	}

	/**
	 * Queues any other event (a step, a custom one, or a terminal one), or a `progress` that
	 * must not be merged; never dropped, but for a `progress` past `maxQueued`.
	 */
	send<T extends string>(event: T, data?: OutgoingEvent<T>['data']) {
		this.takeProgress()
		this.enqueue({ event, data } as OutgoingEvent)
		this.pump()
	}

	/** Whether a request failed for good, so that nothing more is sent (flush() says why). */
	get failed(): boolean {
		return this.failure !== undefined
	}

	/** How many events are not acknowledged yet (those unsent() lists). */
	get pending(): number {
		return this.queue.length + (this.latestProgress === undefined ? 0 : 1)
	}

	/** About how many bytes of JSON the events not acknowledged yet take. */
	get pendingBytes(): number {
		return this.queuedBytes
	}

	/** The events not acknowledged yet, oldest first: held, waiting, or in a request in flight. */
	unsent(): OutgoingEvent[] {
		const events = this.queue.map((q) => q.event)
		if (this.latestProgress !== undefined)
			events.push({ event: 'progress', data: this.latestProgress })
		return events
	}

	/**
	 * Resolves when everything queued so far has been acknowledged. Once a request has failed
	 * (publish() gave up on it), nothing more is sent, and this rejects with that first failure,
	 * a `CortexRequestError` or a `CortexConnectionError`, every time.
	 *
	 * @example
	 * p.send('step_complete', { stepId: 'lint' })
	 * await p.flush() // durable from here on
	 */
	async flush(): Promise<void> {
		this.takeProgress()
		this.pump()
		while (this.sending) await this.sending
		if (this.failure) throw this.failure.error
	}

	/**
	 * Flushes and forgets the publisher; rejects, like flush(), with the first failure.
	 *
	 * @example
	 * try { await p.close() } catch (e) { if (e instanceof CortexRequestError) console.error(e.code) }
	 */
	close(): Promise<void> {
		open.delete(this)
		return this.flush()
	}

	private takeProgress() {
		if (this.progressTimer) clearTimeout(this.progressTimer)
		this.progressTimer = undefined
		if (this.latestProgress === undefined) return
		this.enqueue({ event: 'progress', data: this.latestProgress })
		this.latestProgress = undefined
		this.lastProgressAt = Date.now()
		this.pump()
	}

	private enqueue(event: OutgoingEvent) {
		const bytes = JSON.stringify(event).length
		this.queue.push({ event, bytes })
		this.queuedBytes += bytes
		const maxEvents = this.options.maxQueued ?? Number.POSITIVE_INFINITY
		const maxBytes = this.options.maxQueuedBytes ?? Number.POSITIVE_INFINITY
		// The oldest progress is the one a later one most surely replaces on a watcher's screen.
		let at = this.inFlight
		while (
			this.queue.length - this.inFlight > maxEvents ||
			this.queuedBytes - this.inFlightBytes > maxBytes
		) {
			while (at < this.queue.length && this.queue[at].event.event !== 'progress') at++
			if (at >= this.queue.length) break
			this.queuedBytes -= this.queue[at].bytes
			this.queue.splice(at, 1)
			this.dropped++
		}
	}

	private pump() {
		// After a failure nothing more is sent: the stream would show later events without the
		// one that failed before them.
		if (this.sending || this.failure || this.queue.length === 0) return
		// Cleared in a then() callback, which always runs after this assignment: cleared inside
		// the async function, it could run first (when that returns without awaiting) and leave
		// a settled promise here for flush() to await forever.
		this.sending = this.drain().then(() => {
			this.sending = undefined
		})
	}

	private async drain() {
		while (this.queue.length > 0 && !this.failure) {
			const batch = this.nextBatch()
			try {
				this.requests++
				const answer = await publish(this.stream, batch, {
					...this.options,
					fetch: this.observedFetch,
				})
				this.retrying = undefined
				this.queue.splice(0, batch.length)
				this.queuedBytes -= this.inFlightBytes
				this.inFlight = this.inFlightBytes = 0
				this.options.onPublished?.(answer.ids)
				if (answer.cancelRequested) this.options.onCancelRequested?.(answer.cancelRequested)
			} catch (error) {
				this.inFlight = this.inFlightBytes = 0
				this.failure = { error }
			}
		}
	}

	private nextBatch(): OutgoingEvent[] {
		const maxEvents = this.options.maxBatch ?? 1000
		const maxBytes = this.options.maxBatchBytes ?? 1 << 20
		let bytes = this.queue[0].bytes
		let n = 1
		while (n < this.queue.length && n < maxEvents && bytes + this.queue[n].bytes <= maxBytes)
			bytes += this.queue[n++].bytes
		this.inFlight = n
		this.inFlightBytes = bytes
		return this.queue.slice(0, n).map((q) => q.event)
	}

	// publish() retries out of sight; this is where each failed attempt shows.
	private readonly observedFetch = (async (input: string | URL | Request, init?: RequestInit) => {
		const url = String(input)
		let res: Response
		try {
			res = await (this.options.fetch ?? fetch)(input, init)
		} catch (error) {
			if (!init?.signal?.aborted)
				this.retried(new CortexConnectionError(url, unreachable(url, error), error))
			throw error
		}
		if (isRetryable(res.status))
			this.retried(await CortexRequestError.from(res.clone() as Response, url))
		return res
	}) as typeof fetch

	private retried(error: CortexConnectionError | CortexRequestError) {
		this.retrying = error
		this.options.onRetry?.(error)
	}
}

function unreachable(url: string, error: unknown) {
	let e = error
	while (e instanceof Error && e.cause !== undefined) e = e.cause
	const why = e instanceof Error ? e.message || (e as { code?: string }).code || e.name : String(e)
	return `could not reach ${url}: ${why}`
}
