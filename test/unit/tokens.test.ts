import { describe, expect, it } from 'bun:test'
import fc from 'fast-check'
import { createGuard } from '../../src/auth/guard.ts'
import { createTokenTable, type Grant, mayAccess, parseBearer } from '../../src/auth/tokens.ts'
import { ForbiddenError, UnauthorizedError } from '../../src/errors.ts'
import { compilePattern, patternListFault } from '../../src/patterns.ts'

describe('bearer header', () => {
	it('accepts the scheme in any case followed by one space and a token68', () => {
		expect(parseBearer('Bearer abc.DEF-123_~+/==')).toBe('abc.DEF-123_~+/==')
		expect(parseBearer('bearer x')).toBe('x')
		for (const bad of [
			null,
			'',
			'Bearer',
			'Bearer ',
			'Bearer  x',
			'Bearerx',
			'Basic x',
			'Bearer a b',
			'Bearer a=b',
			'Bearer ä',
		])
			expect(parseBearer(bad)).toBeUndefined()
	})
})

describe('stream patterns', () => {
	it('match whole names, * standing for any characters and everything else literal', () => {
		const p = compilePattern('workflows/wf-*')
		expect(p.test('workflows/wf-1')).toBe(true)
		expect(p.test('workflows/wf-')).toBe(true)
		expect(p.test('workflows/x-wf-1')).toBe(false)
		expect(p.test('agents/wf-1')).toBe(false)
		expect(compilePattern('agents/a.b').test('agents/aXb')).toBe(false)
		expect(compilePattern('*').test('agents/anything')).toBe(true)
		expect(compilePattern('agents/*:prod').test('agents/x:prod')).toBe(true)
		expect(compilePattern('a*a').test('a')).toBe(false)
		expect(compilePattern('a*b*a').test('ab')).toBe(false)
		expect(compilePattern('a*b*a').test('abba')).toBe(true)
	})

	it('agree with a whole-name regular expression on any pattern and name', () => {
		const text = (chars: string[], max: number) =>
			fc.array(fc.constantFrom(...chars), { maxLength: max }).map((c) => c.join(''))
		fc.assert(
			fc.property(text(['a', 'b', '*', '/'], 8), text(['a', 'b', '/'], 10), (pattern, name) => {
				const regex = new RegExp(`^${pattern.split('*').join('.*')}$`)
				expect(compilePattern(pattern).test(name)).toBe(regex.test(name))
			}),
			{ numRuns: 5000 },
		)
	})

	it('take time linear in the name, however many stars a pattern has', () => {
		// As a regular expression this pattern takes seconds against one name of 138 characters.
		const worst = compilePattern(`${'*'.repeat(299)}Q`)
		const name = `agents/${'a'.repeat(128)}`
		const t0 = performance.now()
		for (let i = 0; i < 10_000; i++) worst.test(name)
		expect(performance.now() - t0).toBeLessThan(500)
	})

	it('are bounded in count, length and characters', () => {
		expect(patternListFault(['agents/*'])).toBeUndefined()
		const whole = (value: unknown, min = 0) => patternListFault(value, { min })?.index ?? 'list'
		expect(whole([], 1)).toBe('list')
		expect(whole(Array(65).fill('a'))).toBe('list')
		expect(whole('agents/*')).toBe('list')
		expect(patternListFault(['agents/*', 'x'.repeat(301)])).toMatchObject({ index: 1 })
		expect(patternListFault(['agents/a b'])).toMatchObject({ index: 0 })
		expect(patternListFault(['agents/*', 3])).toMatchObject({ index: 1 })
	})
})

describe('token table', () => {
	const hashed = new Bun.CryptoHasher('sha256').update('s3cret').digest('hex')
	const table = createTokenTable([
		{ token: 'plain', scopes: ['read'], streams: ['agents/*'] },
		{ sha256: hashed, scopes: ['publish'], streams: ['workflows/*'] },
		{ token: 'root', scopes: ['admin'], streams: ['*'] },
	])

	it('finds plain and sha256 tokens, and nothing for near misses', () => {
		expect(table.lookup('plain')?.scopes).toEqual(new Set(['read']))
		expect(table.lookup('s3cret')?.scopes).toEqual(new Set(['publish']))
		for (const miss of ['plai', 'plainx', 'PLAIN', hashed, ''])
			expect(table.lookup(miss)).toBeUndefined()
	})

	it('grants scopes on matching streams, admin granting every scope', () => {
		const plain = table.lookup('plain') as Grant
		expect(mayAccess(plain, 'read', 'agents/a')).toBe(true)
		expect(mayAccess(plain, 'publish', 'agents/a')).toBe(false)
		expect(mayAccess(plain, 'read', 'workflows/a')).toBe(false)
		const root = table.lookup('root') as Grant
		expect(mayAccess(root, 'publish', 'workflows/x')).toBe(true)
		expect(mayAccess(root, 'admin', 'agents/y')).toBe(true)
	})
})

describe('guard', () => {
	const guard = createGuard({
		noAuth: false,
		tokens: [{ token: 'reader', scopes: ['read'], streams: ['agents/*'] }],
	})

	it('answers 401 for no token and 403 for a missing grant', () => {
		expect(() => guard.authenticate({ authorization: null })).toThrow(UnauthorizedError)
		expect(() => guard.authenticate({ authorization: 'Bearer nope' })).toThrow(UnauthorizedError)
		// A header that is present but malformed is not overridden by the query token.
		expect(() =>
			guard.authenticate({ authorization: 'Token reader', queryToken: 'reader' }),
		).toThrow(UnauthorizedError)
		const grant = guard.authenticate({ authorization: null, queryToken: 'reader' })
		expect(() => guard.authorize(grant, 'publish', 'agents/a')).toThrow(ForbiddenError)
		expect(() => guard.authorize(grant, 'read', 'agents/a')).not.toThrow()
	})

	it('never repeats the token in an error message', () => {
		try {
			guard.authenticate({ authorization: 'Bearer secret-guess' })
		} catch (error) {
			expect((error as Error).message).not.toContain('secret-guess')
		}
	})
})

describe('token comparison timing', () => {
	it('takes as long for a near miss as for a token that shares nothing', () => {
		const secret = 'k'.repeat(64)
		const table = createTokenTable([{ token: secret, scopes: ['read'], streams: ['*'] }])
		const nearMiss = `${'k'.repeat(63)}x`
		const farMiss = 'z'.repeat(64)
		const time = (token: string) => {
			const t0 = Bun.nanoseconds()
			for (let i = 0; i < 200; i++) table.lookup(token)
			return Bun.nanoseconds() - t0
		}
		const near: number[] = []
		const far: number[] = []
		// Interleaved batches, medians: what the machine does meanwhile falls on both alike.
		for (let round = 0; round < 200; round++) {
			near.push(time(nearMiss))
			far.push(time(farMiss))
		}
		const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]
		const ratio = median(near) / median(far)
		expect(ratio).toBeGreaterThan(0.8)
		expect(ratio).toBeLessThan(1.25)
	})
})
