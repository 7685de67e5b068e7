/**
 * Where JSON text stops being JSON: JSON.parse says what was wrong but not where, and its
 * message quotes the text around the fault, which in a tokens file is a secret. This scans the
 * text once, with a stack of its own (no recursion, so any nesting is fine), and returns the
 * line and column (both from 1) of the first character that cannot be JSON, or undefined when
 * the whole text is.
 *
 * @example
 * jsonErrorAt('[\n  {"a": 1,}\n]') // { line: 2, column: 11 }
 */
export function jsonErrorAt(text: string): { line: number; column: number } | undefined {
	let i = 0
	const stack: string[] = []
	const skipSpace = () => {
		while (
			i < text.length &&
			(text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')
		)
			i++
	}
	const digits = () => {
		const from = i
		while (i < text.length && text[i] >= '0' && text[i] <= '9') i++
		return i > from
	}
	const string = () => {
		i++
		while (i < text.length) {
			const c = text[i]
			if (c === '"') {
				i++
				return true
			}
			if (c < ' ') return false
			if (c === '\\') {
				const e = text[i + 1]
				if (e === 'u') {
					if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return false
					i += 6
				} else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2
				else return false
			} else i++
		}
		return false
	}
	const number = () => {
		if (text[i] === '-') i++
		if (text[i] === '0') i++
		else if (!digits()) return false
		if (text[i] === '.') {
			i++
			if (!digits()) return false
		}
		if (text[i] === 'e' || text[i] === 'E') {
			i++
			if (text[i] === '+' || text[i] === '-') i++
			if (!digits()) return false
		}
		return true
	}
	const literal = () => {
		for (const word of ['true', 'false', 'null'])
			if (text.startsWith(word, i)) {
				i += word.length
				return true
			}
		return false
	}
	let expect: 'value' | 'key' | 'colon' | 'after' = 'value'
	for (;;) {
		skipSpace()
		const c = text[i]
		if (expect === 'value') {
			if (c === '{' || c === '[') {
				stack.push(c)
				i++
				skipSpace()
				if (text[i] === (c === '{' ? '}' : ']')) {
					stack.pop()
					i++
					expect = 'after'
				} else expect = c === '{' ? 'key' : 'value'
				continue
			}
			// A failed string or number leaves `i` on the character at fault.
			if (c === '"' ? string() : c === '-' || (c >= '0' && c <= '9') ? number() : literal()) {
				expect = 'after'
				continue
			}
		} else if (expect === 'key') {
			if (c === '"' && string()) {
				expect = 'colon'
				continue
			}
		} else if (expect === 'colon') {
			if (c === ':') {
				i++
				expect = 'value'
				continue
			}
		} else {
			const top = stack[stack.length - 1]
			if (top === undefined) {
				if (i === text.length) return undefined
			} else if (c === ',') {
				i++
				expect = top === '{' ? 'key' : 'value'
				continue
			} else if (c === (top === '{' ? '}' : ']')) {
				stack.pop()
				i++
				continue
			}
		}
		return position(text, i)
	}
}

function position(text: string, at: number) {
	let line = 1
	let start = 0
	for (let k = text.indexOf('\n'); k >= 0 && k < at; k = text.indexOf('\n', k + 1)) {
		line++
		start = k + 1
	}
	return { line, column: at - start + 1 }
}
