// The runs list: agents or workflow runs (a tab each), newest activity first, a page at a time
// from the server, filtered by status and by the start of the name as it is typed, with the
// count of each status. The rows follow the feed: a row changes as its run does, and on the first
// page a run with a new event moves to the top. What the page cannot know from the feed alone (a
// run it has never seen, the counts) is asked again of the server, at most every 1.5 s.

import type { RunStatus } from '../states.ts'
import { type Counts, type Kind, list, RequestError, Unauthorized } from './api.ts'
import { byId, fill, h, setText } from './dom.ts'
import { ago, duration } from './format.ts'
import { type Route, replaceRoute, runHash } from './router.ts'
import { type Applied, adopt, nameOf, type Run, runs, streamOf } from './runs.ts'
import {
	messageOf,
	progressBar,
	progressOf,
	STALE_MS,
	shownStatus,
	statusBadge,
	timeOf,
} from './summary.ts'

export const PAGE_SIZE = 50
const REFRESH_MS = 1500
const STATUSES: RunStatus[] = ['running', 'complete', 'failed', 'cancelled']
/** What the server takes as the start of a name. */
const PREFIX = /^[A-Za-z0-9._:-]{0,128}$/

const view = byId('list-view', HTMLElement)
const tabs = {
	agents: byId('tab-agents', HTMLAnchorElement),
	workflows: byId('tab-workflows', HTMLAnchorElement),
}
const filter = byId('filter', HTMLInputElement)
const filterHint = byId('filter-hint', HTMLElement)
const statusGroup = byId('status-filter', HTMLElement)
const rowsList = byId('rows', HTMLUListElement)
const newer = byId('newer', HTMLButtonElement)
const older = byId('older', HTMLButtonElement)
const pageInfo = byId('page-info', HTMLElement)
const pager = byId('pager', HTMLElement)
const staleNote = byId('stale-note', HTMLElement)

const state = {
	kind: 'agents' as Kind,
	status: '' as RunStatus | '',
	q: '',
	/** The `page` of each page read so far, '' for the first: Newer goes back along it. */
	pages: [''],
	index: 0,
	rows: [] as string[],
	next: null as string | null,
	counts: null as Counts | null,
	loaded: false,
	error: '',
}
/** Each row's element, by stream, reused from one drawing to the next (focus stays on it). */
const rowElements = new Map<string, HTMLLIElement>()
let loading: AbortController | null = null
let refreshTimer: ReturnType<typeof setTimeout> | undefined
let painted = false

/** The status buttons, `''` being all of them. */
const chips = new Map<RunStatus | '', HTMLButtonElement>(
	(['', ...STATUSES] as const).map((status) => [
		status,
		h(
			'button',
			{ type: 'button', class: `chip ${status}`, 'data-status': status, 'aria-pressed': 'false' },
			status || 'all',
		),
	]),
)
statusGroup.append(...chips.values())

staleNote.textContent = `stale: running, no event for ${
	STALE_MS % 60_000 === 0 ? `${STALE_MS / 60_000} min` : duration(STALE_MS)
}`

/** The list's filter and place as a route, for the URL and for going back to it. */
export const listRoute = (): Route => ({
	view: 'list',
	kind: state.kind,
	status: state.status,
	q: state.q,
})

/**
 * Shows the list of `route`, reading its first page when what it shows changes (or when it has
 * not been read yet). Resolves with the feed's cursor when that page was read.
 */
export async function showList(
	route: Route & { view: 'list' },
	visible = true,
): Promise<number | null> {
	view.hidden = !visible
	const same =
		state.loaded &&
		route.kind === state.kind &&
		route.status === state.status &&
		route.q === state.q
	state.kind = route.kind
	state.status = route.status
	state.q = route.q
	if (filter.value !== route.q) filter.value = route.q
	drawControls()
	if (same) return null
	state.pages = ['']
	state.index = 0
	return load()
}

export const hideList = () => {
	view.hidden = true
}

