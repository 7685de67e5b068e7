import type { EventData, StandardEventType } from '../events.ts'
import {
	authHeaders,
	type ClientOptions,
	CortexRequestError,
	endpoint,
	isRetryable,
	sleep,
	streamPath,
} from './http.ts'

/**
 * An event to publish: a standard type with its typed data, or a custom type.
 *
 * @example
 * const events: OutgoingEvent[] = [{ event: 'step_start', data: { stepId: 'lint' } }, { event: 'tool_call', data: { tool: 'grep' } }]
 */
export type OutgoingEvent =
	| {
			[T in StandardEventType]: { event: T; data?: EventData[T] & Record<string, unknown> }
	  }[StandardEventType]
	| { event: string; data?: Record<string, unknown> }

/**
 * @example
 * await publish('agents/a', { event: 'complete' }, { token, idempotencyKey: `run-${runId}-end`, retries: 10 })
 */
export interface PublishOptions extends ClientOptions {
	/** Sent as `Idempotency-Key`; a random one is made when absent, and kept across retries. */
	idempotencyKey?: string
	/** Attempts after the first for network errors, 429 and 5xx; default 5. */
	retries?: number
	signal?: AbortSignal
}

/**
 * Appends one event or a batch (up to 1000, atomically) to a stream and resolves with their
 * ids once they are durable. Retries after a dropped connection or a 5xx reuse the same
 * Idempotency-Key, so a retry never appends twice. A 4xx rejects with `CortexRequestError`.
 *
 * @example
 * const { ids } = await publish('agents/my-agent',
 *   { event: 'progress', data: { message: 'Reading codebase...', progress: 0.2 } },
 *   { url: 'http://127.0.0.1:8787', token: process.env.CORTEX_TOKEN })
 */
export async function publish(
	stream: string,
	events: OutgoingEvent | OutgoingEvent[],
	options: PublishOptions = {},
): Promise<{ ids: number[] }> {
	const { kind, name } = streamPath(stream)
	const doFetch = options.fetch ?? fetch
	const key = options.idempotencyKey ?? crypto.randomUUID()
	const body = JSON.stringify(events)
	const retries = options.retries ?? 5
	for (let attempt = 0; ; attempt++) {
		let res: Response
		try {
			res = await doFetch(endpoint(options, `/api/${kind}/${name}/events`), {
				method: 'POST',
				headers: {
					...authHeaders(options),
					'content-type': 'application/json',
					'idempotency-key': key,
				},
				body,
				signal: options.signal,
			})
		} catch (error) {
			if (options.signal?.aborted || attempt >= retries) throw error
			await sleep(backoff(attempt), options.signal)
			continue
		}
		if (res.status === 201) return (await res.json()) as { ids: number[] }
		const failure = await CortexRequestError.from(res)
		if (!isRetryable(res.status) || attempt >= retries) throw failure
		const after = Number(res.headers.get('retry-after'))
		await sleep(after > 0 ? after * 1000 : backoff(attempt), options.signal)
	}
}

/** 100 ms, 200 ms, 400 ms... up to 5 s, with jitter so that many clients do not retry in step. */
export const backoff = (attempt: number) =>
	Math.min(5_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2)
