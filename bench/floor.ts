/**
 * The floor: the fastest plausible SSE fan-out on Bun.serve, to read cortex-stream's figures
 * against. In memory, no auth, no store, no framework; the same routes as the server so the load
 * generators need not know which one they drive. A publish encodes its frames once and writes the
 * same bytes to every subscriber's stream controller.
 *
 *   bun bench/floor.ts [--mode direct|direct-flush|enqueue]
 *
 * direct (the default) writes to a direct stream and lets Bun flush it once per tick; on this
 * 2-core VM it cost the least CPU per delivery of the three. direct-flush flushes every write;
 * enqueue uses a plain ReadableStream controller.
 *
 * Prints `{"msg":"listening","url":...,"port":...}` like the server, then nothing.
 */
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { mode: { type: 'string', default: 'direct' } } })
const mode = values.mode ?? 'direct'

const encoder = new TextEncoder()
const RETRY = encoder.encode('retry: 1000\n\n')
const SSE_HEADERS = {
	'content-type': 'text/event-stream',
	'cache-control': 'no-cache, no-transform',
	'x-accel-buffering': 'no',
}

interface Sink {
	write(bytes: Uint8Array): void
}

const subscribers = new Set<Sink>()
let lastId = 0

function directStream(signal: AbortSignal) {
	const source: Bun.DirectUnderlyingSource = {
		type: 'direct',
		pull(controller) {
			controller.write(RETRY)
			controller.flush()
			const sink: Sink = {
				write(bytes) {
					controller.write(bytes)
					// Bun flushes a direct stream at the end of the tick; flushing each write costs more.
					if (mode === 'direct-flush') controller.flush()
				},
			}
			subscribers.add(sink)
			// A direct stream ends when pull's promise settles: hold it open until the client leaves.
			return new Promise<void>((resolve) =>
				signal.addEventListener('abort', () => {
					subscribers.delete(sink)
					resolve()
				}),
			)
		},
	}
	return new ReadableStream(source)
}

function enqueueStream(signal: AbortSignal) {
	let sink: Sink | undefined
	return new ReadableStream<Uint8Array>({
		start(controller) {
			controller.enqueue(RETRY)
			sink = { write: (bytes) => controller.enqueue(bytes) }
			subscribers.add(sink)
			signal.addEventListener('abort', () => sink && subscribers.delete(sink))
		},
		cancel() {
			if (sink) subscribers.delete(sink)
		},
	})
}

async function publish(request: Request) {
	const body = (await request.json()) as unknown
	const events = (Array.isArray(body) ? body : [body]) as { event: string; data?: unknown }[]
	const ids: number[] = []
	let text = ''
	for (const e of events) {
		ids.push(++lastId)
		text += `id: ${lastId}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data ?? {})}\n\n`
	}
	if (subscribers.size > 0) {
		const bytes = encoder.encode(text)
		for (const sink of subscribers) sink.write(bytes)
	}
	return new Response(`{"ids":[${ids.join(',')}]}`, {
		status: 201,
		headers: { 'content-type': 'application/json; charset=utf-8' },
	})
}

const server = Bun.serve({
	port: 0,
	hostname: '127.0.0.1',
	idleTimeout: 0,
	fetch(request) {
		const url = request.url
		const path = url.slice(url.indexOf('/', 8))
		if (request.method === 'POST' && path.endsWith('/events')) return publish(request)
		if (request.method === 'GET' && path.includes('/stream'))
			return new Response(
				mode !== 'enqueue' ? directStream(request.signal) : enqueueStream(request.signal),
				{ headers: SSE_HEADERS },
			)
		return new Response('not found', { status: 404 })
	},
})

console.log(
	JSON.stringify({ msg: 'listening', url: server.url.href, port: server.port, floor: mode }),
)
process.once('SIGTERM', () => {
	server.stop(true)
	process.exit(0)
})