/** Reads the current page again, keeping the place; resolves with the feed's cursor then. */
async function load(): Promise<number | null> {
	clearTimeout(refreshTimer)
	refreshTimer = undefined
	loading?.abort()
	const controller = new AbortController()
	loading = controller
	if (!PREFIX.test(state.q)) {
		state.error = 'A name holds only A-Z a-z 0-9 . _ : - (at most 128)'
		state.rows = []
		state.next = null
		state.loaded = true
		draw()
		return null
	}
	try {
		const page = await list(
			state.kind,
			{
				limit: PAGE_SIZE,
				status: state.status,
				prefix: state.q,
				page: state.pages[state.index],
			},
			controller.signal,
		)
		if (loading !== controller) return null
		state.rows = page.rows.map((snapshot) => {
			adopt(snapshot)
			return streamOf(snapshot)
		})
		state.next = page.next
		state.counts = page.counts ?? null
		state.error = ''
		state.loaded = true
		draw()
		return page.cursor
	} catch (error) {
		if (loading !== controller || error instanceof Unauthorized) return null
		if ((error as Error).name === 'AbortError') return null
		if (error instanceof RequestError && error.status === 400) {
			state.error = error.message
			state.rows = []
			draw()
			return null
		}
		throw error
	} finally {
		if (loading === controller) loading = null
	}
}

/** Reads the page again soon, once for however many events ask it to. */
function refreshSoon() {
	if (refreshTimer !== undefined || !state.loaded) return
	refreshTimer = setTimeout(() => {
		refreshTimer = undefined
		load().catch(() => {})
	}, REFRESH_MS)
}

/** Reads everything again: after the feed said events were pruned, or when it came back. */
export function reload() {
	if (state.loaded) load().catch(() => {})
}

const matches = (stream: string) => {
	const run = runs.get(stream)
	return (
		stream.startsWith(`${state.kind}/${state.q}`) &&
		(state.status === '' || run?.fold.status === state.status)
	)
}

/**
 * A feed event folded into the page's runs: its row changes; on the first page a run with a new
 * event comes first. `applied` is undefined for a run the page could not fold (never seen), null
 * for an event it had already.
 */
export function onEvent(stream: string, applied: Applied | undefined | null) {
	if (!stream.startsWith(`${state.kind}/`) || !state.loaded || applied === null) return
	if (applied === undefined || applied.statusChanged) refreshSoon()
	if (applied === undefined) return
	const at = state.rows.indexOf(stream)
	if (state.index === 0 && matches(stream)) {
		if (at !== 0) {
			if (at > 0) state.rows.splice(at, 1)
			state.rows.unshift(stream)
		}
	} else if (at >= 0 && state.index === 0 && !matches(stream)) {
		// Out of the filter now (a status filter); the refresh soon says where it went.
		state.rows.splice(at, 1)
	}
	scheduleDraw()
}

let drawPending = false
function scheduleDraw() {
	if (drawPending) return
	drawPending = true
	requestAnimationFrame(() => {
		drawPending = false
		draw()
	})
}

function drawControls() {
	for (const kind of ['agents', 'workflows'] as const) {
		const tab = tabs[kind]
		tab.href = `#/${kind}`
		if (kind === state.kind) tab.setAttribute('aria-current', 'page')
		else tab.removeAttribute('aria-current')
	}
	filter.setAttribute(
		'aria-label',
		`Filter ${state.kind === 'agents' ? 'agents' : 'workflow runs'} by the start of the name`,
	)
	const counts = state.counts
	const total = counts ? STATUSES.reduce((sum, s) => sum + counts[s], 0) : null
	// Changed in place, not made again: the keyboard's focus stays on the button it is on.
	for (const [status, button] of chips) {
		const count = status === '' ? total : counts ? counts[status] : null
		button.setAttribute('aria-pressed', String(state.status === status))
		const shown = button.querySelector('.count')
		if (count === null) shown?.remove()
		else if (shown) setText(shown, count.toLocaleString('en'))
		else button.append(' ', h('span', { class: 'count' }, count.toLocaleString('en')))
	}
}

/** The row of a run: name, status, bar, time, latest message; a link to its own view. */
function drawRow(li: HTMLLIElement, stream: string, now: number) {
	const run = runs.get(stream)
	if (!run) return
	const shown = shownStatus(run, now)
	const name = nameOf(stream)
	const time = timeOf(run, now)
	const message = messageOf(run.fold)
	let a = li.firstElementChild
	if (!(a instanceof HTMLAnchorElement)) {
		a = h('a', { class: 'row', href: runHash(stream), 'data-stream': stream, 'data-nav': '' })
		li.replaceChildren(a)
	}
	const link = a as HTMLAnchorElement
	const key = `${run.fold.lastId}|${shown}|${message}`
	if (link.dataset.key !== key) {
		link.dataset.key = key
		link.className = `row ${shown}`
		link.replaceChildren(
			h('span', { class: 'name' }, name),
			statusBadge(shown),
			progressBar(progressOf(run.fold), shown, `${name} progress`),
			h('span', { class: 'time', title: time.title }, time.text),
			h('span', { class: message ? 'message' : 'message none' }, message || 'no message'),
		)
	}
	drawTime(link, run, now)
}

