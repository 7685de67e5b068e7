import type { Socket } from 'bun'
import { type Endpoint, getRequest } from './http.ts'

/**
 * An SSE subscriber on a raw socket: one Bun.connect per connection, no Response, no
 * ReadableStream, no text decoding. 5,000 `fetch` streams would cost the load generator more CPU
 * than the server it measures. The body is handed over as raw bytes (chunked framing included;
 * the scanners below look only for markers that framing cannot contain).
 */
export interface SseState {
	/** Called with body bytes, first with what follows the response head. */
	onBody: (state: SseState, bytes: Buffer) => void
	/** Settles once the response head has arrived: with the status, or with the error. */
	onHead: (status: number | Error) => void
	head: Buffer | null
	headDone: boolean
	closed: boolean
}

const HEAD_END = Buffer.from('\r\n\r\n')

const handler = {
	data(socket: Socket<SseState>, chunk: Buffer) {
		const s = socket.data
		if (s.headDone) {
			s.onBody(s, chunk)
			return
		}
		const buf = s.head ? Buffer.concat([s.head, chunk]) : chunk
		const end = buf.indexOf(HEAD_END)
		if (end < 0) {
			s.head = buf
			return
		}
		s.head = null
		s.headDone = true
		s.onHead(Number(buf.toString('latin1', 9, 12)))
		if (end + 4 < buf.byteLength) s.onBody(s, buf.subarray(end + 4))
	},
	close(socket: Socket<SseState>) {
		socket.data.closed = true
		if (!socket.data.headDone) socket.data.onHead(new Error('closed before the response head'))
	},
	error(socket: Socket<SseState>, error: Error) {
		if (!socket.data.headDone) socket.data.onHead(error)
	},
}

export interface SseConn {
	socket: Socket<SseState>
	/** Resolves to the HTTP status once the head has arrived. */
	head: Promise<number>
}

export interface SseOptions {
	headers?: Record<string, string>
	/** Extra per-connection fields for `onBody`, in place before the first byte can arrive. */
	state?: object
	/** Called once connected, just before the GET is written: where a caller starts a clock. */
	beforeSend?: () => void
}

export async function openSse(
	endpoint: Endpoint,
	path: string,
	onBody: SseState['onBody'],
	{ headers = {}, state, beforeSend }: SseOptions = {},
): Promise<SseConn> {
	let onHead: SseState['onHead'] = () => {}
	const head = new Promise<number>((resolve, reject) => {
		onHead = (status) => (typeof status === 'number' ? resolve(status) : reject(status))
	})
	const socket = await Bun.connect<SseState>({
		hostname: endpoint.host,
		port: endpoint.port,
		data: { ...state, onBody, onHead, head: null, headDone: false, closed: false },
		socket: handler,
	})
	beforeSend?.()
	socket.write(getRequest(endpoint, path, headers))
	return { socket, head }
}

/** `"\nid: "`: starts every numbered frame; a chunk-size line never contains it. */
export const ID_LINE = Buffer.from('\nid: ')

/**
 * Counts `needle` in a stream of chunks, including an occurrence split across two chunks,
 * without concatenating chunks.
 */
export class StreamCounter {
	private tail: Buffer = Buffer.alloc(0)

	constructor(private needle: Buffer) {}

	count(chunk: Buffer): number {
		const needle = this.needle
		let n = 0
		const k = needle.byteLength - 1
		if (this.tail.byteLength > 0 && chunk.byteLength > 0) {
			const seam = Buffer.concat([this.tail, chunk.subarray(0, k)])
			if (seam.indexOf(needle) >= 0) n++
		}
		for (let i = chunk.indexOf(needle); i >= 0; i = chunk.indexOf(needle, i + needle.byteLength))
			n++
		this.tail = Buffer.from(chunk.subarray(Math.max(0, chunk.byteLength - k)))
		return n
	}
}
