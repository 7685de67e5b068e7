import { isTerminal } from '../../client/src/runs.ts'
import { encodeEvent, feedData, toBytes } from '../../client/src/sse.ts'
import type { FeedEvent, Store } from '../store/store.ts'

/** Recent events of a stream, encoded once and shared by every subscriber at the head. */
export const DEFAULT_TAIL_EVENTS = 1024
/** The tail stops growing past this many bytes too, so a stream of large events keeps little. */
export const TAIL_BYTES = 1 << 20
/**
 * A subscriber whose connection has not taken a chunk the server holds for it for this many
 * heartbeat intervals is disconnected: a client that stopped reading holds a connection and a
 * chunk (at most CHUNK_BYTES) and would never catch up. It resumes with Last-Event-ID.
 */
export const STALLED_BEATS = 2

export type WakeReason = 'advance' | 'heartbeat' | 'close'

export interface Frame {
	/** The event's id; on the feed, its global cursor (`seq`). */
	id: number
	bytes: Uint8Array
	terminal: boolean
	/**
	 * On the feed: the event and its stream, for each subscriber's filter, and for its WebSocket
	 * form, which is made only when a WebSocket subscriber takes it (see `feedMessage`).
	 */
	event?: FeedEvent
	/** On the feed: the WebSocket form, once made. */
	message?: string
}

/** The channel of the dashboard feed: every stream, numbered by the global cursor. */
export const FEED = '*'

const ADVANCED = Promise.resolve<WakeReason>('advance')
const CLOSED = Promise.resolve<WakeReason>('close')

/** A subscriber as the stall check sees it. */
export interface Reader {
	/** Since when its connection has held a chunk it did not take; 0 when it holds none. */
	pendingSince: number
	/** Ends the client's connection. */
	drop: () => void
}

/**
 * The hub's view of one stream that has subscribers. Waiting subscribers all await one shared
 * promise, replaced at each wake: a commit costs one resolution, not one per subscriber.
 */
export class Channel {
	frames: Frame[] = []
	/** The bytes of `frames`. */
	bytes = 0
	/** Highest id this process has seen committed, 0 before the first commit it saw. */
	lastId = 0
	subscribers = 0
	closed = false
	/** Where each subscriber is and when its client last took a chunk, to find the stalled. */
	readonly readers = new Set<Reader>()
	private signal!: Promise<WakeReason>
	private resolve!: (reason: WakeReason) => void

	constructor(readonly stream: string) {
		this.arm()
	}

	private arm() {
		this.signal = new Promise((resolve) => {
			this.resolve = resolve
		})
	}

	/**
	 * Index in `frames` of the first frame after `cursor`: `frames.length` when there is none yet,
	 * -1 when the tail does not reach back that far (or holds nothing), and the subscriber must
	 * read the store itself.
	 */
	after(cursor: number): number {
		const frames = this.frames
		if (frames.length === 0 || cursor < frames[0].id - 1) return -1
		return Math.min(cursor - frames[0].id + 1, frames.length)
	}

	/**
	 * Resolves when an event after `cursor` is committed, at the next heartbeat, or when the hub
	 * closes. Checking `lastId` first closes the race between a subscriber's last read and its wait.
	 */
	wait(cursor: number): Promise<WakeReason> {
		// A subscriber that was reading the store while the hub closed must not wait for a wake
		// that already went by: with a store on the network, that read spans turns of the loop.
		if (this.closed) return CLOSED
		return this.lastId > cursor ? ADVANCED : this.signal
	}

	close() {
		this.closed = true
		this.wakeAll('close')
	}

	wakeAll(reason: WakeReason) {
		const resolve = this.resolve
		this.arm()
		resolve(reason)
	}
}

export interface Hub {
	/** Registers interest in a stream; call before the first store read, then `leave`. */
	join(stream: string): Channel
	leave(channel: Channel): void
	/**
	 * Retention pruned events of `stream`: the tails that may hold them are emptied, so that no
	 * subscriber is handed a pruned event from memory; they read what is kept from the store.
	 */
	forget(stream: string): void
	readonly channels: number
	/** Subscribers dropped for not reading. */
	readonly dropped: number
	readonly closed: boolean
	/** Wakes every subscriber to end its stream, and stops listening to the store. */
	close(): void
}

