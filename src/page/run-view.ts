// A run's own view. At the top, what the list says of it, and a Cancel button when the token
// may publish to it. Under it, for an agent its executions (newest first) and the events of the
// one chosen; for a workflow run its steps on a timeline and its events. Opening it reads its
// snapshot and its history from the events route; from then on the page's one feed keeps it
// going (its events that arrive while the history is read wait, then go in once each, by id).

import {
	get,
	type Kind,
	mayCancel,
	RequestError,
	requestCancel,
	type Snapshot,
	type StoredEvent,
	streamPath,
	Unauthorized,
} from './api.ts'
import { byId, fill, h, setText } from './dom.ts'
import { Executions } from './executions.ts'
import type { FeedEvent } from './feed.ts'
import { ago, dateTime } from './format.ts'
import { EventLog, type LogEvent } from './log.ts'
import { type Route, replaceRoute } from './router.ts'
import { adopt, applyEvent, type Run, runs } from './runs.ts'
import { messageOf, progressBar, progressOf, shownStatus, statusBadge, timeOf } from './summary.ts'
import { noteStepEvent, type StepTimes, timeline } from './timeline.ts'

/** A history longer than this is read from its last this-many events. */
const MAX_HISTORY = 20_000
const PAGE = 1000

const view = byId('run-view', HTMLElement)
const back = byId('back', HTMLAnchorElement)
const title = byId('run-title', HTMLElement)
const summary = byId('run-summary', HTMLElement)
const cancelButton = byId('cancel', HTMLButtonElement)
const cancelNote = byId('cancel-note', HTMLElement)
const body = byId('run-body', HTMLElement)

interface Open {
	stream: string
	kind: Kind
	name: string
	log: EventLog
	/** Feed events that came while the history was read, and when; null once it has been. */
	waiting: Array<FeedEvent & { at: number }> | null
	/** Steps' times, for a workflow's timeline. */
	times: Map<string, StepTimes>
	timelineSlot: HTMLElement
	executions: Executions | null
	/** The chosen execution's first id (agents). */
	selected: number | null
	/** No execution was chosen: the newest is shown, and the next one when it starts. */
	followLatest: boolean
	/** Stops reading when another run (or execution) is opened. */
	abort: AbortController
}

let open: Open | null = null

const runOf = (o: Open) => runs.get(o.stream)

/** Shows the run of `route`, reading it unless it is the one already open. */
export function showRun(route: Route & { view: 'run' }, listHash: string) {
	back.href = listHash
	back.textContent = `← ${route.kind === 'agents' ? 'Agents' : 'Workflow runs'}`
	const stream = `${route.kind}/${route.name}`
	if (open?.stream === stream) {
		view.hidden = false
		if (open.kind === 'agents' && route.execution !== null && route.execution !== open.selected)
			choose(open, route.execution, false)
		return
	}
	close()
	view.hidden = false
	const log = new EventLog(`Events of ${route.name}`)
	const o: Open = {
		stream,
		kind: route.kind,
		name: route.name,
		log,
		waiting: [],
		times: new Map(),
		timelineSlot: h('div', { class: 'timeline-slot' }),
		executions: null,
		selected: route.execution,
		followLatest: route.execution === null,
		abort: new AbortController(),
	}
	open = o
	setText(title, route.name)
	title.dataset.kind = route.kind === 'agents' ? 'agent' : 'workflow run'
	fill(summary)
	setText(cancelNote, '')
	cancelButton.hidden = true
	if (route.kind === 'agents') {
		o.executions = new Executions(
			stream,
			() => runOf(o),
			() => o.selected,
			(startId) => choose(o, startId, true),
		)
		fill(body, o.executions.el, h('h3', {}, 'Events of the execution'), log.el)
	} else fill(body, h('h3', {}, 'Steps'), o.timelineSlot, h('h3', {}, 'Events'), log.el)
	log.busy(true)
	load(o).catch((error) => {
		if (error instanceof Unauthorized || stopped(error)) return
		log.busy(false)
		if (error instanceof RequestError && error.status === 404)
			fill(
				body,
				h(
					'p',
					{ class: 'empty' },
					`No ${route.kind === 'agents' ? 'agent' : 'workflow run'} named "${route.name}" that this token may read.`,
				),
			)
		else log.setNote(`Could not read the run: ${(error as Error).message}`)
	})
}

