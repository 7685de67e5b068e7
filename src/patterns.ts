/**
 * Stream patterns (`agents/*`, `workflows/wf-*`): `*` stands for any characters, everything else
 * is literal, and a pattern matches whole names. They come from tokens files, tickets, feed
 * `match` parameters and WebSocket subscriptions, so they are attacker-chosen text: a regular
 * expression built from one (`^.*.*.*Q$`) backtracks exponentially on a name that almost
 * matches. A pattern is matched instead by its literal parts, each found once, left to right.
 */

/** A pattern holds at most this many characters, and a request or token at most this many. */
export const MAX_PATTERN_LENGTH = 300
export const MAX_PATTERNS = 64

/** What a pattern may hold: the characters of stream names, `/` and `*`. */
const PATTERN_TEXT = /^[A-Za-z0-9._:*/-]+$/

/** A compiled pattern: its text and a test of whole names. */
export interface Pattern {
	readonly text: string
	test(name: string): boolean
}

/**
 * Compiles `pattern` into a matcher that runs in time linear in the name (each literal part is
 * searched for once, from where the previous one ended; leftmost is always a valid choice).
 *
 * @example
 * compilePattern('agents/team-a*').test('agents/team-a-42') // true
 */
export function compilePattern(text: string): Pattern {
	const parts = text.split('*')
	if (parts.length === 1) return { text, test: (name) => name === text }
	const head = parts[0]
	const tail = parts[parts.length - 1]
	const middle = parts.slice(1, -1).filter((p) => p !== '')
	const fixed = head.length + tail.length
	return {
		text,
		test(name) {
			if (name.length < fixed || !name.startsWith(head) || !name.endsWith(tail)) return false
			let at = head.length
			const end = name.length - tail.length
			for (const part of middle) {
				const found = name.indexOf(part, at)
				if (found < 0 || found + part.length > end) return false
				at = found + part.length
			}
			return true
		},
	}
}

/** Whether one of `patterns` matches `name`. */
export const matchesAny = (patterns: readonly Pattern[], name: string) => {
	for (const p of patterns) if (p.test(name)) return true
	return false
}

/** Why `value` is not a list of patterns, naming the entry at fault, or undefined when it is. */
export function patternListFault(
	value: unknown,
	{ min = 0 }: { min?: number } = {},
): { message: string; index?: number } | undefined {
	if (!Array.isArray(value) || value.length < min || value.length > MAX_PATTERNS)
		return {
			message: `a list of ${min} to ${MAX_PATTERNS} stream patterns such as "agents/*" is expected`,
		}
	for (let i = 0; i < value.length; i++) {
		const p = value[i]
		if (
			typeof p !== 'string' ||
			p.length === 0 ||
			p.length > MAX_PATTERN_LENGTH ||
			!PATTERN_TEXT.test(p)
		)
			return {
				message: `a stream pattern is 1 to ${MAX_PATTERN_LENGTH} characters of A-Z a-z 0-9 . _ : - / and *, such as "agents/*"`,
				index: i,
			}
	}
	return undefined
}
