// The keyboard: `/` goes to the filter, the arrows move from row to row (or from execution to
// execution), Enter opens (rows are links, executions buttons), Escape goes back to the list.

/** The items the arrows move between: `[data-nav]` in the view showing. */
function navItems(): HTMLElement[] {
	return [...document.querySelectorAll<HTMLElement>('[data-nav]')].filter(
		(el) => el.offsetParent !== null,
	)
}

export interface KeyActions {
	/** The run view is showing. */
	inRun(): boolean
	/** Back from the run view to the list. */
	back(): void
	/** The list's filter, and going to the list when the run view shows. */
	filter: HTMLInputElement
	toList(): void
	/** The first row, which Enter in the filter opens. */
	firstRow(): HTMLElement | null
}

export function installKeys(actions: KeyActions) {
	document.addEventListener('keydown', (e) => {
		if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return
		const target = e.target instanceof HTMLElement ? e.target : null
		const inFilter = target === actions.filter
		const typing =
			target instanceof HTMLInputElement ||
			target instanceof HTMLTextAreaElement ||
			target?.isContentEditable === true
		if (document.getElementById('login')?.hidden === false) return

		if (e.key === '/' && !typing) {
			e.preventDefault()
			if (actions.inRun()) actions.toList()
			actions.filter.focus()
			actions.filter.select()
			return
		}
		if (e.key === 'Escape') {
			if (actions.inRun()) {
				e.preventDefault()
				actions.back()
			} else if (inFilter && actions.filter.value !== '') {
				e.preventDefault()
				actions.filter.value = ''
				actions.filter.dispatchEvent(new Event('input'))
			} else if (typing) target?.blur()
			return
		}
		if (e.key === 'Enter' && inFilter) {
			const first = actions.firstRow()
			if (first) {
				e.preventDefault()
				first.click()
			}
			return
		}
		if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return
		if (typing && !inFilter) return
		const items = navItems()
		if (items.length === 0) return
		const current = target?.closest<HTMLElement>('[data-nav]')
		// Inside a scrolling box that is not one of the items (the log), the arrows scroll it.
		if (!current && !inFilter && target && target !== document.body && !target.matches('h2')) return
		const at = current ? items.indexOf(current) : -1
		const next = e.key === 'ArrowDown' ? Math.min(items.length - 1, at + 1) : at <= 0 ? -1 : at - 1
		e.preventDefault()
		if (next < 0) {
			if (!actions.inRun()) actions.filter.focus()
			return
		}
		items[next]?.focus()
		items[next]?.scrollIntoView({ block: 'nearest' })
	})
}
