import type { Grant } from '../auth/tokens.ts'
import type { Config } from '../config.ts'
import { OverloadedError, TooManyRequestsError } from '../errors.ts'

/** One open stream's place in the limits: given back once, however the stream ends. */
export interface Lease {
	/**
	 * Aborts when the credential behind the stream stops being valid: a ticket expired, or the
	 * token left the tokens file. The stream then ends cleanly; its client reconnects with a
	 * credential that is.
	 */
	readonly ended: AbortSignal
	release(): void
}

/** Who holds a stream, as the limits see it. */
export type Holder = Pick<Grant, 'holder' | 'expiresAt'>

/**
 * Bounds on open streams, in all and per token, and on new streams per token each second. A
 * refused stream gets 429 or 503 with `Retry-After`; streams already open are not touched.
 * A stream holds its place from the moment it is admitted (an SSE response, a WebSocket from
 * its upgrade, subscribed or not) until its response or socket ends, by any way at all; and
 * while it does, `revoke` and its credential's expiry can end it.
 */
export function createLimits(
	config: Pick<Config, 'maxStreams' | 'maxStreamsPerToken' | 'maxConnectsPerSecond'>,
) {
	/** The open streams' ends, by holder: their count is the holder's open streams. */
	const open = new Map<string, Set<AbortController>>()
	const recent = new Map<string, { second: number; count: number }>()
	let total = 0

	/** Throws the refusal that admitting one more stream for `holder` would meet. */
	function check(holder: string, second: number) {
		const seen = recent.get(holder)
		if (seen && seen.second === second && seen.count >= config.maxConnectsPerSecond)
			throw new TooManyRequestsError('too many new streams for this token this second', 1)
		if (total >= config.maxStreams)
			throw new OverloadedError('the server holds as many streams as it may', 5)
		if ((open.get(holder)?.size ?? 0) >= config.maxStreamsPerToken)
			throw new TooManyRequestsError('this token holds as many open streams as it may', 5)
	}

	return {
		/** How many streams hold a place now. */
		get open() {
			return total
		},

		/** Throws as `admit` would, without taking a place: a WebSocket's check before its upgrade. */
		check({ holder }: Holder) {
			check(holder, Math.floor(Date.now() / 1000))
		},

		/** Admits one more stream for `holder`, or throws. */
		admit({ holder, expiresAt }: Holder): Lease {
			const second = Math.floor(Date.now() / 1000)
			check(holder, second)
			const seen = recent.get(holder)
			if (recent.size > 100_000)
				for (const [k, v] of recent) if (v.second < second) recent.delete(k)
			recent.set(holder, {
				second,
				count: seen && seen.second === second ? seen.count + 1 : 1,
			})
			const end = new AbortController()
			let mine = open.get(holder)
			if (!mine) {
				mine = new Set()
				open.set(holder, mine)
			}
			mine.add(end)
			total++
			const expiry =
				expiresAt === undefined
					? undefined
					: setTimeout(() => end.abort(), Math.max(0, expiresAt - Date.now()))
			let released = false
			return {
				ended: end.signal,
				release() {
					if (released) return
					released = true
					clearTimeout(expiry)
					total--
					const left = open.get(holder)
					left?.delete(end)
					if (left?.size === 0) open.delete(holder)
				},
			}
		},

		/** Ends every open stream of these holders; resolves to how many there were. */
		revoke(holders: Iterable<string>): number {
			let ended = 0
			for (const holder of holders)
				for (const end of open.get(holder) ?? []) {
					end.abort()
					ended++
				}
			return ended
		},
	}
}

export type Limits = ReturnType<typeof createLimits>