/** A read given up because another run or execution was opened. */
const stopped = (error: unknown) => (error as Error).name === 'AbortError'

export function close() {
	open?.abort.abort()
	open = null
	view.hidden = true
}

async function load(o: Open) {
	// Aborted when another execution is chosen first: that one's reading takes over.
	const { signal } = o.abort
	const snapshot = await get<Snapshot>(streamPath(o.stream), signal)
	if (open !== o) return
	adopt(snapshot)
	draw()
	if (o.executions) {
		await o.executions.load()
		if (o.selected !== null) await o.executions.loadUntil(o.selected)
		if (open !== o || signal.aborted) return
		const newest = o.executions.shown()[0]
		if (o.selected === null || !o.executions.find(o.selected)) {
			o.selected = newest?.startId ?? null
			o.followLatest = o.followLatest || o.selected === null
		}
		o.executions.draw()
	}
	await readHistory(o)
}

/** Reads the events of the run (a workflow) or of the chosen execution (an agent) into the log. */
async function readHistory(o: Open) {
	const run = runOf(o)
	const signal = o.abort.signal
	let from = 1
	let to: number | null = null
	if (o.executions) {
		const chosen = o.selected === null ? undefined : o.executions.find(o.selected)
		if (!chosen) {
			o.log.busy(false)
			return flushWaiting(o)
		}
		from = chosen.startId
		to = chosen.endId
	}
	const last = to ?? run?.fold.lastId ?? from
	let after = from - 1
	let note = ''
	if (last - after > MAX_HISTORY) {
		after = last - MAX_HISTORY
		note = `The first ${(after - from + 1).toLocaleString('en')} events are not shown here; the events route has them.`
	}
	o.log.setNote(note)
	let cancelId: number | null = null
	for (;;) {
		const page = await get<{ events: StoredEvent[]; next: number | null }>(
			streamPath(o.stream, `/events?after=${after}&limit=${PAGE}`),
			signal,
		)
		if (signal.aborted) return
		const events: LogEvent[] = []
		for (const e of page.events) {
			if (to !== null && e.id > to) break
			const at = Date.parse(e.createdAt)
			events.push({ id: e.id, event: e.event, data: e.data, at })
			noteStepEvent(o.times, e.event, e.data, at)
			if (e.event === 'cancel_requested') cancelId = e.id
			else if (['complete', 'failed', 'cancelled'].includes(e.event)) cancelId = null
		}
		o.log.add(events, true)
		const end = events.at(-1)?.id ?? after
		if (page.next === null || (to !== null && end >= to)) break
		after = page.next
	}
	// A cancel request in the execution going on, made before the page opened it.
	if (run && cancelId !== null && run.fold.status === 'running' && cancelId >= run.fold.start)
		run.cancelRequested ??= cancelId
	o.log.busy(false)
	flushWaiting(o)
	draw()
}

function flushWaiting(o: Open) {
	const waiting = o.waiting ?? []
	o.waiting = null
	for (const e of waiting) live(o, e, e.at)
}

/** Chooses an execution of the agent: its events replace the log. */
function choose(o: Open, startId: number, byReader: boolean) {
	if (o.selected === startId && !byReader) return
	o.selected = startId
	if (byReader) {
		const newest = o.executions?.shown()[0]
		o.followLatest = newest?.startId === startId
		replaceRoute({
			view: 'run',
			kind: 'agents',
			name: o.name,
			execution: o.followLatest ? null : startId,
		})
	}
	o.abort.abort()
	o.abort = new AbortController()
	o.log.clear()
	o.log.busy(true)
	o.times.clear()
	o.waiting = []
	o.executions?.draw()
	readHistory(o).catch((error) => {
		if (error instanceof Unauthorized || stopped(error)) return
		o.log.busy(false)
		o.log.setNote(`Could not read the events: ${(error as Error).message}`)
	})
}

/** A feed event, for the open run if it is its stream. */
export function onEvent(e: FeedEvent, at: number) {
	const o = open
	if (!o || e.stream !== o.stream) return
	if (o.waiting) {
		o.waiting.push({ ...e, at })
		return
	}
	live(o, e, at)
}

