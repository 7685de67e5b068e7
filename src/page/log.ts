// A run's event log: one line per event with its time, id, type and data, the data expanding to
// readable JSON. It follows new events while the reader is at its end; once they have scrolled
// up it stays where they are and a button says how many came since, and takes them to the end.
// Failures stand out. Each event is shown once, by id, whether it came from the events route or
// the feed.

import { h } from './dom.ts'
import { clock, iso } from './format.ts'
import { oneLine, readableJson } from './json.ts'

export interface LogEvent {
	id: number
	event: string
	data: Record<string, unknown>
	/** When it was stored (the events route) or arrived (the feed), Unix ms. */
	at: number
}

/** The events kept on the page; older ones are taken off the top. */
const MAX_SHOWN = 5000
/** From this close to the end (in pixels), the reader is "at the end" and the log follows. */
const AT_END = 24

const TONE: Record<string, string> = {
	failed: 'bad',
	step_failed: 'bad',
	cancelled: 'warn',
	cancel_requested: 'warn',
	complete: 'good',
	step_complete: 'good',
}

export class EventLog {
	/** The section to put on the page. */
	readonly el: HTMLElement
	/** The highest id shown; an event at or below it is not shown again. */
	lastId = 0
	private readonly box: HTMLOListElement
	private readonly newEvents: HTMLButtonElement
	private readonly note: HTMLElement
	private unseen = 0
	private dropped = 0

	constructor(label: string) {
		this.box = h('ol', { class: 'log', role: 'log', 'aria-label': label, tabindex: 0 })
		this.newEvents = h('button', { type: 'button', class: 'new-events', hidden: true })
		this.note = h('p', { class: 'log-note', hidden: true })
		this.el = h(
			'section',
			{ class: 'events', 'aria-label': label },
			this.note,
			this.box,
			this.newEvents,
		)
		this.box.addEventListener('scroll', () => {
			if (this.atEnd()) this.seen()
		})
		this.newEvents.addEventListener('click', () => this.toEnd())
		// The readable JSON is made when a line is opened, not for every line.
		this.box.addEventListener(
			'toggle',
			(e) => {
				const details = e.target
				if (!(details instanceof HTMLDetailsElement) || !details.open) return
				if (details.querySelector('pre')) return
				const data = (details as HTMLDetailsElement & { eventData?: unknown }).eventData
				details.append(h('pre', { class: 'json' }, readableJson(data)))
			},
			true,
		)
	}

	private atEnd() {
		const box = this.box
		return box.scrollHeight - box.scrollTop - box.clientHeight <= AT_END
	}

	private seen() {
		this.unseen = 0
		this.newEvents.hidden = true
	}

	/** Scrolls to the last event and forgets the count of new ones. */
	toEnd() {
		this.box.scrollTop = this.box.scrollHeight
		this.seen()
	}

	/** Empties the log, for another execution. */
	clear() {
		this.box.replaceChildren()
		this.lastId = 0
		this.dropped = 0
		this.seen()
		this.setNote('')
	}

	/** While the history is read, an empty log says so rather than 'no events yet'. */
	busy(reading: boolean) {
		this.box.setAttribute('aria-busy', String(reading))
	}

	/** A line above the log: what is not shown, or why. */
	setNote(text: string) {
		this.note.textContent = text
		this.note.hidden = text === ''
	}

	/**
	 * Adds the events after the last one shown. `follow`: the history just read, which always
	 * ends at the end; otherwise live events, followed only while the reader is at the end.
	 */
	add(events: LogEvent[], follow = false) {
		const fresh = events.filter((e) => e.id > this.lastId)
		if (fresh.length === 0) return
		const wasAtEnd = follow || this.atEnd()
		const lines = document.createDocumentFragment()
		for (const e of fresh) lines.append(this.line(e))
		this.lastId = fresh[fresh.length - 1].id
		this.box.append(lines)
		const over = this.box.childElementCount - MAX_SHOWN
		if (over > 0) {
			for (let i = 0; i < over; i++) this.box.firstElementChild?.remove()
			this.dropped += over
			this.setNote(
				`${this.dropped.toLocaleString('en')} earlier events are not shown here; the events route has them.`,
			)
		}
		if (wasAtEnd) this.toEnd()
		else {
			this.unseen += fresh.length
			this.newEvents.textContent = `${this.unseen} new event${this.unseen === 1 ? '' : 's'} ↓`
			this.newEvents.hidden = false
		}
	}

	private line(e: LogEvent) {
		const details = h(
			'details',
			{},
			h(
				'summary',
				{},
				h('time', { datetime: iso(e.at), title: iso(e.at) }, clock(e.at)),
				h('span', { class: 'id' }, `#${e.id}`),
				h('span', { class: 'type' }, e.event),
				h('code', { class: 'preview' }, oneLine(e.data)),
			),
		)
		;(details as HTMLDetailsElement & { eventData?: unknown }).eventData = e.data
		const tone = TONE[e.event]
		return h(
			'li',
			{ class: tone ? `event ${tone}` : 'event', 'data-id': e.id, 'data-type': e.event },
			details,
		)
	}
}
