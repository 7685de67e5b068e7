import { Elysia } from 'elysia'
import { adminRoutes } from './admin.ts'
import { cancelRoutes } from './cancel.ts'
import type { AppDeps } from './deps.ts'
import { handleError } from './errors.ts'
import { feedRoutes } from './feed.ts'
import { openApiRoutes } from './openapi.ts'
import { opsRoutes } from './ops.ts'
import { pageRoutes } from './page.ts'
import { publishRoutes } from './publish.ts'
import { snapshotRoutes } from './snapshots.ts'
import { subscribeRoutes } from './subscribe.ts'
import { ticketRoutes } from './tickets.ts'

const started = new WeakMap<Request, number>()

/** On every response: no MIME sniffing, no framing, no referrer leaking a URL's ticket. */
const SECURITY_HEADERS = {
	'x-content-type-options': 'nosniff',
	'x-frame-options': 'DENY',
	'referrer-policy': 'no-referrer',
}

/** The whole HTTP API of the contract, as one Elysia app. */
export function createApp(deps: AppDeps) {
	const { config, log, metrics } = deps
	const cors = new Set(config.corsOrigins)
	return new Elysia()
		.headers(SECURITY_HEADERS)
		.onRequest(({ request, set }) => {
			started.set(request, performance.now())
			const origin = request.headers.get('origin')
			if (origin === null || !(cors.has(origin) || cors.has('*'))) return
			set.headers['access-control-allow-origin'] = cors.has('*') ? '*' : origin
			set.headers.vary = 'Origin'
			if (request.method === 'OPTIONS')
				return new Response(null, {
					status: 204,
					headers: {
						'access-control-allow-origin': cors.has('*') ? '*' : origin,
						'access-control-allow-methods': 'GET, POST, OPTIONS',
						'access-control-allow-headers':
							'Authorization, Content-Type, Idempotency-Key, Last-Event-ID',
						'access-control-max-age': '600',
						vary: 'Origin',
					},
				})
		})
		.onError(({ code, error, request }) =>
			handleError(log, code, error, new URL(request.url).pathname),
		)
		.onAfterResponse(({ request, set, responseValue }) => {
			const status =
				responseValue instanceof Response ? responseValue.status : Number(set.status ?? 200)
			metrics.responses.set(status, (metrics.responses.get(status) ?? 0) + 1)
			const t0 = started.get(request)
			// The path only: a query string may hold ?access_token=, which never reaches a log.
			const url = request.url
			const q = url.indexOf('?')
			const path = url.slice(url.indexOf('/', url.indexOf('//') + 2), q < 0 ? undefined : q)
			log.info('request', {
				method: request.method,
				path,
				status,
				ms: t0 === undefined ? undefined : Math.round((performance.now() - t0) * 100) / 100,
			})
		})
		.use(opsRoutes(deps))
		.use(openApiRoutes())
		.use(pageRoutes())
		.use(publishRoutes(deps))
		.use(cancelRoutes(deps))
		.use(subscribeRoutes(deps))
		.use(feedRoutes(deps))
		.use(ticketRoutes(deps))
		.use(adminRoutes(deps))
		.use(snapshotRoutes(deps))
}
