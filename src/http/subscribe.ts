import { Elysia } from 'elysia'
import type { Grant } from '../auth/tokens.ts'
import type { StreamKind } from '../events.ts'
import { streamStart } from '../streams/start.ts'
import { followStream } from '../streams/subscription.ts'
import { parseEventId } from '../validate.ts'
import { authPlugin } from './auth.ts'
import { type AppDeps, streamOf } from './deps.ts'
import { sseReply, sseResponses } from './sse-body.ts'

export const SSE_HEADERS = {
	'content-type': 'text/event-stream',
	'cache-control': 'no-cache, no-transform',
	'x-accel-buffering': 'no',
}

/** `Last-Event-ID`, or `?lastEventId=` for clients that cannot set headers; the header wins. */
export function lastEventIdOf(request: Request, query: Record<string, string | undefined>) {
	const header = request.headers.get('last-event-id')
	return header !== null && header !== ''
		? parseEventId('Last-Event-ID', header)
		: parseEventId('lastEventId', query.lastEventId)
}

/** The brief's endpoints: `GET /api/streaming/agents/:name/stream` and the workflow twin. */
export function subscribeRoutes({ config, store, hub, guard, limits, metrics, log }: AppDeps) {
	async function subscribe(
		kind: StreamKind,
		name: string,
		request: Request,
		query: Record<string, string | undefined>,
		set: { headers: Record<string, string | number> },
		server: { timeout(request: Request, seconds: number): void } | null,
		grant: Grant,
	) {
		const stream = streamOf(kind, name)
		guard.authorize(grant, 'read', stream)
		const start = await streamStart(store, kind, stream, lastEventIdOf(request, query))
		// The run is over and nothing of it is left to send: 204 tells EventSource to stop reconnecting.
		if (start.over) return new Response(null, { status: 204 })
		// Silence is normal on a stream; only heartbeats and events should decide when it is alive.
		const lease = limits.admit(grant)
		server?.timeout(request, 0)
		Object.assign(set.headers, SSE_HEADERS)
		const chunks = followStream(hub, store, metrics, stream, {
			afterId: start.afterId,
			gap: start.gap,
			// A client that stopped reading: a short idle timeout closes its connection.
			drop: () => server?.timeout(request, 1),
			retryMs: config.retryMs,
			// The client's going, or its credential's: a ticket that expired, a token removed.
			signal: AbortSignal.any([request.signal, lease.ended]),
		})
		return sseReply(request, chunks, lease)
	}

	// EventSource cannot set headers, so these routes (and the feed) also take ?access_token=.
	// Fresh options for each route: Elysia takes a macro's key out of the object it is given.
	const auth = () => ({ auth: { scope: 'read', query: true } }) as const
	return new Elysia({ name: 'subscribe' })
		.use(authPlugin(guard))
		.mapResponse(sseResponses(log))
		.get(
			'/api/streaming/agents/:name/stream',
			({ params, request, query, set, server, grant }) =>
				subscribe('agents', params.name, request, query, set, server, grant),
			auth(),
		)
		.get(
			'/api/streaming/workflows/:id/stream',
			({ params, request, query, set, server, grant }) =>
				subscribe('workflows', params.id, request, query, set, server, grant),
			auth(),
		)
}
