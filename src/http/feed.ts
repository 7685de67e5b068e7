import { Elysia } from 'elysia'
import { hasScope, mayAccess, patternToRegExp } from '../auth/tokens.ts'
import { BadRequestError, ForbiddenError } from '../errors.ts'
import { followAll } from '../streams/feed.ts'
import type { AppDeps } from './deps.ts'
import { lastEventIdOf, SSE_HEADERS } from './subscribe.ts'

const MAX_PATTERNS = 64

/** `GET /api/streaming/events?match=...`: one connection for a whole dashboard. */
export function feedRoutes({ config, store, hub, guard, metrics }: AppDeps) {
	return new Elysia({ name: 'feed' }).get(
		'/api/streaming/events',
		({ request, query, set, server }) => {
			const grant = guard.authenticate({
				authorization: request.headers.get('authorization'),
				queryToken: query.access_token,
			})
			if (!hasScope(grant, 'read')) throw new ForbiddenError('the token has no "read" scope')
			const match = new URL(request.url).searchParams.getAll('match')
			if (match.length > MAX_PATTERNS || match.some((p) => p.length === 0 || p.length > 300))
				throw new BadRequestError(
					`match takes up to ${MAX_PATTERNS} non-empty patterns such as agents/*`,
				)
			const patterns = match.map(patternToRegExp)
			// A stream the token may not read is never sent, whatever `match` asks for.
			const wants = (stream: string) =>
				mayAccess(grant, 'read', stream) &&
				(patterns.length === 0 || patterns.some((p) => p.test(stream)))
			const afterSeq = lastEventIdOf(request, query)
			server?.timeout(request, 0)
			Object.assign(set.headers, SSE_HEADERS)
			return followAll(hub, store, metrics, {
				afterSeq,
				wants,
				retryMs: config.retryMs,
				signal: request.signal,
			})
		},
	)
}
