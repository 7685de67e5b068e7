import type { Config } from '../config.ts'
import { OverloadedError, TooManyRequestsError } from '../errors.ts'
import type { Hub } from '../streams/hub.ts'

/**
 * Bounds on open streams, in all and per token, and on new streams per token each second. A
 * refused stream gets 429 or 503 with `Retry-After`; streams already open are not touched.
 */
export function createLimits(
	config: Pick<Config, 'maxStreams' | 'maxStreamsPerToken' | 'maxConnectsPerSecond'>,
	hub: Hub,
) {
	const open = new Map<string, number>()
	const recent = new Map<string, { second: number; count: number }>()
	return {
		/** Admits one more stream for `holder`, or throws; returns its release (safe to call twice). */
		admit(holder: string): () => void {
			const second = Math.floor(Date.now() / 1000)
			const seen = recent.get(holder)
			const count = seen && seen.second === second ? seen.count + 1 : 1
			if (count > config.maxConnectsPerSecond)
				throw new TooManyRequestsError('too many new streams for this token this second', 1)
			if (recent.size > 100_000)
				for (const [k, v] of recent) if (v.second < second) recent.delete(k)
			recent.set(holder, { second, count })
			if (hub.openStreams >= config.maxStreams)
				throw new OverloadedError('the server holds as many streams as it may', 5)
			const mine = open.get(holder) ?? 0
			if (mine >= config.maxStreamsPerToken)
				throw new TooManyRequestsError('this token holds as many open streams as it may', 5)
			open.set(holder, mine + 1)
			let released = false
			return () => {
				if (released) return
				released = true
				const left = (open.get(holder) ?? 1) - 1
				if (left > 0) open.set(holder, left)
				else open.delete(holder)
			}
		},
	}
}

export type Limits = ReturnType<typeof createLimits>
