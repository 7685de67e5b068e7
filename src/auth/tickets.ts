import { createHmac, timingSafeEqual } from 'node:crypto'
import { compilePattern, patternListFault } from '../patterns.ts'
import type { Grant } from './tokens.ts'

/** Tickets start with this, so the guard knows to verify a signature rather than look up a token. */
export const TICKET_PREFIX = 'ct1.'
export const MAX_TICKET_TTL_S = 24 * 3600

interface Claims {
	/** Stream patterns the ticket may read. */
	s: string[]
	/** Expiry, Unix seconds. */
	e: number
}

const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url')

/**
 * Read-only, expiring credentials for browser URLs: `ct1.<claims>.<HMAC-SHA256>`, signed with a
 * key kept in the store, so a ticket works on every server of that store and across restarts.
 * A ticket says which streams it may read and until when; nothing else is needed to check it.
 *
 * @example
 * const tickets = createTickets(await store.secret('ticket-key'))
 * const { ticket } = tickets.issue(['workflows/wf-123'], 3600)
 * tickets.verify(ticket) // a Grant with the read scope on workflows/wf-123
 */
export function createTickets(key: Uint8Array) {
	const sign = (payload: string) => createHmac('sha256', key).update(payload).digest()
	return {
		issue(streams: string[], ttlSeconds: number, now = Date.now()) {
			const expires = Math.floor(now / 1000) + ttlSeconds
			const payload = b64(JSON.stringify({ s: streams, e: expires } satisfies Claims))
			return {
				ticket: `${TICKET_PREFIX}${payload}.${b64(sign(payload))}`,
				expiresAt: new Date(expires * 1000).toISOString(),
			}
		},

		/** The grant of a valid ticket; undefined for a tampered, malformed or expired one. */
		verify(ticket: string, now = Date.now()): Grant | undefined {
			if (!ticket.startsWith(TICKET_PREFIX)) return undefined
			const [payload, signature, ...rest] = ticket.slice(TICKET_PREFIX.length).split('.')
			if (!payload || !signature || rest.length > 0) return undefined
			const given = Buffer.from(signature, 'base64url')
			const expected = sign(payload)
			if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
			let claims: Claims
			try {
				claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
			} catch {
				return undefined
			}
			if (!(claims.e * 1000 > now) || patternListFault(claims.s, { min: 1 })) return undefined
			return {
				scopes: new Set(['read']),
				patterns: claims.s.map(compilePattern),
				streams: claims.s,
				ticket: true,
				holder: `ticket ${signature.slice(0, 16)}`,
			}
		},
	}
}

export type Tickets = ReturnType<typeof createTickets>

/**
 * Whether every stream `pattern` matches is also matched by one of `allowed`: exact, `*`, or a
 * prefix pattern `p*` that `pattern` begins with. What cannot be shown this simply is refused.
 */
export function patternWithin(pattern: string, allowed: string[]): boolean {
	return allowed.some((a) => {
		if (a === '*' || a === pattern) return true
		const star = a.indexOf('*')
		if (star === a.length - 1) return pattern.startsWith(a.slice(0, -1))
		return !pattern.includes('*') && compilePattern(a).test(pattern)
	})
}
