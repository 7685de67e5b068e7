/**
 * The SSE wire format of the product brief. Everything that reaches these functions is already
 * safe for one line: event types match `^[a-z][a-z0-9_]{0,63}$` and `data` is JSON text from
 * `JSON.stringify`, which escapes CR and LF, so no field can end a line and forge an event.
 */
const encoder = new TextEncoder()

export const encodeEvent = (id: number, event: string, data: string) =>
	`id: ${id}\nevent: ${event}\ndata: ${data}\n\n`

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
