import type { ProgressData } from './types.js'
import { type OutgoingEvent, type PublishOptions, publish } from './publish.js'

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
 */
export interface PublisherOptions extends Omit<PublishOptions, 'idempotencyKey'> {
	/** At most this many `progress` events a second reach the server; default 4. */
	progressPerSecond?: number
	/** Events per request at most; default 1000 (the server's batch limit). */
	maxBatch?: number
	/** Called with the ids of each acknowledged request. */
	onPublished?: (ids: number[]) => void
}

/**
 * A publisher for chatty agents. `progress` updates are coalesced (at most `progressPerSecond`
 * a second, the last value winning); every other event is kept, in order, and sent in batches,
 * one request at a time, each with its own Idempotency-Key. A pending progress update is sent
 * before any later event, so the stream's order is the order of the calls. `close()` flushes.
 * Each request is retried as publish() retries it (connection failures, 429 and 5xx, for
 * `retryForMs`, 30 s by default); once one fails for good nothing more is sent, and `flush()`
 * and `close()` reject with that `CortexRequestError` or `CortexConnectionError`.
 *
 * @example
 * const p = new Publisher('agents/my-agent', { token })
 * for (const file of files) p.progress({ message: file, progress: done++ / files.length })
 * p.send('complete', { result: 'ok', duration: Date.now() - started })
 * await p.close()
 */
export class Publisher {
	private readonly queue: OutgoingEvent[] = []
	private latestProgress: ProgressData | undefined
	private progressTimer: ReturnType<typeof setTimeout> | undefined
	private lastProgressAt = Number.NEGATIVE_INFINITY
	private sending: Promise<void> | undefined
	// Boxed, so that even a falsy rejection value counts as a failure.
	private failure: { error: unknown } | undefined
	/** Requests sent so far; coalescing shows here. */
	requests = 0

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

	/** Queues any other event (a step, a custom one, or a terminal one); never dropped. */
	send<T extends string>(event: T, data?: OutgoingEvent<T>['data']) {
		this.takeProgress()
		this.queue.push({ event, data })
		this.pump()
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
		this.queue.push({ event: 'progress', data: this.latestProgress })
		this.latestProgress = undefined
		this.lastProgressAt = Date.now()
		this.pump()
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
			const batch = this.queue.splice(0, this.options.maxBatch ?? 1000)
			try {
				this.requests++
				const { ids } = await publish(this.stream, batch, this.options)
				this.options.onPublished?.(ids)
			} catch (error) {
				this.failure = { error }
			}
		}
	}
}
