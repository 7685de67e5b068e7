// Where the page is, in its URL's hash, so that a link pasted to a colleague opens the same view
// (after the token prompt, which leaves the hash alone) and the server needs no route per view:
//
//   #/agents?status=failed&q=build-    the agents list, filtered
//   #/workflows                        the workflow runs list
//   #/agents/<name>                    an agent: its executions, the newest chosen
//   #/agents/<name>?execution=<id>     an agent with the execution starting at event <id> chosen
//   #/workflows/<id>                   a workflow run: its steps' timeline and its events

import type { RunStatus } from '../states.ts'
import type { Kind } from './api.ts'

export type Route =
	| { view: 'list'; kind: Kind; status: RunStatus | ''; q: string }
	| { view: 'run'; kind: Kind; name: string; execution: number | null }

const STATUSES: readonly string[] = ['running', 'complete', 'failed', 'cancelled']

export function parseRoute(hash: string): Route {
	const [path = '', search = ''] = hash.replace(/^#/, '').split('?', 2)
	const query = new URLSearchParams(search)
	const [, kindPart, ...rest] = path.split('/')
	const kind: Kind = kindPart === 'workflows' ? 'workflows' : 'agents'
	const name = rest.join('/')
	if (name) {
		let decoded = name
		try {
			decoded = decodeURIComponent(name)
		} catch {}
		const execution = Number(query.get('execution'))
		return {
			view: 'run',
			kind,
			name: decoded,
			execution: Number.isInteger(execution) && execution > 0 ? execution : null,
		}
	}
	const status = query.get('status') ?? ''
	return {
		view: 'list',
		kind,
		status: STATUSES.includes(status) ? (status as RunStatus) : '',
		q: query.get('q') ?? '',
	}
}

export function routeHash(route: Route): string {
	if (route.view === 'run') {
		const base = `#/${route.kind}/${encodeURIComponent(route.name)}`
		return route.execution === null ? base : `${base}?execution=${route.execution}`
	}
	const query = new URLSearchParams()
	if (route.status) query.set('status', route.status)
	if (route.q) query.set('q', route.q)
	const search = query.toString()
	return `#/${route.kind}${search ? `?${search}` : ''}`
}

/** The hash of a run's own view. */
export const runHash = (stream: string) => {
	const slash = stream.indexOf('/')
	return `#/${stream.slice(0, slash)}/${encodeURIComponent(stream.slice(slash + 1))}`
}

/** Changes the hash without a new history entry (the filter as it is typed, a chosen execution). */
export function replaceRoute(route: Route) {
	const hash = routeHash(route)
	if (location.hash !== hash) history.replaceState(history.state, '', hash)
}
