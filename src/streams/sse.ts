/**
 * The rest of the SSE wire format; an event's own frame is `encodeEvent` in events.ts. The same
 * one-line safety holds here: every field is an event type or JSON text.
 */
const encoder = new TextEncoder()

/** An event without `id:`, so it does not move the client's Last-Event-ID (the `gap` event). */
export const encodeUnnumbered = (event: string, data: string) =>
	`event: ${event}\ndata: ${data}\n\n`

export const encodeRetry = (ms: number) => `retry: ${ms}\n\n`

export const HEARTBEAT = encoder.encode(': heartbeat\n\n')

export const toBytes = (text: string) => encoder.encode(text)

/** Joins encoded frames into one chunk, so a batch costs one write. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
	if (parts.length === 1) return parts[0]
	let length = 0
	for (const part of parts) length += part.byteLength
	const out = new Uint8Array(length)
	let offset = 0
	for (const part of parts) {
		out.set(part, offset)
		offset += part.byteLength
	}
	return out
}
