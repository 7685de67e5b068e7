// An agent's executions, newest first: a page from the executions route, then more on asking,
// the one going on kept up to date by the feed. Choosing one shows its events.

import type { Fold } from '../../client/src/runs.ts'
import { type Execution, get, RequestError, streamPath } from './api.ts'
import { h } from './dom.ts'
import { dateTime, duration } from './format.ts'
import type { Run } from './runs.ts'
import { type Shown, shownStatus, statusBadge } from './summary.ts'

const PAGE = 20

/** The execution a fold is in, as the executions route would give it. */
export function executionOf(fold: Fold): Execution {
	const running = fold.status === 'running'
	return {
		startId: fold.start,
		endId: running ? null : fold.lastId,
		status: fold.status,
		// A fold in an execution has seen its first event; only an empty one has no start.
		startedAt: new Date(fold.startedAt ?? Date.now()).toISOString(),
		endedAt: fold.endedAt === null ? null : new Date(fold.endedAt).toISOString(),
		message: fold.message,
		result: fold.result,
	}
}

export class Executions {
	readonly el: HTMLElement
	private readonly list: HTMLOListElement
	private readonly more: HTMLButtonElement
	private readonly note: HTMLElement
	private items: Execution[] = []
	private next: number | null = null

	constructor(
		private readonly stream: string,
		private readonly run: () => Run | undefined,
		private readonly selected: () => number | null,
		onChoose: (startId: number) => void,
	) {
		this.list = h('ol', { class: 'executions', 'aria-label': 'Executions, newest first' })
		this.more = h(
			'button',
			{ type: 'button', class: 'secondary', hidden: true },
			'Older executions',
		)
		this.note = h('p', { class: 'empty', hidden: true })
		this.el = h(
			'section',
			{ class: 'executions-section', 'aria-labelledby': 'executions-title' },
			h('h3', { id: 'executions-title' }, 'Executions'),
			this.list,
			this.note,
			this.more,
		)
		this.list.addEventListener('click', (e) => {
			const button = (e.target as Element).closest<HTMLButtonElement>('button[data-start]')
			if (button) onChoose(Number(button.dataset.start))
		})
		this.more.addEventListener('click', () => {
			this.load(this.next).catch(() => {})
		})
	}

	/** Reads the newest page (or the one before `before`); resolves with the executions shown. */
	async load(before: number | null = null): Promise<Execution[]> {
		const query = `?limit=${PAGE}${before === null ? '' : `&before=${before}`}`
		try {
			const page = await get<{ executions: Execution[]; next: number | null }>(
				streamPath(this.stream, `/executions${query}`),
			)
			this.items = before === null ? page.executions : [...this.items, ...page.executions]
			this.next = page.next
		} catch (error) {
			// A server without the executions route: the execution going on is all there is to show.
			if (!(error instanceof RequestError && error.status === 404)) throw error
			this.items = []
			this.next = null
		}
		this.draw()
		return this.shown()
	}

	/** Reads older pages until the execution starting at `startId` is listed (a pasted link). */
	async loadUntil(startId: number) {
		for (let pages = 0; !this.find(startId) && this.next !== null && pages < 50; pages++)
			await this.load(this.next)
	}

	/** What is listed: the route's executions, the newest as the feed has it now. */
	shown(): Execution[] {
		const run = this.run()
		if (!run) return this.items
		const current = executionOf(run.fold)
		const top = this.items[0]
		if (!top || current.startId > top.startId) return [current, ...this.items]
		if (current.startId === top.startId) return [current, ...this.items.slice(1)]
		return this.items
	}

	find(startId: number): Execution | undefined {
		return this.shown().find((x) => x.startId === startId)
	}

	draw(now = Date.now()) {
		const run = this.run()
		const chosen = this.selected()
		const items = this.shown()
		// Drawn again each second: the keyboard's place stays on the execution it was on.
		const focused = this.list.contains(document.activeElement)
			? (document.activeElement as HTMLElement).dataset.start
			: undefined
		this.list.replaceChildren(
			...items.map((x) => {
				const shown: Shown = run && x.startId === run.fold.start ? shownStatus(run, now) : x.status
				const started = x.startedAt ? Date.parse(x.startedAt) : null
				const ended = x.endedAt ? Date.parse(x.endedAt) : null
				const took = started === null ? '' : duration((ended ?? now) - started)
				return h(
					'li',
					{},
					h(
						'button',
						{
							type: 'button',
							class: `execution ${shown}`,
							'data-start': x.startId,
							'data-nav': '',
							'aria-pressed': String(x.startId === chosen),
						},
						h('span', { class: 'id' }, `#${x.startId}`),
						statusBadge(shown),
						h('span', { class: 'when' }, started === null ? '' : dateTime(started)),
						h('span', { class: 'time' }, took),
						h('span', { class: x.message ? 'message' : 'message none' }, x.message || 'no message'),
					),
				)
			}),
		)
		if (focused !== undefined)
			this.list.querySelector<HTMLElement>(`button[data-start="${focused}"]`)?.focus()
		this.note.textContent = items.length === 0 ? 'no executions yet' : ''
		this.note.hidden = items.length > 0
		this.more.hidden = this.next === null
	}
}
