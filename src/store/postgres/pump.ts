import type { SQL } from 'bun'
import { encodeEvent } from '../../../client/src/sse.ts'
import type { AdvanceListener, EncodedEvent, FeedEvent } from '../store.ts'

/** Every instance listens here; a payload is `{"seq": <global cursor after the commit>}`. */
export const CHANNEL = 'cortex_stream'
/** How often an instance looks for commits whose notification it missed (a reconnect, say). */
export const CATCH_UP_MS = 1_000
/** Events per read when an instance hands commits to its listeners. */
const PUMP_BATCH = 4096

const encoder = new TextEncoder()

/**
 * Fan-out across instances: after each commit its writer sends `pg_notify` (outside the
 * transaction: a NOTIFY inside it would serialise every commit in the cluster once more), and
 * every instance LISTENs. What wakes an instance is only a hint: it then reads every event after
 * the last cursor it handed its listeners, in cursor order, so a lost or merged notification
 * costs nothing but latency. A timer repeats that check every CATCH_UP_MS, which also covers
 * the notifications sent while the listening connection was reconnecting.
 */
export async function startPump(
	sql: SQL,
	listeners: Set<AdvanceListener>,
	readAll: (afterSeq: number, limit: number) => Promise<FeedEvent[]>,
	from: number,
	catchUpMs = CATCH_UP_MS,
) {
	/** The cursor up to which every commit, this instance's and the others', went to listeners. */
	let handed = from
	let pumping = false
	let again = false
	let stopped = false

	async function pump() {
		if (pumping) {
			again = true
			return
		}
		pumping = true
		try {
			do {
				again = false
				for (;;) {
					const events = await readAll(handed, PUMP_BATCH)
					if (events.length === 0) break
					// Consecutive events of one stream go together; the order across streams is the cursor's.
					let start = 0
					for (let i = 1; i <= events.length; i++) {
						if (i < events.length && events[i].stream === events[start].stream) continue
						const run = events.slice(start, i).map(
							(e): EncodedEvent => ({
								id: e.id,
								seq: e.seq,
								event: e.event,
								data: e.data,
								createdAt: e.createdAt,
								frame: encoder.encode(encodeEvent(e.id, e.event, e.data)),
							}),
						)
						for (const listener of listeners) listener(events[start].stream, run)
						start = i
					}
					handed = events[events.length - 1].seq
					if (events.length < PUMP_BATCH) break
				}
			} while (again && !stopped)
		} catch {
			// The database is away: the catch-up timer tries again.
		} finally {
			pumping = false
		}
	}

	const subscription = await sql.listen(
		CHANNEL,
		(payload) => {
			const seq = Number((JSON.parse(payload) as { seq?: number }).seq)
			if (!(seq <= handed)) pump()
		},
		() => pump(),
	)
	const catchUp = setInterval(() => pump(), catchUpMs)
	catchUp.unref()

	return {
		/** This instance committed up to `seq`: tells the others, and hands it on here. */
		committed(seq: number) {
			sql.notify(CHANNEL, JSON.stringify({ seq })).catch(() => {})
			pump()
		},
		async stop() {
			stopped = true
			clearInterval(catchUp)
			await subscription.unlisten().catch(() => {})
		},
	}
}
