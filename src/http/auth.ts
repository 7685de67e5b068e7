import { Elysia } from 'elysia'
import type { Credentials, Guard, Need } from '../auth/guard.ts'

/** What a route asks of the credential of its requests (see `authPlugin`). */
export interface RouteAuth extends Need {
	/** Whether `?access_token=` may carry it: the streaming GETs only (EventSource sends no header). */
	query?: boolean
}

/** A request's credential, as a route that `query` allows may send it. */
export const credentialsOf = (
	request: Request,
	query: Record<string, string | undefined>,
	{ query: fromQuery = false }: Pick<RouteAuth, 'query'>,
): Credentials => ({
	authorization: request.headers.get('authorization'),
	...(fromQuery && { queryToken: query.access_token }),
})

/**
 * Auth applied once, as Elysia's own bearer plugin and Hono's middleware do: a route that says
 * `{ auth: { scope: 'read' } }` gets the `grant` of its request's credential, resolved before
 * its handler runs, or the request is answered 401 (no valid credential) or 403 (one without
 * the scope) by the one error handler. Which stream a grant reaches is each route's own
 * question (`guard.authorize`, or 404 for snapshots so existence does not leak).
 *
 * @example
 * new Elysia().use(authPlugin(guard)).get('/api/whoami', ({ grant }) => grant.streams, { auth: { scope: 'read' } })
 */
export const authPlugin = (guard: Guard) =>
	new Elysia().macro({
		auth: (need: RouteAuth) => ({
			resolve: ({ request, query }) => ({
				grant: guard.check(credentialsOf(request, query, need), need),
			}),
		}),
	})
