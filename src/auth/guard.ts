import { type Config, isTokenText, type Scope, type TokenSpec } from '../config.ts'
import { ForbiddenError, UnauthorizedError } from '../errors.ts'
import { TICKET_PREFIX, type Tickets } from './tickets.ts'
import { createTokenTable, type Grant, mayAccess, OPEN_GRANT, parseBearer } from './tokens.ts'

export interface Credentials {
	/** The `Authorization` header as sent. */
	authorization: string | null
	/** `?access_token=`, passed only by the routes that accept it (the streaming GETs). */
	queryToken?: string
}

export interface Guard {
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
