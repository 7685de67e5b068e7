import type { Config } from '../config.ts'
import { OverloadedError, TooManyRequestsError } from '../errors.ts'

/** One open stream's place in the limits: given back once, however the stream ends. */
export interface Lease {
	release(): void
}

/**
 * Bounds on open streams, in all and per token, and on new streams per token each second. A
 * refused stream gets 429 or 503 with `Retry-After`; streams already open are not touched.
 * A stream holds its place from the moment it is admitted (an SSE response, a WebSocket from
 * its upgrade, subscribed or not) until its response or socket ends, by any way at all.
 */
export function createLimits(
	config: Pick<Config, 'maxStreams' | 'maxStreamsPerToken' | 'maxConnectsPerSecond'>,
) {
	const open = new Map<string, number>()
	const recent = new Map<string, { second: number; count: number }>()
	let total = 0

	/** Throws the refusal that admitting one more stream for `holder` would meet. */
	function check(holder: string, second: number) {
		const seen = recent.get(holder)
		if (seen && seen.second === second && seen.count >= config.maxConnectsPerSecond)
			throw new TooManyRequestsError('too many new streams for this token this second', 1)
		if (total >= config.maxStreams)
			throw new OverloadedError('the server holds as many streams as it may', 5)
		if ((open.get(holder) ?? 0) >= config.maxStreamsPerToken)
			throw new TooManyRequestsError('this token holds as many open streams as it may', 5)
	}

	return {
		/** How many streams hold a place now. */
		get open() {
			return total
		},

		/** Throws as `admit` would, without taking a place: a WebSocket's check before its upgrade. */
		check(holder: string) {
			check(holder, Math.floor(Date.now() / 1000))
		},

		/** Admits one more stream for `holder`, or throws. */
		admit(holder: string): Lease {
			const second = Math.floor(Date.now() / 1000)
			check(holder, second)
			const seen = recent.get(holder)
			if (recent.size > 100_000)
				for (const [k, v] of recent) if (v.second < second) recent.delete(k)
			recent.set(holder, {
				second,
				count: seen && seen.second === second ? seen.count + 1 : 1,
			})
			open.set(holder, (open.get(holder) ?? 0) + 1)
			total++
			let released = false
			return {
				release() {
					if (released) return
					released = true
					total--
					const left = (open.get(holder) ?? 1) - 1
					if (left > 0) open.set(holder, left)
					else open.delete(holder)
				},
			}
		},
	}
}

export type Limits = ReturnType<typeof createLimits>
