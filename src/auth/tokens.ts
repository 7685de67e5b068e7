import { timingSafeEqual } from 'node:crypto'
import { isTokenText, type Scope, type TokenSpec } from '../config.ts'
import { compilePattern, matchesAny, type Pattern } from '../patterns.ts'

/** What a valid token grants: scopes on the streams its patterns match. */
export interface Grant {
	scopes: ReadonlySet<Scope>
	patterns: Pattern[]
	/** The patterns as written, to check what a ticket asks for against them. */
	streams: string[]
	/** A ticket's grant: read-only, and it cannot mint further tickets. */
	ticket?: boolean
	/** When the credential stops being valid (ms since the epoch); tokens do not expire. */
	expiresAt?: number
	/** Who holds it, for per-token limits: one name per token entry or ticket, never the secret. */
	holder: string
}

export const sha256 = (text: string) => Bun.SHA256.hash(text) as Uint8Array

/** `admin` is every scope. */
export const hasScope = (grant: Grant, scope: Scope) =>
	grant.scopes.has(scope) || grant.scopes.has('admin')

export const mayAccess = (grant: Grant, scope: Scope, stream: string) =>
	hasScope(grant, scope) && matchesAny(grant.patterns, stream)

/** Grants everything: the grant of `--no-auth`. */
export const OPEN_GRANT: Grant = {
	scopes: new Set(['admin']),
	patterns: [compilePattern('*')],
	streams: ['*'],
	holder: 'open',
}

/**
 * The table of known tokens, kept only as SHA-256 digests. A lookup hashes the presented token
 * and compares it with every entry in constant time, so neither the answer nor its timing says
 * how much of a guess was right. A token's holder name comes from its digest, so it stays the
 * same across a reload of the tokens file, whatever the entries around it do.
 */
interface TokenTable {
	lookup(token: string): Grant | undefined
	/** The holders of this table that `next` no longer knows, or knows with another grant. */
	endedIn(next: TokenTable): string[]
	/** What each holder may do, as text to compare. */
	readonly grants: ReadonlyMap<string, string>
}

export function createTokenTable(specs: TokenSpec[]): TokenTable {
	const entries = specs.map((spec) => {
		const digest =
			spec.token !== undefined ? sha256(spec.token) : Buffer.from(spec.sha256 as string, 'hex')
		return {
			digest,
			grant: {
				scopes: new Set(spec.scopes),
				patterns: spec.streams.map(compilePattern),
				streams: spec.streams,
				holder: `token ${Buffer.from(digest).toString('hex').slice(0, 16)}`,
			} as Grant,
		}
	})
	/** What each holder may do, as text to compare. */
	const grants = new Map<string, string>()
	for (const { grant } of entries)
		if (!grants.has(grant.holder))
			grants.set(grant.holder, `${[...grant.scopes].sort().join()} ${grant.streams.join(' ')}`)
	return {
		lookup(token: string): Grant | undefined {
			const digest = sha256(token)
			let found: Grant | undefined
			for (const entry of entries)
				if (timingSafeEqual(entry.digest, digest) && !found) found = entry.grant
			return found
		},
		endedIn(next) {
			return [...grants]
				.filter(([holder, grant]) => next.grants.get(holder) !== grant)
				.map(([holder]) => holder)
		},
		grants,
	}
}

/**
 * The token of an `Authorization` header: the scheme is case-insensitive and followed by one
 * space; the token is token68 as RFC 6750 defines it. Anything else is no token at all.
 */
export function parseBearer(header: string | null): string | undefined {
	if (!header || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ')
		return undefined
	const token = header.slice(7)
	return isTokenText(token) ? token : undefined
}
