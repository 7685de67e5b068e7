// Building elements. Text goes in as text nodes and attributes through setAttribute, never
// through innerHTML: whatever a run's data holds is shown as written and never becomes markup.

/** The element of index.html with this id, which must be of this type. */
export function byId<T extends HTMLElement>(id: string, type: { new (): T; name: string }): T {
	const el = document.getElementById(id)
	if (!(el instanceof type)) throw new Error(`#${id} is not a ${type.name}`)
	return el
}

export type Child = Node | string | number | null | undefined | false
type Attributes = Record<string, string | number | boolean | null | undefined>

/**
 * An element: `h('a', { class: 'row', href: '#/agents/x' }, 'text', child)`. An attribute that
 * is `false`, `null` or `undefined` is left out; `true` is present and empty.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
	tag: K,
	attributes: Attributes = {},
	...children: Child[]
): HTMLElementTagNameMap[K] {
	const el = document.createElement(tag)
	for (const [name, value] of Object.entries(attributes))
		if (value !== false && value !== null && value !== undefined)
			el.setAttribute(name, value === true ? '' : String(value))
	append(el, children)
	return el
}

/** Appends each child that is not `null`, `undefined` or `false`, strings as text. */
export function append(el: Node, children: Child[]) {
	for (const child of children)
		if (child !== null && child !== undefined && child !== false)
			el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)))
}

/** Replaces all of `el`'s children. */
export function fill(el: Node, ...children: Child[]) {
	while (el.firstChild) el.removeChild(el.firstChild)
	append(el, children)
}

/** Sets the text of `el` when it differs (leaving a selection in it alone otherwise). */
export function setText(el: Node, text: string) {
	if (el.textContent !== text) el.textContent = text
}
