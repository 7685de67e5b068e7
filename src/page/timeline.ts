// A workflow run's steps on one time axis: a bar per step from its step_start to its
// step_complete or step_failed (to now while it runs), so slow and failed steps stand out.
// The times come from the run's events, which the run view reads and follows.

import type { Fold } from '../../client/src/runs.ts'
import type { StepState } from '../states.ts'
import { h } from './dom.ts'
import { duration } from './format.ts'

/** When a step started and ended, Unix ms, from its events. */
export interface StepTimes {
	start: number | null
	end: number | null
}

/** Notes the time of a step event in `times`; other events leave it alone. */
export function noteStepEvent(
	times: Map<string, StepTimes>,
	event: string,
	data: Record<string, unknown>,
	at: number,
) {
	if (!event.startsWith('step_') || typeof data.stepId !== 'string') return
	const t = times.get(data.stepId) ?? { start: null, end: null }
	if (event === 'step_start') {
		t.start ??= at
		t.end = null
	} else {
		t.start ??= at
		if (event === 'step_complete' || event === 'step_failed') t.end = at
	}
	times.set(data.stepId, t)
}

/** Axis marks at round intervals: two to six across `span` milliseconds. */
function ticks(span: number): number[] {
	const seconds = [
		0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 43_200,
		86_400,
	]
	const every = (seconds.find((s) => s * 1000 * 5 >= span) ?? 86_400) * 1000
	const out: number[] = []
	for (let i = 0; i * every <= span; i++) out.push(i * every)
	return out
}

/** The timeline of `fold`'s steps, `now` ending the axis of a run still going. */
export function timeline(fold: Fold, times: Map<string, StepTimes>, now: number): HTMLElement {
	const steps = [...fold.steps.values()]
	const name = fold.stream.slice(fold.stream.indexOf('/') + 1)
	if (steps.length === 0)
		return h(
			'section',
			{ class: 'timeline', 'aria-label': `Steps of ${name}` },
			h('p', { class: 'empty' }, 'no steps yet'),
		)
	const starts = [...times.values()].map((t) => t.start).filter((t): t is number => t !== null)
	const t0 = Math.min(fold.startedAt ?? Number.POSITIVE_INFINITY, ...starts)
	const runEnd = fold.endedAt ?? now
	const ends = [...times.values()].map((t) => t.end ?? runEnd)
	const t1 = Math.max(runEnd, ...ends, t0 + 1)
	const span = Number.isFinite(t0) ? t1 - t0 : 1
	const at = (t: number) => `${(((t - t0) / span) * 100).toFixed(3)}%`

	const axis = h('div', { class: 'axis', 'aria-hidden': 'true' })
	for (const t of ticks(span)) {
		const mark = h('span', {}, t === 0 ? '0s' : `+${duration(t)}`)
		mark.style.left = at(t0 + t)
		axis.append(mark)
	}
	const rows = steps.map((step) => stepRow(step, times.get(step.stepId), t0, runEnd, at))
	return h(
		'section',
		{ class: 'timeline', 'aria-label': `Steps of ${name}` },
		h('div', { class: 'axis-row' }, h('span'), axis, h('span')),
		h('ol', { class: 'steps' }, ...rows),
	)
}

function stepRow(
	step: StepState,
	t: StepTimes | undefined,
	t0: number,
	runEnd: number,
	at: (t: number) => string,
) {
	const label = step.name ?? step.stepId
	const track = h('span', { class: 'track' })
	let took = ''
	if (t && t.start !== null && Number.isFinite(t0)) {
		const end = t.end ?? runEnd
		const bar = h('span', {
			class: `span ${step.status}`,
			title: `${label}: from +${duration(t.start - t0)} to +${duration(end - t0)}`,
		})
		bar.style.left = at(t.start)
		bar.style.width = at(t0 + (end - t.start))
		track.append(bar)
		took = duration(step.duration ?? end - t.start)
	} else if (step.duration !== null) took = duration(step.duration)
	return h(
		'li',
		{ class: `step ${step.status}`, 'data-step': step.stepId },
		h('span', { class: 'step-name' }, label, step.agent ? h('small', {}, step.agent) : null),
		h('span', { class: `status ${step.status}` }, step.status),
		track,
		h('span', { class: 'step-time' }, took),
		step.message ? h('span', { class: 'step-message' }, step.message) : null,
	)
}