export interface HubOptions {
	heartbeatMs: number
	tailEvents?: number
	tailBytes?: number
}

/**
 * Fan-out. The store says when a stream advanced, with each new event's frame, encoded once when
 * it was stored; the hub keeps the frames in the stream's shared tail and wakes that stream's waiting subscribers, which then copy nothing:
 * they hand the same bytes to their own response. Only a subscriber that fell behind the tail
 * reads SQLite, at its own pace.
 */
export function createHub(store: Store, options: HubOptions): Hub {
	const tailEvents = options.tailEvents ?? DEFAULT_TAIL_EVENTS
	const tailBytes = options.tailBytes ?? TAIL_BYTES
	const channels = new Map<string, Channel>()
	let closed = false
	let dropped = 0

	const append = (channel: Channel, frames: Frame[]) => {
		channel.frames.push(...frames)
		for (const f of frames) channel.bytes += f.bytes.byteLength
		// Trim in steps of a quarter, so the array is not shifted on every commit.
		if (
			channel.frames.length > tailEvents + (tailEvents >> 2) ||
			channel.bytes > tailBytes + (tailBytes >> 2)
		) {
			let from = Math.max(0, channel.frames.length - tailEvents)
			let bytes = 0
			for (let i = from; i < channel.frames.length; i++) bytes += channel.frames[i].bytes.byteLength
			// The newest frame stays whatever its size: subscribers at the head take it from here.
			while (bytes > tailBytes && from < channel.frames.length - 1)
				bytes -= channel.frames[from++].bytes.byteLength
			channel.frames = channel.frames.slice(from)
			channel.bytes = bytes
		}
		channel.lastId = frames[frames.length - 1].id
		channel.wakeAll('advance')
	}

	const stopListening = store.subscribe((stream, events) => {
		const channel = channels.get(stream)
		if (channel)
			append(
				channel,
				events.map((e) => ({
					id: e.id,
					bytes: e.frame,
					terminal: isTerminal(e.event),
				})),
			)
		const feed = channels.get(FEED)
		if (feed)
			append(
				feed,
				events.map((e) => ({
					id: e.seq,
					bytes: toBytes(encodeEvent(e.seq, e.event, feedData(stream, e.id, e.data))),
					terminal: false,
					// Not `...e`: the stream's own frame bytes would live on in the feed's tail.
					event: {
						stream,
						id: e.id,
						seq: e.seq,
						event: e.event,
						data: e.data,
						createdAt: e.createdAt,
					},
				})),
			)
	})

	// One timer for all subscribers: each waiting one writes its heartbeat when it fires, and a
	// client that has not taken a chunk for STALLED_BEATS beats is dropped.
	const heartbeat = setInterval(() => {
		const stalledBefore = Date.now() - STALLED_BEATS * options.heartbeatMs
		for (const channel of channels.values()) {
			channel.wakeAll('heartbeat')
			for (const reader of channel.readers)
				if (reader.pendingSince !== 0 && reader.pendingSince < stalledBefore) {
					channel.readers.delete(reader)
					dropped++
					reader.drop()
				}
		}
	}, options.heartbeatMs)

	return {
		join(stream) {
			let channel = channels.get(stream)
			if (!channel) {
				channel = new Channel(stream)
				channels.set(stream, channel)
			}
			channel.subscribers++
			// A request that was on its way in when the hub closed ends at its first wait.
			if (closed) channel.close()
			return channel
		},
		leave(channel) {
			if (--channel.subscribers === 0 && channels.get(channel.stream) === channel)
				channels.delete(channel.stream)
		},
		forget(stream) {
			for (const channel of [channels.get(stream), channels.get(FEED)])
				if (channel && channel.frames.length > 0) {
					channel.frames = []
					channel.bytes = 0
				}
		},
		get channels() {
			return channels.size
		},
		get dropped() {
			return dropped
		},
		get closed() {
			return closed
		},
		close() {
			if (closed) return
			closed = true
			clearInterval(heartbeat)
			stopListening()
			for (const channel of channels.values()) channel.close()
		},
	}
}
