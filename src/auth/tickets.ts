import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
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
 * A ticket as the server writes one: unpadded base64url claims, and the 32-byte HMAC in exactly
 * 43 unpadded base64url characters. Decoders take other spellings of the same bytes (padding,
 * the other alphabet, stray characters, other values of the last character's unused bits), so
 * the text is checked before anything is decoded, and the signature is compared as text.
 */
const TICKET_TEXT = /^ct1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/

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
			// Whole seconds, rounded up: a ticket lives at least the ttl asked for, never less.
			const expires = Math.ceil(now / 1000) + ttlSeconds
			const payload = b64(JSON.stringify({ s: streams, e: expires } satisfies Claims))
			return {
				ticket: `${TICKET_PREFIX}${payload}.${b64(sign(payload))}`,
				expiresAt: new Date(expires * 1000).toISOString(),
			}
		},

		/** The grant of a valid ticket; undefined for a tampered, malformed or expired one. */
		verify(ticket: string, now = Date.now()): Grant | undefined {
			if (!TICKET_TEXT.test(ticket)) return undefined
			const dot = ticket.lastIndexOf('.')
			const payload = ticket.slice(TICKET_PREFIX.length, dot)
			const given = Buffer.from(ticket.slice(dot + 1))
			if (!timingSafeEqual(given, Buffer.from(b64(sign(payload))))) return undefined
			let claims: Claims
			try {
				claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
			} catch {
				return undefined
			}
			if (
				typeof claims?.e !== 'number' ||
				!(claims.e * 1000 > now) ||
				patternListFault(claims.s, { min: 1 })
			)
				return undefined
			return {
				scopes: new Set(['read']),
				patterns: claims.s.map(compilePattern),
				streams: claims.s,
				ticket: true,
				expiresAt: claims.e * 1000,
				// The ticket's own identity, for its limits: one text per ticket now, so its digest.
				holder: `ticket ${createHash('sha256').update(ticket).digest('hex').slice(0, 32)}`,
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
