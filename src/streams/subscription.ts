import {
	concatBytes,
	encodeEvent,
	encodeRetry,
	encodeUnnumbered,
	feedData,
	HEARTBEAT,
	toBytes,
} from '../../client/src/sse.ts'
import type { Metrics } from '../metrics.ts'
import { type FeedEvent, READ_BLOCK_BYTES, type Store } from '../store/store.ts'
import { FEED, type Frame, type Hub, type Reader } from './hub.ts'
import { runIsOver } from './start.ts'

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

/** What a subscriber's connection asks of the loop that feeds it. */
export interface SubscriberOptions {
	signal: AbortSignal
	/** Ends the client's connection, when it stopped reading (see the hub's stall check). */
	drop?: () => void
}

/**
 * What makes a subscription to one stream different from one to the feed, and SSE from
 * WebSocket: its channel, which tail frames it takes, how it reads the store when behind the
 * tail, how it encodes (T: one chunk of SSE bytes, or a list of WebSocket messages), and whether
 * a run can end it.
 */
interface Source<T> {
	channel: string
	/** Tail frames this subscriber takes; all of them when absent. */
	wants?: (frame: Frame) => boolean
	encode(frames: Frame[]): T
	/** What the store has after `cursor`: encoded, with the cursor it reached; undefined when nothing. */
	read(cursor: number): Promise<{ chunk: T | undefined; cursor: number; count: number } | undefined>
	/** Written at each heartbeat the subscriber waits through; nothing when absent. */
	heartbeat?: T
	/** Whether what was delivered up to `cursor` ended the run; never when absent (the feed). */
	over?: (cursor: number) => Promise<boolean>
	/** Where a subscriber without a cursor starts: the global cursor of now (the feed, live). */
	now?: () => Promise<number>
}

/**
 * Joins a channel for one subscriber. When `signal` aborts (the client left, or its credential
 * ended), the subscriber leaves at once; the generator itself, if it is waiting, ends at the
 * channel's next wake (a heartbeat at the latest). It is not woken on its own: a wake is the
 * channel's, and a thousand clients leaving at once would wake the others a thousand times.
 * (The response of a credential that ended is closed by its body, see http/sse-body.ts.)
 */
