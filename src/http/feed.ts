import { Elysia } from 'elysia'
import type { Guard } from '../auth/guard.ts'
import { hasScope, mayAccess } from '../auth/tokens.ts'
import { BadRequestError, CortexError, ForbiddenError } from '../errors.ts'
import { compilePattern, matchesAny, patternListFault } from '../patterns.ts'
import type { Store } from '../store/store.ts'
import { feedMessages, followAll } from '../streams/feed.ts'
import type { AppDeps } from './deps.ts'
import { sseResponses } from './sse-body.ts'
import { lastEventIdOf, SSE_HEADERS } from './subscribe.ts'

/** Bytes a WebSocket may hold unsent before its feed waits; the same bound as a stream's chunk. */
const SEND_BUFFER = 1 << 20

/**
 * A stream goes to a feed when the token may read it and it matches a pattern (none: all).
 * `field` names where the patterns came from in a 400: the `match` parameter or a message's
 * `subscribe`.
 */
function feedFilter(
	guard: Guard,
	request: Request,
	queryToken: string | undefined,
	match: unknown,
) {
	const grant = guard.authenticate({
		authorization: request.headers.get('authorization'),
		queryToken,
	})
	if (!hasScope(grant, 'read')) throw new ForbiddenError('the token has no "read" scope')
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
	return { holder: grant.holder, filter }
}

// Bun's ServerWebSocket has it; Elysia's type for `ws.raw` predates it.
const buffered = (raw: unknown) => (raw as { getBufferedAmount(): number }).getBufferedAmount()

/**
 * The feed's gap: the cursor is older than the oldest event kept. (Pruned streams between kept
 * events of others are not reported: the feed carries no per-stream positions.)
 */
async function gapOf(store: Store, afterSeq: number | undefined) {
	if (afterSeq === undefined) return undefined
	const oldest = await store.oldest()
	return oldest && afterSeq + 1 < oldest.seq
		? JSON.stringify({ requested: afterSeq + 1, firstAvailable: oldest.seq })
		: undefined
}

interface Subscription {
	subscribe?: unknown
	after?: unknown
}

/**
 * One connection for a whole dashboard: `GET /api/streaming/events?match=...` (SSE) and
 * `GET /api/ws` (WebSocket), both the feed of every stream the token may read.
 */
export function feedRoutes({ config, store, hub, guard, limits, metrics, log }: AppDeps) {
	const sockets = new WeakMap<
		object,
		{ access: ReturnType<typeof feedFilter>; stop?: AbortController; release?: () => void }
	>()
	return new Elysia({ name: 'feed' })
		.mapResponse(sseResponses(log))
		.get('/api/streaming/events', async ({ request, query, set, server }) => {
			const access = feedFilter(
				guard,
				request,
				query.access_token,
				new URL(request.url).searchParams.getAll('match'),
			)
			const wants = access.filter()
			const afterSeq = lastEventIdOf(request, query)
			const gap = await gapOf(store, afterSeq)
			const release = limits.admit(access.holder)
			server?.timeout(request, 0)
			Object.assign(set.headers, SSE_HEADERS)
			return followAll(
				hub,
				store,
				metrics,
				{
					afterSeq,
					wants,
					signal: request.signal,
					gap,
					// A client that stopped reading: a short idle timeout closes its connection.
					drop: () => server?.timeout(request, 1),
					release,
				},
				config.retryMs,
			)
		})
		.ws('/api/ws', {
			beforeHandle({ request, query }) {
				sockets.set(request, { access: feedFilter(guard, request, query.access_token, []) })
			},
			async message(ws, raw) {
				const socket = sockets.get(ws.data.request)
				if (!socket) return ws.close()
				const refuse = (code: string, message: string, field?: string) => {
					ws.send(
						JSON.stringify({ error: { code, message, ...(field !== undefined && { field }) } }),
					)
					ws.close(1008, code)
				}
				if (socket.stop)
					return refuse('already_subscribed', 'send one subscribe message per connection')
				if (
					typeof raw !== 'object' ||
					raw === null ||
					!Array.isArray((raw as Subscription).subscribe)
				)
					return refuse('bad_request', 'send {"subscribe": ["agents/*", ...], "after": cursor}')
				const { subscribe, after } = raw as Subscription
				if (after !== undefined && !(Number.isSafeInteger(after) && (after as number) >= 0))
					return refuse('bad_request', '"after" must be a cursor, a whole number')
				let wants: (stream: string) => boolean
				try {
					wants = socket.access.filter(subscribe, '/subscribe')
					socket.release = limits.admit(socket.access.holder)
				} catch (error) {
					return refuse(
						error instanceof CortexError ? error.code : 'bad_request',
						(error as Error).message,
						error instanceof CortexError ? error.field : undefined,
					)
				}
				const stop = new AbortController()
				socket.stop = stop
				const afterSeq = after as number | undefined
				const options = {
					afterSeq,
					wants,
					signal: stop.signal,
					gap: await gapOf(store, afterSeq),
					drop: () => ws.close(1008, 'not reading'),
					release: socket.release,
				}
				for await (const messages of feedMessages(hub, store, metrics, options))
					for (const m of messages) {
						// 0: the socket is gone. A client that reads slowly: let its buffer drain first.
						if (ws.raw.send(m) === 0) return stop.abort()
						while (buffered(ws.raw) > SEND_BUFFER && !stop.signal.aborted) await Bun.sleep(5)
					}
			},
			close(ws) {
				const socket = sockets.get(ws.data.request)
				socket?.stop?.abort()
				socket?.release?.()
			},
		})
}
