// What a run's summary says, the same in the list and in the run's own view: its status (stale
// included), a progress bar that agrees with its steps, its latest message and its time.

import type { Fold } from '../../client/src/runs.ts'
import { h } from './dom.ts'
import { dateTime, duration, percent } from './format.ts'
import { isAgent, type Run } from './runs.ts'

/** A running run with no event for this long is shown *stale*: 5 minutes, or `?stale=<seconds>`. */
export const STALE_MS = (() => {
	const seconds = Number(new URLSearchParams(location.search).get('stale'))
	return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 5 * 60_000
})()

/** A run's status as the page shows it: the API's, or `stale`. */
export type Shown = 'running' | 'complete' | 'failed' | 'cancelled' | 'stale'

export function shownStatus(run: Run, now = Date.now()): Shown {
	const { status } = run.fold
	if (status === 'running' && run.fold.updatedAt !== null && now - run.fold.updatedAt > STALE_MS)
		return 'stale'
	return status
}

/**
 * How far a run is, from 0 to 1, or null when nothing says. An agent: its last `progress`, 1
 * once complete. A workflow: its steps, each complete one counting 1 and each other one its own
 * progress, over the number of steps; 1 once complete.
 */
export function progressOf(fold: Fold): number | null {
	if (fold.status === 'complete') return 1
	if (isAgent(fold.stream)) return fold.progress
	const steps = [...fold.steps.values()]
	if (steps.length === 0) return null
	let done = 0
	for (const s of steps)
		done += s.status === 'complete' ? 1 : Math.min(1, Math.max(0, s.progress ?? 0))
	return done / steps.length
}

/** `name: message`, or whichever of the two there is. */
export const labelled = (name: string | null, message: string | null) =>
	[name, message].filter((part) => part !== null && part !== '').join(': ')

/**
 * A run's latest message: an agent's own. For a workflow: its failed step's; else the run's
 * failure or reason to stop (which its snapshot does not hold: only the feed's events bring
 * it); else its last running step's, else its last step's.
 */
export function messageOf(fold: Fold): string {
	if (isAgent(fold.stream)) return fold.message ?? ''
	const steps = [...fold.steps.values()]
	const failed = steps.find((s) => s.status === 'failed')
	if (failed) return labelled(failed.name ?? failed.stepId, failed.message)
	if (fold.status !== 'running' && fold.status !== 'complete' && fold.message) return fold.message
	if (fold.status === 'complete' && steps.length > 0)
		return `${steps.length} step${steps.length === 1 ? '' : 's'} complete`
	const step = steps.findLast((s) => s.status === 'running') ?? steps.at(-1)
	return step ? labelled(step.name ?? step.stepId, step.message) : ''
}

/** How long the run has gone (running) or went (ended), and when it started and ended. */
export function timeOf(run: Run, now = Date.now()): { text: string; title: string } {
	const { startedAt, endedAt } = run.fold
	if (startedAt === null) return { text: '', title: '' }
	const started = `started ${dateTime(startedAt)}`
	if (endedAt === null) return { text: duration(now - startedAt), title: started }
	return {
		text: duration(endedAt - startedAt),
		title: `${started}, ended ${dateTime(endedAt)}`,
	}
}

/** The status as a word whose colour means it. */
export const statusBadge = (shown: Shown) => h('span', { class: `status ${shown}` }, shown)

/** A bar in the colour of the status; without a fraction it says so and shows empty. */
export function progressBar(fraction: number | null, shown: Shown, label: string) {
	const value = fraction === null ? null : Math.min(1, Math.max(0, fraction))
	const fill = h('span')
	fill.style.width = `${(value ?? 0) * 100}%`
	return h(
		'span',
		{
			class: `bar ${shown}`,
			role: 'progressbar',
			'aria-label': label,
			'aria-valuemin': 0,
			'aria-valuemax': 100,
			'aria-valuenow': value === null ? null : Math.floor(value * 100),
			'aria-valuetext': value === null ? 'no progress reported' : percent(value),
			'data-value': value ?? '',
		},
		fill,
	)
}
