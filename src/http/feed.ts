import { Elysia } from 'elysia'
import { type Grant, mayAccess } from '../auth/tokens.ts'
import { BadRequestError, CortexError } from '../errors.ts'
import { compilePattern, matchesAny, patternListFault } from '../patterns.ts'
import { feedStart } from '../streams/start.ts'
import { CHUNK_BYTES, type FeedOptions, feedMessages, followFeed } from '../streams/subscription.ts'
import { authPlugin, credentialsOf, type RouteAuth } from './auth.ts'
import type { AppDeps } from './deps.ts'
import type { Lease } from './limits.ts'
import { sseReply, sseResponses } from './sse-body.ts'
import { lastEventIdOf, SSE_HEADERS } from './subscribe.ts'

/** Bytes a WebSocket may hold unsent before its feed waits: the same bound as a stream's chunk. */
const SEND_BUFFER = CHUNK_BYTES

/**
 * A stream goes to a feed when the token may read it and it matches a pattern (none: all). The
 * filter is made from the patterns and the `field` they came from, which a 400 names: the
 * `match` parameter, or a WebSocket message's `subscribe`.
 */
function feedFilter(grant: Grant, match: unknown) {
	const filter = (patterns: unknown = match, field = 'match') => {
		const fault = patternListFault(patterns)
		if (fault)
			throw new BadRequestError(
				`${field}: ${fault.message}`,
				fault.index === undefined ? field : `${field}/${fault.index}`,
			)
		const compiled = (patterns as string[]).map(compilePattern)
		// A stream the token may not read is never sent, whatever the patterns ask for.
		return (stream: string) =>
			mayAccess(grant, 'read', stream) && (compiled.length === 0 || matchesAny(compiled, stream))
	}
	return { grant, filter }
}

// Bun's ServerWebSocket has it; Elysia's type for `ws.raw` predates it.
const buffered = (raw: unknown) => (raw as { getBufferedAmount(): number }).getBufferedAmount()

/** The feed's auth, over SSE and WebSocket: reading, the credential in the URL allowed. */
const FEED_AUTH: RouteAuth = { scope: 'read', query: true }

interface Subscription {
	subscribe?: unknown
	after?: unknown
}

interface Socket {
	access: ReturnType<typeof feedFilter>
	lease?: Lease
	stop?: AbortController
	/** Resolves the wait of a feed whose client's buffer was full: it drained, or closed. */
	drained?: () => void
}

/** Tells a WebSocket client why, then closes it: 1013 (try again later) for a limit, else 1008. */
function refuse(
	ws: { send(text: string): unknown; close(code: number, reason: string): unknown },
	error: { code: string; message: string; field?: string; status?: number },
) {
	const { code, message, field } = error
	ws.send(JSON.stringify({ error: { code, message, ...(field !== undefined && { field }) } }))
	ws.close(error.status === 429 || error.status === 503 ? 1013 : 1008, code)
}

/**
 * One connection for a whole dashboard: `GET /api/streaming/events?match=...` (SSE) and
 * `GET /api/ws` (WebSocket), both the feed of every stream the token may read.
 */
export function feedRoutes({ config, store, hub, guard, limits, metrics, log }: AppDeps) {
	const sockets = new WeakMap<object, Socket>()
	return new Elysia({ name: 'feed' })
		.use(authPlugin(guard))
		.mapResponse(sseResponses(log))
		.get(
			'/api/streaming/events',
			async ({ request, query, set, server, grant }) => {
				const access = feedFilter(grant, new URL(request.url).searchParams.getAll('match'))
				const wants = access.filter()
				const { afterSeq, gap } = await feedStart(store, lastEventIdOf(request, query))
				const lease = limits.admit(access.grant)
				server?.timeout(request, 0)
				Object.assign(set.headers, SSE_HEADERS)
				const chunks = followFeed(
					hub,
					store,
					metrics,
					{
						afterSeq,
						wants,
						signal: AbortSignal.any([request.signal, lease.ended]),
						gap,
						// A client that stopped reading: a short idle timeout closes its connection.
						drop: () => server?.timeout(request, 1),
					},
					config.retryMs,
				)
				return sseReply(request, chunks, lease)
			},
			{ auth: { ...FEED_AUTH } },
		)
		.ws('/api/ws', {
			beforeHandle({ request, query }) {
				const grant = guard.check(credentialsOf(request, query, FEED_AUTH), FEED_AUTH)
				const access = feedFilter(grant, [])
				// A refusal is an HTTP answer while it still can be; the place is taken at `open`.
				limits.check(access.grant)
				sockets.set(request, { access })
			},
			open(ws) {
				const socket = sockets.get(ws.data.request)
				if (!socket) return ws.close()
				try {
					// A socket counts against the limits from its upgrade, subscribed or not.
					socket.lease = limits.admit(socket.access.grant)
				} catch (error) {
					return refuse(ws, error as CortexError)
				}
				// Its credential ended (a ticket expired, a token removed): a clean close, which a
				// client answers by connecting again with a valid one.
				socket.lease.ended.addEventListener('abort', () => ws.close(1000, 'credential ended'), {
					once: true,
				})
			},
			async message(ws, raw) {
				const socket = sockets.get(ws.data.request)
				if (!socket?.lease) return ws.close()
				if (socket.stop)
					return refuse(ws, {
						code: 'already_subscribed',
						message: 'send one subscribe message per connection',
					})
				if (
					typeof raw !== 'object' ||
					raw === null ||
					!Array.isArray((raw as Subscription).subscribe)
				)
					return refuse(ws, {
						code: 'bad_request',
						message: 'send {"subscribe": ["agents/*", ...], "after": cursor}',
					})
				const { subscribe, after } = raw as Subscription
				if (after !== undefined && !(Number.isSafeInteger(after) && (after as number) >= 0))
					return refuse(ws, {
						code: 'bad_request',
						message: '"after" must be a cursor, a whole number',
						field: '/after',
					})
				const stop = new AbortController()
				socket.stop = stop
				let options: FeedOptions
				try {
					const wants = socket.access.filter(subscribe, '/subscribe')
					options = {
						...(await feedStart(store, after as number | undefined)),
						wants,
						signal: stop.signal,
						drop: () => ws.close(1008, 'not reading'),
					}
				} catch (error) {
					return refuse(
						ws,
						error instanceof CortexError ? error : { code: 'internal', message: 'internal error' },
					)
				}
				for await (const messages of feedMessages(hub, store, metrics, options))
					for (const m of messages) {
						// 0: the socket is gone. A client that reads slowly: let its buffer drain first.
						if (ws.raw.send(m) === 0) return stop.abort()
						if (buffered(ws.raw) > SEND_BUFFER)
							await new Promise<void>((resolve) => {
								socket.drained = resolve
							})
						if (stop.signal.aborted) return
					}
			},
			drain(ws) {
				const socket = sockets.get(ws.data.request)
				socket?.drained?.()
			},
			close(ws) {
				const socket = sockets.get(ws.data.request)
				socket?.stop?.abort()
				socket?.drained?.()
				socket?.lease?.release()
			},
		})
}
