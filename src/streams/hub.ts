import { isTerminal } from '../events.ts'
import type { Store } from '../store/store.ts'
import { encodeEvent, toBytes } from './sse.ts'

/** Recent events of a stream, encoded once and shared by every subscriber at the head. */
export const DEFAULT_TAIL_EVENTS = 1024

export type WakeReason = 'advance' | 'heartbeat' | 'close' | 'abort'

export interface Frame {
	id: number
	bytes: Uint8Array
	terminal: boolean
}

const NONE: Frame[] = []

/** One open subscription; `wake` is set while it waits. */
export interface Waiter {
	wake: ((reason: WakeReason) => void) | null
}

/** The hub's view of one stream that has subscribers. */
export class Channel {
	frames: Frame[] = []
	/** Highest id this process has seen committed, 0 before the first commit it saw. */
	lastId = 0
	subscribers = 0
	readonly waiters = new Set<Waiter>()

	constructor(readonly stream: string) {}

	/**
	 * Frames after `cursor` from the shared tail; `null` when the tail does not reach back that
	 * far (or holds nothing yet), and the subscriber must read the store itself.
	 */
	since(cursor: number): Frame[] | null {
		const frames = this.frames
		if (frames.length === 0) return null
		const first = frames[0].id
		if (cursor < first - 1) return null
		const start = cursor - first + 1
		return start >= frames.length ? NONE : frames.slice(start)
	}

	/**
	 * Resolves when an event after `cursor` is committed, at the next heartbeat, or when the hub
	 * closes. Checking `lastId` first closes the race between a subscriber's last read and its wait.
	 */
	wait(waiter: Waiter, cursor: number): Promise<WakeReason> {
		if (this.lastId > cursor) return Promise.resolve('advance')
		return new Promise((resolve) => {
			waiter.wake = resolve
			this.waiters.add(waiter)
		})
	}

	wakeAll(reason: WakeReason) {
		for (const waiter of this.waiters) {
			const wake = waiter.wake
			waiter.wake = null
			wake?.(reason)
		}
		this.waiters.clear()
	}

	/** Wakes one waiter, when its client went away. */
	release(waiter: Waiter, reason: WakeReason) {
		this.waiters.delete(waiter)
		const wake = waiter.wake
		waiter.wake = null
		wake?.(reason)
	}
}

export interface Hub {
	/** Registers interest in a stream; call before the first store read, then `leave`. */
	join(stream: string): Channel
	leave(channel: Channel): void
	readonly openStreams: number
	readonly channels: number
	readonly closed: boolean
	/** Wakes every subscriber to end its stream, and stops listening to the store. */
	close(): void
}

export interface HubOptions {
	heartbeatMs: number
	tailEvents?: number
}

/**
 * Fan-out. The store says when a stream advanced; the hub encodes each new event once into the
 * stream's shared tail and wakes that stream's waiting subscribers, which then copy nothing:
 * they hand the same bytes to their own response. Only a subscriber that fell behind the tail
 * reads SQLite, at its own pace.
 */
export function createHub(store: Store, options: HubOptions): Hub {
	const tailEvents = options.tailEvents ?? DEFAULT_TAIL_EVENTS
	const channels = new Map<string, Channel>()
	let open = 0
	let closed = false

	const stopListening = store.subscribe((stream, events) => {
		const channel = channels.get(stream)
		if (!channel) return
		for (const e of events)
			channel.frames.push({
				id: e.id,
				bytes: toBytes(encodeEvent(e.id, e.event, e.data)),
				terminal: isTerminal(e.event),
			})
		// Trim in steps of a quarter, so the array is not shifted on every commit.
		if (channel.frames.length > tailEvents + (tailEvents >> 2))
			channel.frames = channel.frames.slice(channel.frames.length - tailEvents)
		channel.lastId = events[events.length - 1].id
		channel.wakeAll('advance')
	})

	// One timer for all subscribers: each waiting one writes its heartbeat when it fires.
	const heartbeat = setInterval(() => {
		for (const channel of channels.values()) channel.wakeAll('heartbeat')
	}, options.heartbeatMs)

	return {
		join(stream) {
			let channel = channels.get(stream)
			if (!channel) {
				channel = new Channel(stream)
				channels.set(stream, channel)
			}
			channel.subscribers++
			open++
			return channel
		},
		leave(channel) {
			open--
			if (--channel.subscribers === 0 && channels.get(channel.stream) === channel)
				channels.delete(channel.stream)
		},
		get openStreams() {
			return open
		},
		get channels() {
			return channels.size
		},
		get closed() {
			return closed
		},
		close() {
			if (closed) return
			closed = true
			clearInterval(heartbeat)
			stopListening()
			for (const channel of channels.values()) channel.wakeAll('close')
		},
	}
}
