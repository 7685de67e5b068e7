import { describe, expect, it } from 'bun:test'
import fc from 'fast-check'
import { jsonErrorAt } from '../../src/json-position.ts'

describe('jsonErrorAt', () => {
	it('points at the first character that cannot be JSON', () => {
		expect(jsonErrorAt('[\n  {"token": "s3cret", "scopes": ["read"],}\n]')).toEqual({
			line: 2,
			column: 42,
		})
		expect(jsonErrorAt('{"a": tru}')).toEqual({ line: 1, column: 7 })
		expect(jsonErrorAt('[1, 2')).toEqual({ line: 1, column: 6 })
		expect(jsonErrorAt('[1.e5]')).toEqual({ line: 1, column: 4 })
		expect(jsonErrorAt('"a\nb"')).toEqual({ line: 1, column: 3 })
		expect(jsonErrorAt('{"a" 1}')).toEqual({ line: 1, column: 6 })
		expect(jsonErrorAt('[] []')).toEqual({ line: 1, column: 4 })
		expect(jsonErrorAt('')).toEqual({ line: 1, column: 1 })
		expect(jsonErrorAt(' {"a": [1, -2.5e+3, "\\u00e9\\n", true, null, {}]} ')).toBeUndefined()
	})

	it('agrees with JSON.parse on what is JSON', () => {
		const piece = fc.constantFrom(
			...'{}[]:,"\\ \n-+.0123eEtruefalsnu'.split(''),
			'"a"',
			'true',
			'1',
		)
		fc.assert(
			fc.property(fc.array(piece, { maxLength: 24 }), (pieces) => {
				const text = pieces.join('')
				let parses = true
				try {
					JSON.parse(text)
				} catch {
					parses = false
				}
				expect([text, jsonErrorAt(text) === undefined]).toEqual([text, parses])
			}),
			{ numRuns: 20_000 },
		)
		// Valid documents of any shape, too.
		fc.assert(
			fc.property(fc.json(), (text) => {
				expect(jsonErrorAt(text)).toBeUndefined()
			}),
		)
	})

	it('takes any depth without recursion', () => {
		expect(jsonErrorAt(`${'['.repeat(200_000)}${']'.repeat(200_000)}`)).toBeUndefined()
		expect(jsonErrorAt(`${'['.repeat(200_000)}}`)).toEqual({ line: 1, column: 200_001 })
	})
})
