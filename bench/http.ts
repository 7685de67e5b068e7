import type { Socket } from 'bun'

/**
 * A bare HTTP/1.1 keep-alive client on Bun.connect. `fetch` costs the load generator tens of
 * microseconds per request, which on a shared 2-core machine would be measured as server latency;
 * this one parses only the status line and Content-Length.
 */

export interface Endpoint {
	host: string
	port: number
	token: string
}

export interface HttpResponse {
	status: number
	body: string
}

interface ConnState {
	buf: Buffer | null
	outbox: Buffer | null
	waiting: { resolve: (r: HttpResponse) => void; reject: (e: Error) => void } | null
	closed: boolean
}

const HEAD_END = Buffer.from('\r\n\r\n')

export function postRequest(endpoint: Endpoint, path: string, body: string): Buffer {
	const bytes = Buffer.from(body)
	const head =
		`POST ${path} HTTP/1.1\r\nHost: ${endpoint.host}:${endpoint.port}\r\n` +
		`Authorization: Bearer ${endpoint.token}\r\nContent-Type: application/json\r\n` +
		`Content-Length: ${bytes.byteLength}\r\n\r\n`
	return Buffer.concat([Buffer.from(head), bytes])
}

export function getRequest(endpoint: Endpoint, path: string, headers: Record<string, string> = {}) {
	let head =
		`GET ${path} HTTP/1.1\r\nHost: ${endpoint.host}:${endpoint.port}\r\n` +
		`Authorization: Bearer ${endpoint.token}\r\nAccept: text/event-stream\r\n`
	for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`
	return Buffer.from(`${head}\r\n`)
}

/** Writes all of `bytes`, keeping what the kernel did not take for the next `drain`. */
export function writeAll(socket: Socket<{ outbox: Buffer | null }>, bytes: Buffer) {
	const written = socket.write(bytes)
	if (written < bytes.byteLength) socket.data.outbox = bytes.subarray(Math.max(written, 0))
}

export function flushOutbox(socket: Socket<{ outbox: Buffer | null }>) {
	const rest = socket.data.outbox
	if (!rest) return
	socket.data.outbox = null
	writeAll(socket, rest)
}

function parse(state: ConnState) {
	const buf = state.buf
	if (!buf || !state.waiting) return
	const headEnd = buf.indexOf(HEAD_END)
	if (headEnd < 0) return
	const head = buf.toString('latin1', 0, headEnd)
	const match = /\r\ncontent-length:\s*(\d+)/i.exec(head)
	if (!match) {
		state.waiting.reject(new Error(`response without Content-Length: ${head.slice(0, 200)}`))
		state.waiting = null
		return
	}
	const end = headEnd + 4 + Number(match[1])
	if (buf.byteLength < end) return
	const waiting = state.waiting
	state.waiting = null
	state.buf = buf.byteLength > end ? buf.subarray(end) : null
	waiting.resolve({
		status: Number(head.slice(9, 12)),
		body: buf.toString('utf8', headEnd + 4, end),
	})
}

/** One keep-alive connection that runs one request at a time. */
export class HttpConn {
	private constructor(private socket: Socket<ConnState>) {}

	static async open(endpoint: Endpoint): Promise<HttpConn> {
		const socket = await Bun.connect<ConnState>({
			hostname: endpoint.host,
			port: endpoint.port,
			data: { buf: null, outbox: null, waiting: null, closed: false },
			socket: {
				data(socket, chunk) {
					const s = socket.data
					s.buf = s.buf ? Buffer.concat([s.buf, chunk]) : chunk
					parse(s)
				},
				drain: flushOutbox,
				close(socket) {
					socket.data.closed = true
					socket.data.waiting?.reject(new Error('connection closed'))
					socket.data.waiting = null
				},
				error(socket, error) {
					socket.data.waiting?.reject(error)
					socket.data.waiting = null
				},
			},
		})
		return new HttpConn(socket)
	}

	get closed() {
		return this.socket.data.closed
	}

	request(bytes: Buffer): Promise<HttpResponse> {
		const s = this.socket.data
		if (s.closed) return Promise.reject(new Error('connection closed'))
		if (s.waiting) return Promise.reject(new Error('one request at a time'))
		return new Promise((resolve, reject) => {
			s.waiting = { resolve, reject }
			writeAll(this.socket, bytes)
		})
	}

	close() {
		this.socket.end()
	}
}