function enter(hub: Hub, metrics: Metrics, stream: string, { signal, drop }: SubscriberOptions) {
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

/**
 * The one loop of every subscription: `prelude` first, then every event after `cursor`, from
 * the hub's shared tail while it reaches back that far (bytes encoded once, for everyone), else
 * from the store, then live, with a heartbeat when quiet. It advances only when its consumer
 * pulls, so a client that stops reading stops the reads too and holds one chunk at most. It ends
 * when the source says the run is over, when the client goes, or when the hub closes.
 */
async function* deliver<T>(
	hub: Hub,
	metrics: Metrics,
	source: Source<T>,
	after: number | undefined,
	prelude: T | undefined,
	options: SubscriberOptions,
): AsyncGenerator<T, void> {
	// Joining before the first read means no commit can fall between the replay and the wait.
	const { channel, leave, reader } = enter(hub, metrics, source.channel, options)
	const { signal } = options
	try {
		let cursor = after ?? (source.now ? await source.now() : 0)
		if (prelude !== undefined) yield prelude
		while (!signal.aborted && !hub.closed) {
			let chunk: T | undefined
			let count = 0
			// Whether the chunk may have ended the run: then the source says whether it did.
			let mayEnd = false
			// Whether the cursor moved, on events this subscriber may not want.
			let moved = false
			const frames = channel.frames
			const start = channel.after(cursor)
			if (start >= 0 && start < frames.length) {
				moved = true
				const taken: Frame[] = []
				let bytes = 0
				let i = start
				for (; i < frames.length && bytes < CHUNK_BYTES; i++)
					if (!source.wants || source.wants(frames[i])) {
						taken.push(frames[i])
						bytes += frames[i].bytes.byteLength
					}
				cursor = frames[i - 1].id
				if (taken.length > 0) {
					chunk = source.encode(taken)
					count = taken.length
					mayEnd = taken[count - 1].terminal
				}
			} else if (start === -1) {
				const read = await source.read(cursor)
				if (read) {
					moved = true
					cursor = read.cursor
					chunk = read.chunk
					count = read.count
					// Stored frames carry no type: the source's state says whether the run ended.
					mayEnd = true
				}
			}
			if (chunk !== undefined) {
				reader.pendingSince = Date.now()
				yield chunk
				reader.pendingSince = 0
				metrics.eventsDelivered += count
				if (mayEnd && source.over && (await source.over(cursor))) return
				continue
			}
			// Events it does not want went by: on with the next ones.
			if (moved) continue
			const reason = await channel.wait(cursor)
			if (reason === 'heartbeat' && !signal.aborted && source.heartbeat !== undefined) {
				reader.pendingSince = Date.now()
				yield source.heartbeat
				reader.pendingSince = 0
			}
		}
	} finally {
		leave()
	}
}

/** The SSE prelude: the reconnect delay, and the `gap` when there is one. */
const prelude = (retryMs: number, gap: string | undefined) =>
	toBytes(encodeRetry(retryMs) + (gap ? encodeUnnumbered('gap', gap) : ''))

/** Tail frames as one SSE chunk: the shared bytes themselves when there is one (at the head). */
const sseFrames = (frames: Frame[]) =>
	frames.length === 1 ? frames[0].bytes : concatBytes(frames.map((f) => f.bytes))

/**
 * One stream as Server-Sent Events: every event after `afterId`, in id order, each once, then
 * live; it ends after a terminal event that is the last one stored.
 *
 * @example
 * for await (const chunk of followStream(hub, store, metrics, 'agents/a', { afterId: 0, retryMs: 1000, signal }))
 *   socket.write(chunk)
 */
export function followStream(
	hub: Hub,
	store: Store,
	metrics: Metrics,
	stream: string,
	{
		afterId,
		gap,
		retryMs,
		...options
	}: SubscriberOptions & { afterId: number; gap?: string; retryMs: number },
): AsyncGenerator<Uint8Array, void> {
	const source: Source<Uint8Array> = {
		channel: stream,
		encode: sseFrames,
		async read(cursor) {
			const block = await store.readFrames(stream, cursor, READ_BATCH, CHUNK_BYTES)
			return block && { chunk: block.bytes, cursor: block.lastId, count: block.count }
		},
		heartbeat: HEARTBEAT,
		over: async (cursor) => runIsOver(await store.state(stream), cursor),
	}
	return deliver(hub, metrics, source, afterId, prelude(retryMs, gap), options)
}

/** The feed's options: its cursor (undefined starts live) and which streams it carries. */
export interface FeedOptions extends SubscriberOptions {
	afterSeq: number | undefined
	/** Whether an event of this stream goes to this subscriber (its `match` and its token). */
	wants: (stream: string) => boolean
	/** `{requested, firstAvailable}` when events after the client's cursor were pruned (`feedStart`). */
	gap?: string
}

/**
 * The feed's reads of the store: the events after `cursor`, about CHUNK_BYTES of them, of which
 * it keeps those of the streams it wants, encoded; the cursor moves past the others too.
 */
function feedReads<T>(
	store: Store,
	wants: (stream: string) => boolean,
	encode: (e: FeedEvent[]) => T,
) {
	return async (cursor: number) => {
		const events = await store.readAll(cursor, READ_BATCH, CHUNK_BYTES)
		if (events.length === 0) return undefined
		const taken = events.filter((e) => wants(e.stream))
		const chunk = taken.length > 0 ? encode(taken) : undefined
		return { chunk, cursor: events[events.length - 1].seq, count: taken.length }
	}
}

/**
 * The feed as Server-Sent Events, one connection for a whole dashboard: every event of the
 * streams it wants, in commit order, `id:` the global cursor, `data:` `{"stream", "id", "data"}`.
 * Terminal events do not end it.
 *
 * @example
 * followFeed(hub, store, metrics, { afterSeq: snapshot.cursor, wants: (s) => s.startsWith('agents/'), signal }, 1000)
 */
export function followFeed(
	hub: Hub,
	store: Store,
	metrics: Metrics,
	{ afterSeq, wants, gap, ...options }: FeedOptions,
	retryMs: number,
): AsyncGenerator<Uint8Array, void> {
	const source: Source<Uint8Array> = {
		channel: FEED,
		wants: (frame) => wants((frame.event as FeedEvent).stream),
		encode: sseFrames,
		read: feedReads(store, wants, (events) => {
			let text = ''
			for (const e of events) text += encodeEvent(e.seq, e.event, feedData(e.stream, e.id, e.data))
			return toBytes(text)
		}),
		heartbeat: HEARTBEAT,
		now: () => store.cursor(),
	}
	return deliver(hub, metrics, source, afterSeq, prelude(retryMs, gap), options)
}

/** The feed's WebSocket message, `{"cursor", "stream", "id", "event", "data"}`. */
const feedMessage = (e: FeedEvent) =>
	`{"cursor":${e.seq},"stream":${JSON.stringify(e.stream)},"id":${e.id},"event":"${e.event}","data":${e.data}}`

/**
 * The feed as WebSocket messages, one JSON object per event (made only for WebSocket
 * subscribers, and once per tail frame however many take it), `{"gap": ...}` first when
 * there is one.
 *
 * @example
 * for await (const messages of feedMessages(hub, store, metrics, options)) for (const m of messages) ws.send(m)
 */
export function feedMessages(
	hub: Hub,
	store: Store,
	metrics: Metrics,
	{ afterSeq, wants, gap, ...options }: FeedOptions,
): AsyncGenerator<string[], void> {
	const source: Source<string[]> = {
		channel: FEED,
		wants: (frame) => wants((frame.event as FeedEvent).stream),
		encode: (frames) => frames.map((f) => (f.message ??= feedMessage(f.event as FeedEvent))),
		read: feedReads(store, wants, (events) => events.map(feedMessage)),
		now: () => store.cursor(),
	}
	return deliver(hub, metrics, source, afterSeq, gap ? [`{"gap":${gap}}`] : undefined, options)
}
