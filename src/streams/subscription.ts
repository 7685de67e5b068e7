import type { Metrics } from '../metrics.ts'
import { concatBytes, encodeRetry, encodeUnnumbered, HEARTBEAT, toBytes } from '../sse.ts'
import { READ_BLOCK_BYTES, type Store } from '../store/store.ts'
import type { Hub, Reader } from './hub.ts'

/**
 * Events per store read of a subscriber behind the shared tail. Large reads make a replay fast
 * (see `bun run bench resume`); a read also stops at CHUNK_BYTES, so large events make smaller
 * reads.
 */
export const READ_BATCH = 4096
/**
 * A chunk stops growing past this (one event always goes, however large), so a subscriber that
 * stops reading holds little: this chunk, and what of it the socket has not taken.
 */
export const CHUNK_BYTES = READ_BLOCK_BYTES

export interface FollowOptions {
	/** Deliver every event with an id greater than this. */
	afterId: number
	/** The `gap` event's data, sent first when the events after the client's id were pruned. */
	gap?: string
	/** Ends the client's connection, when it stopped reading (see the hub's stall check). */
	drop?: () => void
	retryMs: number
	signal: AbortSignal
}

/**
 * One subscriber's event stream: replay from the store, then live from the hub, as encoded
 * chunks. The generator advances only when the response pulls, so a client that stops reading
 * stops the reads too and holds one chunk at most. It ends after a terminal event that is the
 * last one stored, when the client goes away, or when the hub closes.
 *
 * @example
 * for await (const chunk of follow(hub, store, metrics, 'agents/a', { afterId: 0, retryMs: 1000, signal }))
 *   socket.write(chunk)
 */
/**
 * Joins a channel for one subscriber. When `signal` aborts (the client left, or its credential
 * ended), the subscriber leaves at once; the generator itself, if it is waiting, ends at the
 * channel's next wake (a heartbeat at the latest). It is not woken on its own: a wake is the
 * channel's, and a thousand clients leaving at once would wake the others a thousand times.
 * (The response of a credential that ended is closed by its body, see http/sse-body.ts.)
 * `leave` may be called more than once.
 */
export function enter(
	hub: Hub,
	metrics: Metrics,
	stream: string,
	{ signal, drop }: Pick<FollowOptions, 'signal' | 'drop'>,
) {
	const channel = hub.join(stream)
	metrics.subscriptionsOpened++
	// With `drop`, the hub's stall check watches how long a chunk has waited for this subscriber.
	const reader: Reader = { pendingSince: 0, drop: drop ?? (() => {}) }
	if (drop) channel.readers.add(reader)
	let joined = true
	const leave = () => {
		if (!joined) return
		joined = false
		channel.readers.delete(reader)
		hub.leave(channel)
		metrics.subscriptionsClosed++
	}
	signal.addEventListener('abort', leave, { once: true })
	return { channel, leave, reader }
}

export async function* follow(
	hub: Hub,
	store: Store,
	metrics: Metrics,
	stream: string,
	{ afterId, gap, retryMs, signal, ...held }: FollowOptions,
): AsyncGenerator<Uint8Array, void> {
	// Joining before the first read means no commit can fall between the replay and the wait.
	const { channel, leave, reader } = enter(hub, metrics, stream, { signal, ...held })
	try {
		yield toBytes(encodeRetry(retryMs) + (gap ? encodeUnnumbered('gap', gap) : ''))
		let cursor = afterId
		while (!signal.aborted && !hub.closed) {
			let chunk: Uint8Array | undefined
			let count = 0
			// Whether the chunk may end the run: then the stream's state says whether it did.
			let mayEnd = false
			const frames = channel.frames
			const start = channel.after(cursor)
			if (start >= 0 && start === frames.length - 1) {
				// The common case at the head: exactly one new event, handed on as the shared bytes.
				chunk = frames[start].bytes
				count = 1
				cursor = frames[start].id
				mayEnd = frames[start].terminal
			} else if (start >= 0 && start < frames.length) {
				let end = start
				let bytes = 0
				while (end < frames.length && bytes < CHUNK_BYTES) bytes += frames[end++].bytes.byteLength
				const taken = frames.slice(start, end)
				chunk = concatBytes(taken.map((f) => f.bytes))
				count = taken.length
				cursor = taken[count - 1].id
				mayEnd = taken[count - 1].terminal
			} else if (start === -1) {
				const block = await store.readFrames(stream, cursor, READ_BATCH, CHUNK_BYTES)
				if (block) {
					chunk = block.bytes
					count = block.count
					cursor = block.lastId
					// Stored frames carry no type; the state knows whether the last one ended the run.
					mayEnd = true
				}
			}
			if (chunk) {
				reader.pendingSince = Date.now()
				yield chunk
				reader.pendingSince = 0
				metrics.eventsDelivered += count
				if (mayEnd) {
					const state = await store.state(stream)
					if (state && state.lastId <= cursor && state.status !== 'running') return
				}
				continue
			}
			const reason = await channel.wait(cursor)
			if (reason === 'heartbeat' && !signal.aborted) {
				reader.pendingSince = Date.now()
				yield HEARTBEAT
				reader.pendingSince = 0
			}
		}
	} finally {
		leave()
	}
}
