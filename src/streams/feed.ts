import type { Metrics } from '../metrics.ts'
import type { Store } from '../store/store.ts'
import { FEED, feedData, type Hub } from './hub.ts'
import { concatBytes, encodeEvent, encodeRetry, HEARTBEAT, toBytes } from './sse.ts'
import { CHUNK_BYTES, enter, READ_BATCH } from './subscription.ts'

export interface FeedOptions {
	/** Deliver events with a global cursor greater than this; undefined starts live. */
	afterSeq: number | undefined
	/** Whether an event of this stream goes to this subscriber (its `match` and its token). */
	wants: (stream: string) => boolean
	retryMs: number
	signal: AbortSignal
}

/**
 * One dashboard's feed: every event of the streams it wants, in commit order, numbered by the
 * global cursor, so one connection and one Last-Event-ID cover them all. Like `follow`, it reads
 * the store only while it is behind the shared tail, and only as fast as the client reads.
 * Terminal events do not end it.
 *
 * @example
 * followAll(hub, store, metrics, { afterSeq: snapshot.cursor, wants: (s) => s.startsWith('agents/'), retryMs: 1000, signal })
 */
export async function* followAll(
	hub: Hub,
	store: Store,
	metrics: Metrics,
	{ afterSeq, wants, retryMs, signal }: FeedOptions,
): AsyncGenerator<Uint8Array | { toSSE(): string }, void> {
	const { channel, leave } = enter(hub, metrics, FEED, signal)
	try {
		let cursor = afterSeq ?? (await store.cursor())
		yield toBytes(encodeRetry(retryMs))
		while (!signal.aborted && !hub.closed) {
			const frames = channel.frames
			const start = channel.after(cursor)
			let chunk: Uint8Array | { toSSE(): string } | undefined
			let count = 0
			if (start >= 0 && start < frames.length) {
				const parts: Uint8Array[] = []
				let bytes = 0
				let i = start
				for (; i < frames.length && bytes < CHUNK_BYTES; i++) {
					if (!wants(frames[i].stream as string)) continue
					parts.push(frames[i].bytes)
					bytes += frames[i].bytes.byteLength
				}
				cursor = frames[i - 1].id
				count = parts.length
				if (count > 0) chunk = concatBytes(parts)
			} else if (start === -1) {
				const events = await store.readAll(cursor, READ_BATCH)
				let text = ''
				for (const e of events) {
					if (text.length >= CHUNK_BYTES) break
					cursor = e.seq
					if (!wants(e.stream)) continue
					text += encodeEvent(e.seq, e.event, feedData(e.stream, e.id, e.data))
					count++
				}
				if (count > 0) {
					const t = text
					chunk = { toSSE: () => t }
				} else if (events.length > 0) continue
			}
			if (chunk) {
				yield chunk
				metrics.eventsDelivered += count
				continue
			}
			// Frames were there but none for this subscriber: the cursor moved past them.
			if (start >= 0 && start < frames.length) continue
			const reason = await channel.wait(cursor)
			if (reason === 'heartbeat' && !signal.aborted) yield HEARTBEAT
		}
	} finally {
		leave()
	}
}
