/**
 * The SSE wire format, both ways, in one module with no imports, which the server, the client
 * and the command line share. Written: an event's frame exactly as the product brief shows it,
 * the `retry:` line, the `gap` event (no `id:`, so it does not move a client's Last-Event-ID)
 * and the heartbeat comment. Read: any server's text, with the WHATWG parser (`SseParser`);
 * and this server's own frames, which the store keeps back to back, by the blank line that ends
 * each (every field of a frame is one line: see `encodeEvent`).
 */

/**
 * An event's frame. Everything that reaches it is already safe for one line: event types match
 * `^[a-z][a-z0-9_]{0,63}$` and `data` is JSON text from `JSON.stringify`, which escapes CR and
 * LF, so no field can end a line and forge an event. The store keeps each event's frame, so a
 * replay sends stored bytes without encoding them.
 *
 * @example
 * encodeEvent(3, 'complete', '{"result":"ok"}') // 'id: 3\nevent: complete\ndata: {"result":"ok"}\n\n'
 */
export const encodeEvent = (id: number, event: string, data: string) =>
	`id: ${id}\nevent: ${event}\ndata: ${data}\n\n`

/**
 * An event without `id:`, so it does not move the client's Last-Event-ID (the `gap` event).
 *
 * @example
 * encodeUnnumbered('gap', '{"requested":1,"firstAvailable":3}')
 */
export const encodeUnnumbered = (event: string, data: string) =>
	`event: ${event}\ndata: ${data}\n\n`

/**
 * The reconnect delay a client should use.
 *
 * @example
 * encodeRetry(1000) // 'retry: 1000\n\n'
 */
export const encodeRetry = (ms: number) => `retry: ${ms}\n\n`

/**
 * The feed's `data:`, `{"stream", "id", "data"}`, spliced from JSON text without parsing it.
 *
 * @example
 * feedData('agents/a', 5, '{}') // '{"stream":"agents/a","id":5,"data":{}}'
 */
export const feedData = (stream: string, id: number, data: string) =>
	`{"stream":${JSON.stringify(stream)},"id":${id},"data":${data}}`

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The keepalive comment, encoded once. */
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

const LF = 10

/** The offset just past the frame that starts at `at`: past the blank line that ends it. */
export function nextFrame(frames: Uint8Array, at: number): number {
	for (;;) {
		const lf = frames.indexOf(LF, at)
		if (lf < 0) return frames.byteLength
		if (frames[lf + 1] === LF) return lf + 2
		at = lf + 1
	}
}

/** The offset `count` frames after offset `at`. */
export function skipFrames(frames: Uint8Array, at: number, count: number): number {
	for (let i = 0; i < count; i++) at = nextFrame(frames, at)
	return at
}

/**
 * Calls `each` with the id, type and data of the events `fromId..toId` of frames back to back
 * whose first event is `firstId`.
 *
 * @example
 * eachFrame(toBytes(encodeEvent(7, 'progress', '{}')), 7, 7, 7, (id, event, data) => {})
 */
export function eachFrame(
	frames: Uint8Array,
	firstId: number,
	fromId: number,
	toId: number,
	each: (id: number, event: string, data: string) => void,
) {
	if (fromId > toId) return
	const start = fromId > firstId ? skipFrames(frames, 0, fromId - firstId) : 0
	const text = decoder.decode(frames.subarray(start))
	let at = 0
	for (let id = fromId; id <= toId; id++) {
		// `id: <id>\nevent: <type>\ndata: <data>\n\n`
		const type = text.indexOf('\n', at) + 8
		const typeEnd = text.indexOf('\n', type)
		const dataEnd = text.indexOf('\n', typeEnd + 7)
		each(id, text.slice(type, typeEnd), text.slice(typeEnd + 7, dataEnd))
		at = dataEnd + 2
	}
}

/**
 * One dispatched SSE message, as the EventSource processing model defines it.
 *
 * @example
 * const m: SseMessage = { id: '3', event: 'complete', data: '{"result":"ok"}' }
 */
export interface SseMessage {
	/** The `id:` of this message, or undefined when it had none (the `gap` event). */
	id?: string
	event: string
	data: string
}

/**
 * An incremental parser of `text/event-stream`, following the WHATWG processing model: lines end
 * at CR, LF or CRLF; `data:` lines join with LF; comments are ignored; `retry:` sets the delay.
 *
 * @example
 * const parser = new SseParser((m) => console.log(m.event, m.data), (ms) => (delay = ms))
 * parser.push('id: 1\nevent: progress\ndata: {}\n\n')
 */
export class SseParser {
	private buffer = ''
	private skipLf = false
	private id: string | undefined
	private event = ''
	private data: string[] = []

	constructor(
		private readonly onMessage: (message: SseMessage) => void,
		private readonly onRetry: (ms: number) => void = () => {},
	) {}

	push(text: string) {
		let start = 0
		if (this.skipLf && text.startsWith('\n')) start = 1
		this.skipLf = false
		this.buffer += start ? text.slice(1) : text
		let from = 0
		for (;;) {
			const cr = this.buffer.indexOf('\r', from)
			const lf = this.buffer.indexOf('\n', from)
			const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf)
			if (end < 0) break
			this.line(this.buffer.slice(from, end))
			if (this.buffer[end] === '\r') {
				if (end + 1 === this.buffer.length) this.skipLf = true
				else if (this.buffer[end + 1] === '\n') {
					from = end + 2
					continue
				}
			}
			from = end + 1
		}
		this.buffer = this.buffer.slice(from)
	}

	private line(line: string) {
		if (line === '') return this.dispatch()
		if (line.startsWith(':')) return
		const colon = line.indexOf(':')
		const field = colon < 0 ? line : line.slice(0, colon)
		let value = colon < 0 ? '' : line.slice(colon + 1)
		if (value.startsWith(' ')) value = value.slice(1)
		if (field === 'data') this.data.push(value)
		else if (field === 'event') this.event = value
		else if (field === 'id' && !value.includes('\0')) this.id = value
		else if (field === 'retry' && /^[0-9]+$/.test(value)) this.onRetry(Number(value))
	}

	private dispatch() {
		if (this.data.length > 0)
			this.onMessage({ id: this.id, event: this.event || 'message', data: this.data.join('\n') })
		this.id = undefined
		this.event = ''
		this.data = []
	}
}
