import { isTerminal } from '../../../client/src/runs.ts'
import { type EncodedEvent, READ_BLOCK_BYTES } from '../store.ts'

/**
 * The SQLite engine keeps a stream's events in chunks: one row per append (or per CHUNK_ROW_BYTES of
 * it) holding the events' frames back to back. A frame's fields are one line each (see
 * `encodeEvent`), so the blank line that ends a frame is the only one in it: that is how an event
 * is found inside a chunk, without an index of offsets.
 */

/**
 * A chunk holds at most this many bytes of frames (or one larger event), so reading one event
 * reads little more, and a replay that sends at most this much at a time (CHUNK_BYTES in
 * subscription.ts) can send whole rows as they are read.
 */
export const CHUNK_ROW_BYTES = READ_BLOCK_BYTES

export interface NewChunk {
	firstId: number
	lastId: number
	lastSeq: number
	/** The id of the chunk's last terminal event, which retention looks for. */
	lastEnd: number | null
	frames: Uint8Array
}

/** The frames of consecutive stored events as one byte range, without a copy when they are adjacent. */
function adjacent(events: EncodedEvent[]): Uint8Array {
	const first = events[0].frame
	const last = events[events.length - 1].frame
	const length = last.byteOffset + last.byteLength - first.byteOffset
	let total = 0
	for (const e of events) total += e.frame.byteLength
	return first.buffer === last.buffer && total === length
		? new Uint8Array(first.buffer, first.byteOffset, length)
		: Buffer.concat(events.map((e) => e.frame))
}

/** How one append's events (already stamped) are stored. */
export function toChunks(events: EncodedEvent[]): NewChunk[] {
	const chunks: NewChunk[] = []
	const close = (from: number, to: number) => {
		const taken = from === 0 && to === events.length - 1 ? events : events.slice(from, to + 1)
		const last = taken[taken.length - 1]
		const end = taken.findLast((e) => isTerminal(e.event))
		chunks.push({
			firstId: taken[0].id,
			lastId: last.id,
			lastSeq: last.seq,
			lastEnd: end ? end.id : null,
			frames: taken.length === 1 ? last.frame : adjacent(taken),
		})
	}
	let from = 0
	let bytes = 0
	for (let i = 0; i < events.length; i++) {
		const size = events[i].frame.byteLength
		// Closed before an event that would take it past the bound, not after.
		if (i > from && bytes + size > CHUNK_ROW_BYTES) {
			close(from, i - 1)
			from = i
			bytes = 0
		}
		bytes += size
	}
	close(from, events.length - 1)
	return chunks
}
