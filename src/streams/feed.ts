import type { Metrics } from '../metrics.ts'
import {
	concatBytes,
	encodeEvent,
	encodeRetry,
	encodeUnnumbered,
	feedData,
	HEARTBEAT,
	toBytes,
} from '../sse.ts'
import type { FeedEvent, Store } from '../store/store.ts'
import { FEED, type Frame, feedMessage, type Hub } from './hub.ts'
import { CHUNK_BYTES, enter, READ_BATCH } from './subscription.ts'

export interface FeedOptions {
	/** Deliver events with a global cursor greater than this; undefined starts live. */
	afterSeq: number | undefined
	/** Whether an event of this stream goes to this subscriber (its `match` and its token). */
	wants: (stream: string) => boolean
	signal: AbortSignal
	/** `{requested, firstAvailable}` when events after the client's cursor were pruned (`feedStart`). */
	gap?: string
	/** Ends the client's connection when it stopped reading (the hub's stall check). */
	drop?: () => void
}

/**
 * Where a feed resumed after the cursor `afterSeq` starts: right after it; or, when retention
 * pruned what came next, at the first event kept after it, with the `gap` to send first.
 * Undefined starts live.
 */
export async function feedStart(
	store: Store,
	afterSeq: number | undefined,
): Promise<{ afterSeq: number | undefined; gap?: string }> {
	if (afterSeq === undefined) return { afterSeq }
	const cursor = await store.cursor()
	if (afterSeq >= cursor) return { afterSeq }
	// Nothing kept up to the cursor: the next event to come is the first available.
	const first = (await store.keptAfter(afterSeq))?.seq ?? cursor + 1
	if (first === afterSeq + 1) return { afterSeq }
	return {
		afterSeq: first - 1,
		gap: JSON.stringify({ requested: afterSeq + 1, firstAvailable: first }),
	}
}

/** What the feed has next for one subscriber: shared tail frames, events read from the store, or a heartbeat. */
export type FeedBatch = { frames: Frame[] } | { events: FeedEvent[] } | 'heartbeat'

/**
 * One dashboard's feed, before encoding: every event of the streams it wants, in commit order,
 * numbered by the global cursor, so one connection and one cursor cover them all. It reads the
 * store only while it is behind the shared tail, and only as fast as the consumer pulls.
 * Terminal events do not end it.
 */
export async function* feedBatches(
	hub: Hub,
	store: Store,
	metrics: Metrics,
	{ afterSeq, wants, signal, drop }: FeedOptions,
): AsyncGenerator<FeedBatch, void> {
	const { channel, leave, reader } = enter(hub, metrics, FEED, { signal, drop })
	try {
		let cursor = afterSeq ?? (await store.cursor())
		while (!signal.aborted && !hub.closed) {
			const frames = channel.frames
			const start = channel.after(cursor)
			if (start >= 0 && start < frames.length) {
				const taken: Frame[] = []
				let bytes = 0
				let i = start
				for (; i < frames.length && bytes < CHUNK_BYTES; i++) {
					if (!wants(frames[i].stream as string)) continue
					taken.push(frames[i])
					bytes += frames[i].bytes.byteLength
				}
				cursor = frames[i - 1].id
				if (taken.length > 0) {
					reader.pendingSince = Date.now()
					yield { frames: taken }
					reader.pendingSince = 0
					metrics.eventsDelivered += taken.length
				}
				continue
			}
			if (start === -1) {
				const events = await store.readAll(cursor, READ_BATCH)
				if (events.length > 0) {
					const taken: FeedEvent[] = []
					let bytes = 0
					for (const e of events) {
						if (bytes >= CHUNK_BYTES) break
						cursor = e.seq
						if (!wants(e.stream)) continue
						taken.push(e)
						bytes += e.data.length
					}
					if (taken.length > 0) {
						reader.pendingSince = Date.now()
						yield { events: taken }
						reader.pendingSince = 0
						metrics.eventsDelivered += taken.length
					}
					continue
				}
			}
			const reason = await channel.wait(cursor)
			if (reason === 'heartbeat' && !signal.aborted) {
				reader.pendingSince = Date.now()
				yield 'heartbeat'
				reader.pendingSince = 0
			}
		}
	} finally {
		leave()
	}
}

/**
 * The feed as Server-Sent Events: `id:` the global cursor, `data:` `{"stream", "id", "data"}`.
 *
 * @example
 * followAll(hub, store, metrics, { afterSeq: snapshot.cursor, wants: (s) => s.startsWith('agents/'), signal }, 1000)
 */
export async function* followAll(
	hub: Hub,
	store: Store,
	metrics: Metrics,
	options: FeedOptions,
	retryMs: number,
): AsyncGenerator<Uint8Array | string, void> {
	yield toBytes(encodeRetry(retryMs) + (options.gap ? encodeUnnumbered('gap', options.gap) : ''))
	for await (const batch of feedBatches(hub, store, metrics, options)) {
		if (batch === 'heartbeat') yield HEARTBEAT
		else if ('frames' in batch) yield concatBytes(batch.frames.map((f) => f.bytes))
		else {
			let text = ''
			for (const e of batch.events)
				text += encodeEvent(e.seq, e.event, feedData(e.stream, e.id, e.data))
			yield text
		}
	}
}

/**
 * The feed as WebSocket messages, one JSON object per event:
 * `{"cursor", "stream", "id", "event", "data"}`.
 *
 * @example
 * for await (const messages of feedMessages(hub, store, metrics, options)) for (const m of messages) ws.send(m)
 */
export async function* feedMessages(
	hub: Hub,
	store: Store,
	metrics: Metrics,
	options: FeedOptions,
): AsyncGenerator<string[], void> {
	if (options.gap) yield [`{"gap":${options.gap}}`]
	for await (const batch of feedBatches(hub, store, metrics, options)) {
		if (batch === 'heartbeat') continue
		if ('frames' in batch) yield batch.frames.map((f) => f.message as string)
		else yield batch.events.map((e) => feedMessage(e.seq, e.stream, e.id, e.event, e.data))
	}
}
