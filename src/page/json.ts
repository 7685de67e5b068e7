// Event data as readable JSON: indented, keys, strings, numbers and literals in their own
// colours. Built from text nodes, so a string in the data is never markup.

const TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(?:true|false|null)\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g

/** `value` as indented JSON in spans classed `key`, `string`, `number` and `literal`. */
export function readableJson(value: unknown): DocumentFragment {
	const text = JSON.stringify(value, null, 2) ?? String(value)
	const out = document.createDocumentFragment()
	let last = 0
	for (const match of text.matchAll(TOKEN)) {
		const at = match.index ?? 0
		if (at > last) out.append(text.slice(last, at))
		const span = document.createElement('span')
		const [whole, string, colon] = match
		if (string !== undefined && colon !== undefined) {
			span.className = 'key'
			span.textContent = string
			out.append(span, colon)
		} else {
			span.className = string !== undefined ? 'string' : /^[-\d]/.test(whole) ? 'number' : 'literal'
			span.textContent = whole
			out.append(span)
		}
		last = at + whole.length
	}
	if (last < text.length) out.append(text.slice(last))
	return out
}

/** One line of JSON, cut at `max` characters with an ellipsis: a log line's preview. */
export function oneLine(value: unknown, max = 160): string {
	const text = JSON.stringify(value) ?? String(value)
	return text.length > max ? `${text.slice(0, max - 1)}…` : text
}
