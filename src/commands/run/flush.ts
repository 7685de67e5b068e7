import {
	CortexConnectionError,
	CortexRequestError,
	type Publisher,
} from '../../../client/src/index.ts'
import { ServerUnreachable } from '../client-args.ts'

/**
 * Closes the publisher, waiting as long as the server acknowledges events and giving up after
 * `timeoutMs` without an acknowledgement (or when `giveUp` aborts for another reason); then
 * says on stderr exactly what was not sent, and why.
 */
export async function flushOrSay(
	publisher: Publisher,
	url: string,
	timeoutMs: number,
	giveUp: AbortController,
	lastAcknowledgedAt: () => number,
) {
	let failure: { error: unknown } | undefined
	const closing = publisher.close().catch((error) => {
		failure = { error }
	})
	let timer: ReturnType<typeof setTimeout> | undefined
	const since = Date.now()
	const deadline = () => Math.max(since, lastAcknowledgedAt()) + timeoutMs
	for (let settled = false; !settled; ) {
		const wait = Math.max(0, deadline() - Date.now())
		settled = await Promise.race([
			closing.then(() => true),
			new Promise<boolean>((resolve) => {
				timer = setTimeout(() => resolve(false), wait)
			}),
		])
		clearTimeout(timer)
		if (!settled && deadline() <= Date.now()) {
			giveUp.abort(new Error(`no answer from ${url} in ${timeoutMs} ms`))
			await closing
			settled = true
		}
	}
	const left = publisher.unsent()
	if (failure && left.length > 0) {
		// An abort says only that run stopped waiting; the last failed attempt says why.
		const why = !giveUp.signal.aborted
			? describe(failure.error, url)
			: publisher.retrying
				? describe(publisher.retrying, url)
				: describe(giveUp.signal.reason, url)
		const events = left.length === 1 ? 'event' : 'events'
		console.error(
			`cortex-stream run: ${why}; ${left.length} ${events} not sent (the last: ${left.at(-1)?.event})`,
		)
	}
	if (publisher.dropped > 0)
		console.error(
			`cortex-stream run: ${publisher.dropped} progress messages were dropped while the server could not take them`,
		)
}

/** One line on why a request failed, naming the server (and the setting that chose it). */
export function describe(error: unknown, url: string): string {
	if (error instanceof CortexConnectionError) {
		// The CLI's fetch says it best: which setting chose the URL, and the socket's reason.
		let cause = error.cause
		while (cause instanceof Error && !(cause instanceof ServerUnreachable) && cause.cause)
			cause = cause.cause
		if (cause instanceof ServerUnreachable) return cause.message
		const code = (cause as { code?: unknown } | undefined)?.code
		return `could not reach ${url} (${typeof code === 'string' ? code : (cause as Error)?.message})`
	}
	if (error instanceof CortexRequestError)
		return `${url} answered ${error.status} (${error.code}: ${error.message})${error.field ? ` at ${error.field}` : ''}`
	return (error as Error)?.message ?? String(error)
}
