import { subscribe } from '../../../client/src/index.ts'
import type { ClientSettings } from '../../config.ts'

/**
 * Follows the execution's own stream from `afterId`, so that a `cancel_requested` reaches run
 * even while the command prints nothing (and so publishes nothing whose answer would tell).
 * Ends when `signal` aborts; a subscription that cannot be made (a token without `read`) is
 * said once, and publish answers remain the only way to learn of a cancel request.
 */
export function watchForCancel(
	stream: string,
	settings: ClientSettings,
	afterId: number,
	onCancel: (reason: unknown) => void,
	signal: AbortSignal,
) {
	;(async () => {
		try {
			const events = subscribe(stream, {
				...settings,
				lastEventId: afterId,
				signal,
				maxRetryMs: 5_000,
			})
			for await (const e of events) if (e.event === 'cancel_requested') onCancel(e.data.reason)
		} catch (error) {
			if (!signal.aborted)
				console.error(
					`cortex-stream run: cannot follow ${stream} (${(error as Error).message}); a cancel request is seen only in the answers to publishes`,
				)
		}
	})()
}
