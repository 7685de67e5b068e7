import { type Config, isTokenText, type Scope, type TokenSpec } from '../config.ts'
import { ForbiddenError, UnauthorizedError } from '../errors.ts'
import { TICKET_PREFIX, type Tickets } from './tickets.ts'
import {
	createTokenTable,
	type Grant,
	hasScope,
	mayAccess,
	OPEN_GRANT,
	parseBearer,
} from './tokens.ts'

export interface Credentials {
	/** The `Authorization` header as sent. */
	authorization: string | null
	/** `?access_token=`, passed only by the routes that accept it (the streaming GETs). */
	queryToken?: string
}

/** What a route needs of a credential. */
export interface Need {
	/**
	 * The scope it needs on some stream (which one, the route checks with `authorize`), or
	 * `any` for a route that answers any valid credential, or that decides per stream itself.
	 */
	scope: Scope | 'any'
	/** Whether a ticket will do; it will unless this says no (a ticket cannot mint tickets). */
	tickets?: boolean
}

export interface Guard {
	/**
	 * The grant of a request's credential when it has what `need` asks; throws 401 for a
	 * missing, malformed or unknown one, 403 for a valid one without the scope.
	 */
	check(credentials: Credentials, need: Need): Grant
	/** The grant of a request's token; throws 401 for a missing, malformed or unknown one. */
	authenticate(credentials: Credentials): Grant
	/** Throws 403 unless the grant has `scope` on `stream`. */
	authorize(grant: Grant, scope: Scope, stream: string): void
	/**
	 * Takes a new list of tokens (a reloaded tokens file); returns the holders of the tokens it
	 * removed or changed, whose open streams must end.
	 */
	reload(tokens: TokenSpec[]): string[]
}

/**
 * Every auth failure is decided here: 401 (with `WWW-Authenticate: Bearer`, from the error)
 * when there is no valid token, 403 only for a valid token that lacks the grant. Messages
 * never repeat the token.
 */
export function createGuard(config: Pick<Config, 'tokens' | 'noAuth'>, tickets?: Tickets): Guard {
	let table = createTokenTable(config.tokens)
	return {
		authenticate({ authorization, queryToken }) {
			if (config.noAuth) return OPEN_GRANT
			let token: string | undefined
			if (authorization !== null) {
				token = parseBearer(authorization)
				if (token === undefined)
					throw new UnauthorizedError('the Authorization header must be "Bearer <token>"')
			} else token = queryToken && isTokenText(queryToken) ? queryToken : undefined
			if (token === undefined) throw new UnauthorizedError('a bearer token is required')
			const grant = token.startsWith(TICKET_PREFIX) ? tickets?.verify(token) : table.lookup(token)
			if (!grant) throw new UnauthorizedError('the token is not valid, or the ticket has expired')
			return grant
		},
		check(credentials, { scope, tickets = true }) {
			const grant = this.authenticate(credentials)
			if (scope !== 'any' && !hasScope(grant, scope))
				throw new ForbiddenError(`this needs a credential with the "${scope}" scope`)
			if (grant.ticket && !tickets)
				throw new ForbiddenError('a ticket cannot do this; use the token that made it')
			return grant
		},
		authorize(grant, scope, stream) {
			if (!mayAccess(grant, scope, stream))
				throw new ForbiddenError(`the token does not grant "${scope}" on ${stream}`)
		},
		reload(tokens) {
			const next = createTokenTable(tokens)
			const ended = table.endedIn(next)
			table = next
			return ended
		},
	}
}