function live(o: Open, e: FeedEvent, at: number) {
	// Folded already by the page (a no-op then), unless it came while the snapshot was read.
	applyEvent(e.stream, e.id, e.event, e.data, at)
	const run = runOf(o)
	if (o.executions && run) {
		// A new execution began: follow it if the reader did not choose an older one.
		if (run.fold.start === e.id && o.selected !== e.id) {
			if (!o.followLatest) return scheduleDraw()
			o.selected = e.id
			o.log.clear()
		} else if (o.selected !== run.fold.start) return scheduleDraw()
	}
	noteStepEvent(o.times, e.event, e.data, at)
	o.log.add([{ id: e.id, event: e.event, data: e.data, at }])
	// A request to stop is drawn at once: the end it asks for may come a few milliseconds later,
	// and 'cancel requested' must not be skipped by drawing both in one frame.
	if (e.event === 'cancel_requested') draw()
	else scheduleDraw()
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

/** Draws the summary, the Cancel button, and the executions or the timeline. */
function draw(now = Date.now()) {
	const o = open
	if (!o) return
	const run = runOf(o)
	if (!run) return
	const shown = shownStatus(run, now)
	const time = timeOf(run, now)
	const message = messageOf(run.fold)
	const progress = progressOf(run.fold)
	const { startedAt, endedAt } = run.fold
	summary.className = `run-summary ${shown}`
	fill(
		summary,
		statusBadge(shown),
		progressBar(progress, shown, `${o.name} progress`),
		h('span', { class: 'percent' }, progress === null ? '' : `${Math.floor(progress * 100)}%`),
		h(
			'span',
			{ class: 'time', title: time.title },
			time.text,
			startedAt === null ? '' : ` · started ${dateTime(startedAt)}`,
			endedAt === null ? '' : ` · ended ${dateTime(endedAt)}`,
			run.fold.updatedAt === null || run.fold.status !== 'running'
				? ''
				: ` · last event ${ago(run.fold.updatedAt, now)}`,
		),
		h('span', { class: message ? 'message' : 'message none' }, message || 'no message'),
	)
	drawCancel(o, run)
	o.executions?.draw(now)
	if (o.kind === 'workflows') o.timelineSlot.replaceChildren(timeline(run.fold, o.times, now))
}

function drawCancel(o: Open, run: Run) {
	const running = run.fold.status === 'running'
	cancelButton.hidden = !running || !mayCancel(o.stream)
	const requested = running && run.cancelRequested !== null
	cancelButton.disabled = requested || cancelButton.dataset.sending === 'true'
	setText(cancelButton, requested ? 'cancel requested' : 'Cancel')
	if (requested) setText(cancelNote, 'cancel requested: waiting for the runner to stop')
	else if (!running && cancelNote.dataset.kept !== 'true') setText(cancelNote, '')
}

cancelButton.addEventListener('click', async () => {
	const o = open
	if (!o) return
	cancelButton.dataset.sending = 'true'
	cancelButton.disabled = true
	cancelNote.dataset.kept = ''
	try {
		const id = await requestCancel(o.stream, 'cancelled from the dashboard')
		const run = runOf(o)
		if (run && run.fold.status === 'running') run.cancelRequested ??= id
	} catch (error) {
		if (error instanceof Unauthorized) return
		cancelNote.dataset.kept = 'true'
		setText(
			cancelNote,
			error instanceof RequestError && error.code === 'not_running'
				? 'It is not running any more.'
				: `Cancel failed: ${(error as Error).message}`,
		)
	} finally {
		cancelButton.dataset.sending = ''
		if (open === o) draw()
	}
})

/** Each second: the times go on, and a run gone quiet turns stale. */
export function tick(now = Date.now()) {
	if (open && !view.hidden) draw(now)
}

/** After the feed said events were pruned: read the open run again. */
export function reload() {
	const o = open
	if (!o) return
	const route: Route = o.executions
		? { view: 'run', kind: 'agents', name: o.name, execution: o.followLatest ? null : o.selected }
		: { view: 'run', kind: 'workflows', name: o.name, execution: null }
	const listHash = back.getAttribute('href') ?? '#/'
	close()
	showRun(route, listHash)
}

export const isOpen = () => open !== null && !view.hidden