function drawTime(link: HTMLElement, run: Run, now: number) {
	const el = link.querySelector('.time')
	if (!el) return
	const time = timeOf(run, now)
	const shown = shownStatus(run, now)
	const silent =
		shown === 'stale' && run.fold.updatedAt !== null
			? ` · last event ${ago(run.fold.updatedAt, now)}`
			: ''
	setText(el, time.text + silent)
	if (el.getAttribute('title') !== time.title) el.setAttribute('title', time.title)
}

function draw() {
	const focused = document.activeElement instanceof HTMLElement ? document.activeElement : null
	const focusedStream = focused?.closest<HTMLElement>('a.row')?.dataset.stream
	drawControls()
	setText(filterHint, state.error)
	const now = Date.now()
	const shown = state.rows.filter((s) => runs.has(s))
	const keep = new Set(shown)
	for (const [stream, li] of rowElements)
		if (!keep.has(stream)) {
			li.remove()
			rowElements.delete(stream)
		}
	if (shown.length === 0) {
		const what = state.kind === 'agents' ? 'agents' : 'workflow runs'
		const filtered = state.q !== '' || state.status !== ''
		fill(rowsList, h('li', { class: 'empty' }, filtered ? `no ${what} match` : `no ${what} yet`))
	} else {
		for (const child of [...rowsList.children])
			if (!(child instanceof HTMLLIElement && child.dataset.stream)) child.remove()
		let before: ChildNode | null = rowsList.firstChild
		for (const stream of shown) {
			let li = rowElements.get(stream)
			if (!li) {
				li = h('li', { 'data-stream': stream })
				rowElements.set(stream, li)
			}
			drawRow(li, stream, now)
			if (li !== before) rowsList.insertBefore(li, before)
			else before = before.nextSibling
		}
	}
	newer.disabled = state.index === 0
	older.disabled = state.next === null
	pager.hidden = state.index === 0 && state.next === null
	pageInfo.textContent = `page ${state.index + 1}`
	if (focusedStream && document.activeElement !== focused)
		rowElements
			.get(focusedStream)
			?.querySelector<HTMLElement>('a.row')
			?.focus({ preventScroll: true })
	if (!painted && shown.length > 0) {
		painted = true
		requestAnimationFrame(() => performance.mark('cortex-first-row'))
	}
}

/** Each second: times go on, and a run that has gone quiet turns stale. */
export function tick(now = Date.now()) {
	if (view.hidden) return
	for (const [stream, li] of rowElements) {
		const run = runs.get(stream)
		const link = li.firstElementChild
		if (!run || !(link instanceof HTMLElement)) continue
		if (!link.querySelector(`.status.${shownStatus(run, now)}`)) drawRow(li, stream, now)
		else drawTime(link, run, now)
	}
}

filter.addEventListener('input', () => {
	clearTimeout(typing)
	typing = setTimeout(() => {
		if (filter.value === state.q) return
		state.q = filter.value
		state.pages = ['']
		state.index = 0
		replaceRoute(listRoute())
		load().catch(() => {})
	}, 120)
})
let typing: ReturnType<typeof setTimeout> | undefined

statusGroup.addEventListener('click', (e) => {
	const button = (e.target as Element).closest<HTMLButtonElement>('button[data-status]')
	if (!button) return
	state.status = (button.dataset.status ?? '') as RunStatus | ''
	state.pages = ['']
	state.index = 0
	replaceRoute(listRoute())
	drawControls()
	load().catch(() => {})
})

older.addEventListener('click', () => {
	if (state.next === null) return
	state.pages[state.index + 1] = state.next
	state.index++
	load().catch(() => {})
})

newer.addEventListener('click', () => {
	if (state.index === 0) return
	state.index--
	load().catch(() => {})
})

/** The first row's link, for Enter in the filter. */
export const firstRow = () => rowsList.querySelector<HTMLAnchorElement>('a.row')
export const filterInput = filter
