import { Elysia } from 'elysia'
import { MAX_TICKET_TTL_S, patternWithin } from '../auth/tickets.ts'
import { hasScope } from '../auth/tokens.ts'
import { isTokenText, SCOPES } from '../config.ts'
import { BadRequestError, ForbiddenError } from '../errors.ts'
import { patternListFault } from '../patterns.ts'
import { authPlugin } from './auth.ts'
import { readJson } from './body.ts'
import type { AppDeps } from './deps.ts'
import { json } from './respond.ts'

const DEFAULT_TTL_S = 3600

/**
 * `POST /api/tickets`: a signed, read-only, expiring credential for a browser URL; and
 * `GET /api/whoami`: what the credential sent may do, so a page asks for a ticket within it.
 */
export function ticketRoutes({ guard, tickets }: AppDeps) {
	return new Elysia({ name: 'tickets' })
		.use(authPlugin(guard))
		.get(
			'/api/whoami',
			({ grant }) =>
				json(200, {
					kind: grant.ticket ? 'ticket' : 'token',
					// Spelled out: `admin` is every scope, which a client should not have to know.
					scopes: SCOPES.filter((s) => hasScope(grant, s)),
					streams: grant.streams,
					expiresAt: grant.expiresAt === undefined ? null : new Date(grant.expiresAt).toISOString(),
				}),
			{ auth: { scope: 'any' } },
		)
		.post(
			'/api/tickets',
			async ({ request, grant }) => {
				const body = (await readJson(request, 64 * 1024)) as {
					streams?: unknown
					ttlSeconds?: unknown
				}
				if (typeof body !== 'object' || body === null || Array.isArray(body))
					throw new BadRequestError('the body must be {"streams": [...], "ttlSeconds": n}')
				const { streams, ttlSeconds = DEFAULT_TTL_S } = body
				const fault = patternListFault(streams, { min: 1 })
				if (fault)
					throw new BadRequestError(
						`"streams": ${fault.message}`,
						fault.index === undefined ? '/streams' : `/streams/${fault.index}`,
					)
				;(streams as string[]).forEach((p, i) => {
					if (!patternWithin(p, grant.streams))
						throw new ForbiddenError(
							'the pattern reaches beyond the streams this token may read',
							`/streams/${i}`,
						)
				})
				if (
					!Number.isInteger(ttlSeconds) ||
					(ttlSeconds as number) < 1 ||
					(ttlSeconds as number) > MAX_TICKET_TTL_S
				)
					throw new BadRequestError(
						`"ttlSeconds" must be a whole number from 1 to ${MAX_TICKET_TTL_S}`,
						'/ttlSeconds',
					)
				const issued = tickets.issue(streams as string[], ttlSeconds as number)
				// A credential longer than a bearer token may be could not be used at all.
				if (!isTokenText(issued.ticket))
					throw new BadRequestError(
						'the patterns make a ticket longer than 4096 characters; ask for fewer or shorter ones',
						'/streams',
					)
				return json(201, issued)
			},
			// A ticket is made from a token with the read scope, not from another ticket.
			{ parse: 'none', auth: { scope: 'read', tickets: false } },
		)
}
