/**
 * The page test/client/react.test.ts bundles and drives: React 19 in Strict Mode, one useRun()
 * per run the test asks for, each drawn into the DOM as plain text. Written with createElement
 * rather than JSX, so that it needs no JSX settings in the tests' tsconfig.
 */

import { type UseRunOptions, useRun } from '@cortex-stream/client/react'
import { createElement as h, StrictMode, useEffect } from 'react'
import { createRoot } from 'react-dom/client'

/** A run to show: its stream and how the page gets its credential. */
export interface PageRun {
	stream: string
	/** A token or ticket, as a string. */
	token?: string
	/** Or the name of a window function that gives one, called by the client for each connection. */
	tokenFrom?: string
	pollAfterEndMs?: number
}

declare global {
	interface Window {
		/** Called by the test: draws these runs (none: the hooks unmount). */
		showRuns(runs: PageRun[]): void
		/** Each request the client made, as `METHOD path`. */
		requests: string[]
		/** How many times the page's root effect ran: 2 in Strict Mode's development build. */
		mounts: number
	}
}

window.requests = []
window.mounts = 0

/**
 * The client's requests, counted: the test checks Strict Mode opened one stream per hook.
 * (`preconnect` only satisfies bun-types' `typeof fetch`, which the tests are checked with.)
 */
const countingFetch: typeof fetch = Object.assign(
	(input: RequestInfo | URL, init?: RequestInit) => {
		const url = new URL(input instanceof Request ? input.url : String(input))
		window.requests.push(`${init?.method ?? 'GET'} ${url.pathname}`)
		return fetch(input, init)
	},
	{ preconnect: fetch.preconnect },
)

function Run({ run }: { run: PageRun }) {
	const options: UseRunOptions = {
		url: location.origin,
		fetch: countingFetch,
		maxRetryMs: 1_000,
		pollAfterEndMs: run.pollAfterEndMs,
		// An inline function, new at each render: the hook must not reconnect for it.
		token: run.tokenFrom ? () => Reflect.get(window, run.tokenFrom as string)() : run.token,
	}
	const view = useRun(run.stream, options)
	const error = view.error as (Error & { status?: number; code?: string }) | undefined
	return h(
		'section',
		{ 'data-stream': run.stream },
		h('p', { className: 'status' }, view.status),
		h('p', { className: 'progress' }, view.progress === null ? '' : String(view.progress)),
		h('p', { className: 'message' }, view.message ?? ''),
		h(
			'ol',
			{ className: 'steps' },
			view.steps.map((s) =>
				h('li', { key: s.stepId }, [s.stepId, s.status, s.progress, s.message].join(' ')),
			),
		),
		h('p', { className: 'count' }, String(view.events.length)),
		h('p', { className: 'ids' }, view.events.map((e) => e.id ?? 'gap').join(' ')),
		h('p', { className: 'last' }, String(view.lastEventId ?? '')),
		h(
			'p',
			{ className: 'error' },
			error ? `${error.status ?? ''} ${error.code ?? error.message}` : '',
		),
	)
}

function App({ runs }: { runs: PageRun[] }) {
	useEffect(() => {
		window.mounts++
	}, [])
	// Keyed by position, so that a new stream in the same place is a new `stream` for the same
	// hook, not a new component.
	return h('main', null, ...runs.map((run, i) => h(Run, { key: i, run })))
}

const root = createRoot(document.getElementById('root') as HTMLElement)
window.showRuns = (runs) => root.render(h(StrictMode, null, h(App, { runs })))
