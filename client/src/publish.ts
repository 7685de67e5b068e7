import {
	authHeaders,
	type ClientOptions,
	CortexConnectionError,
	CortexRequestError,
	endpoint,
	isRetryable,
	sleep,
	streamPath,
} from './http.js'
import type { EventData, PublishAnswer, StandardEventType } from './types.js'

/**
 * An event to publish: a standard type with its data checked against that type's fields (more
 * fields are allowed), or any other type name with any object as data. `T` is inferred from
 * `event`; an annotation without it (`OutgoingEvent[]`) accepts any data.
 *
 * @example
 * await publish('workflows/wf-1', [{ event: 'step_start', data: { stepId: 'lint' } }, { event: 'tool_call', data: { tool: 'grep' } }])
 */
export type OutgoingEvent<T extends string = string> = T extends StandardEventType
	? { event: T; data?: EventData[T] & Record<string, unknown> }
	: { event: T; data?: Record<string, unknown> }

/**
 * @example
 * await publish('agents/a', { event: 'complete' }, { token, idempotencyKey: `run-${runId}-end`, retryForMs: 120_000 })
 */
export interface PublishOptions extends ClientOptions {
	/** Sent as `Idempotency-Key`; a random one is made when absent, and kept across retries. */
	idempotencyKey?: string
	/**
	 * For how long after the first attempt a connection failure, a 429 or a 5xx is retried, with
	 * exponential backoff and jitter, never sooner than the server's `Retry-After`; default
	 * 30_000, enough for a server restart. 0 sends once.
	 */
	retryForMs?: number
	/** Stops at once, between retries too; publish() then rejects with the signal's reason. */
	signal?: AbortSignal
}

/** A `Retry-After` longer than this is read as this, so a bogus one cannot stall a long deadline. */
const MAX_RETRY_AFTER_MS = 30_000

/**
 * Appends one event or a batch (up to 1000, atomically) to a stream and resolves with their
 * ids once they are durable, and with `cancelRequested` while someone has asked the execution
 * or run to stop (`POST .../cancel`): the runner should then end it with `cancelled`. A connection failure, a 429 or a 5xx is retried for `retryForMs`
 * (30 s by default), each attempt with the same Idempotency-Key, so a retry never appends
 * twice. It rejects with `CortexRequestError` for a 4xx, or for the last 429/5xx when time ran
 * out (at once when the server's `Retry-After` falls past the deadline), and with
 * `CortexConnectionError` when the server could not be reached in that time.
 *
 * @example
 * const { ids } = await publish('agents/my-agent',
 *   { event: 'progress', data: { message: 'Reading codebase...', progress: 0.2 } },
 *   { url: 'http://127.0.0.1:8787', token: process.env.CORTEX_TOKEN })
 */
export async function publish<T extends string>(
	stream: string,
	events: OutgoingEvent<T> | readonly OutgoingEvent<T>[],
	options: PublishOptions = {},
): Promise<PublishAnswer> {
	const { kind, name } = streamPath(stream)
	const doFetch = options.fetch ?? fetch
	const url = endpoint(options, `/api/${kind}/${name}/events`)
	const key = options.idempotencyKey ?? crypto.randomUUID()
	const body = JSON.stringify(events)
	const started = performance.now()
	const deadline = started + (options.retryForMs ?? 30_000)
	for (let attempt = 0; ; attempt++) {
		let res: Response | undefined
		let error: unknown
		try {
			res = await doFetch(url, {
				method: 'POST',
				headers: {
					...authHeaders(options),
					'content-type': 'application/json',
					'idempotency-key': key,
				},
				body,
				signal: options.signal,
			})
			// The answer can still be lost with the connection; the retry then gets the same ids.
			if (res.status === 201) return (await res.json()) as PublishAnswer
		} catch (e) {
			if (options.signal?.aborted) throw e
			res = undefined
			error = e
		}
		const left = deadline - performance.now()
		if (!res) {
			if (left <= 0) throw unreachable(url, performance.now() - started, error)
			await sleep(Math.min(backoff(attempt), left), options.signal)
			continue
		}
		const refusal = await CortexRequestError.from(res, url)
		if (!isRetryable(res.status) || left <= 0) throw refusal
		const after = retryAfter(res.headers.get('retry-after'))
		// Waiting past the deadline only to give up there helps no one.
		if (after !== undefined && after > left) throw refusal
		await sleep(Math.min(Math.max(after ?? 0, backoff(attempt)), left), options.signal)
	}
}

function unreachable(url: string, elapsed: number, error: unknown) {
	const after = elapsed >= 100 ? ` after ${Math.round(elapsed / 100) / 10} s` : ''
	return new CortexConnectionError(url, `could not reach ${url}${after}: ${reason(error)}`, error)
}

/** The innermost error's message: Node's fetch says only "fetch failed", the socket's error is its cause. */
function reason(error: unknown): string {
	let e = error
	while (e instanceof Error && e.cause !== undefined) e = e.cause
	// Node's happy-eyeballs AggregateError has an empty message but a code.
	if (e instanceof Error) return e.message || (e as { code?: string }).code || e.name
	return String(e)
}

/** `Retry-After` (delay-seconds or an HTTP date) in ms, capped; undefined when absent or unreadable. */
function retryAfter(value: string | null): number | undefined {
	if (!value) return undefined
	const ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - Date.now()
	if (Number.isNaN(ms)) return undefined
	return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS)
}

/** 100 ms, 200 ms, 400 ms... up to 5 s, with jitter so that many clients do not retry in step. */
export const backoff = (attempt: number) =>
	Math.min(5_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2)
