// The dashboard: first paint from the snapshots, then every event through one WebSocket feed
// that resumes from the last cursor it saw. The long-lived token is only ever sent in an
// Authorization header, to learn what it may read and to get a ticket for that; the page keeps
// the ticket, never the token.
//
// This runs in the browser, bundled into index.html (src/http/page.ts). It folds the feed's
// events with the server's own fold (src/runs.ts), so a run looks the same here as in a snapshot.

import {
	agentState,
	emptyFold,
	type Fold,
	foldEvent,
	foldOf,
	workflowState,
} from '../../client/src/runs.ts'
import type { AgentState, WorkflowState } from '../states.ts'

/** One event of the WebSocket feed, `cursor` being where to resume after it. */
interface FeedEvent {
	cursor: number
	stream: string
	id: number
	event: string
	data: Record<string, unknown>
}

type FeedMessage = FeedEvent | { error: { code: string; message: string } }

/** The JSON error body of a refused request. */
interface ErrorBody {
	error?: { message?: string }
}

const TICKET_KEY = 'cortex-stream-ticket'

/** The element of index.html with this id, which must be of this type. */
function byId<T extends HTMLElement>(id: string, type: { new (): T; name: string }): T {
	const el = document.getElementById(id)
	if (!(el instanceof type)) throw new Error(`#${id} is not a ${type.name}`)
	return el
}

const connection = byId('connection', HTMLElement)
const login = byId('login', HTMLFormElement)
const tokenInput = byId('token', HTMLInputElement)
const loginError = byId('login-error', HTMLElement)
const dashboard = byId('dashboard', HTMLElement)
const agentList = byId('agents', HTMLUListElement)
const workflowList = byId('workflows', HTMLUListElement)

const state = {
	/** Each run's fold, by stream: from its snapshot, then each event of the feed. */
	runs: new Map<string, Fold>(),
	/** The event log of each run opened, once loaded. */
	logs: new Map<string, string[]>(),
}
/** The runs whose details are open, so a redraw keeps them open. */
const openRuns = new Set<string>()
let ticket = ''
let cursor = 0
let socket: WebSocket | null = null

/** Thrown by api() once the ticket is refused: the login form is showing. */
class Unauthorized extends Error {}

const ENTITIES: Record<string, string> = {
	'&': '&amp;',
	'<': '&lt;',
	'>': '&gt;',
	'"': '&quot;',
	"'": '&#39;',
}
const esc = (text: unknown) => String(text ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c)

function elapsed(startedAt: string | null | undefined, endedAt: string | null | undefined): string {
	if (!startedAt) return ''
	const ms = (endedAt ? Date.parse(endedAt) : Date.now()) - Date.parse(startedAt)
	const s = Math.max(0, Math.round(ms / 1000))
	return s < 60
		? `${s}s`
		: s < 3600
			? `${Math.floor(s / 60)}m ${s % 60}s`
			: `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}

const bar = (progress: number | null, label: string) =>
	`<progress max="1" value="${progress ?? 0}" aria-label="${esc(label)}"></progress>`

function agentRow(a: AgentState): string {
	return `<div class="row">
		<span class="name">${esc(a.name)}</span>
		<span class="status ${a.status}">${a.status}</span>
		${bar(a.progress, `${a.name} progress`)}
		<span class="elapsed" data-start="${a.execution.startedAt ?? ''}" data-end="${a.execution.endedAt ?? ''}">${elapsed(a.execution.startedAt, a.execution.endedAt)}</span>
		<span class="message">${esc(a.message ?? '')}</span>
	</div>`
}

function workflowRow(w: WorkflowState): string {
	const done = w.steps.filter((s) => s.status === 'complete').length
	const progress = w.status === 'complete' ? 1 : w.steps.length ? done / w.steps.length : 0
	const current = [...w.steps].reverse().find((s) => s.status === 'running')
	const steps = w.steps
		.map(
			(s) => `<li class="row">
				<span class="name">${esc(s.name ?? s.stepId)}${s.agent ? ` <small>(${esc(s.agent)})</small>` : ''}</span>
				<span class="status ${s.status}">${s.status}</span>
				${bar(s.status === 'complete' ? 1 : s.progress, `${s.name ?? s.stepId} progress`)}
				<span class="elapsed">${s.duration != null ? `${(s.duration / 1000).toFixed(1)}s` : ''}</span>
				<span class="message">${esc(s.message ?? '')}</span>
			</li>`,
		)
		.join('')
	const log = state.logs.get(`workflows/${w.id}`)
	return `<details data-stream="workflows/${esc(w.id)}" ${openRuns.has(`workflows/${w.id}`) ? 'open' : ''}>
		<summary><div class="row">
			<span class="name">${esc(w.id)}</span>
			<span class="status ${w.status}">${w.status}</span>
			${bar(progress, `${w.id} progress`)}
			<span class="elapsed" data-start="${w.startedAt ?? ''}" data-end="${w.endedAt ?? ''}">${elapsed(w.startedAt, w.endedAt)}</span>
			<span class="message">${esc(current ? `${current.name ?? current.stepId}: ${current.message ?? ''}` : '')}</span>
		</div></summary>
		<ul class="steps" aria-label="Steps of ${esc(w.id)}">${steps || '<li class="empty">no steps yet</li>'}</ul>
		<pre class="log" aria-label="Event log of ${esc(w.id)}">${esc(log ? log.join('\n') : 'loading…')}</pre>
	</details>`
}

function render() {
	// Redrawing replaces the rows: keep the keyboard's place on the run it was on.
	const focused =
		document.activeElement?.closest<HTMLElement>('details[data-stream]')?.dataset.stream
	const agents: AgentState[] = []
	const workflows: WorkflowState[] = []
	for (const fold of state.runs.values())
		if (fold.stream.startsWith('agents/')) agents.push(agentState(fold))
		else workflows.push(workflowState(fold))
	agents.sort((a, b) => a.name.localeCompare(b.name))
	workflows.sort((a, b) => a.id.localeCompare(b.id))
	agentList.innerHTML = agents.length
		? agents
				.map((a) => `<li class="run" data-stream="agents/${esc(a.name)}">${agentRow(a)}</li>`)
				.join('')
		: '<li class="empty">no agents yet</li>'
	workflowList.innerHTML = workflows.length
		? workflows.map((w) => `<li class="run">${workflowRow(w)}</li>`).join('')
		: '<li class="empty">no workflow runs yet</li>'
	if (focused)
		document
			.querySelector<HTMLElement>(`details[data-stream="${CSS.escape(focused)}"] summary`)
			?.focus()
}

function setConnection(text: string) {
	connection.textContent = text
}

/** GETs `path` with the ticket; a refused ticket shows the login form and throws Unauthorized. */
async function api<T>(path: string): Promise<T> {
	const res = await fetch(path, { headers: { authorization: `Bearer ${ticket}` } })
	if (res.status === 401) {
		sessionStorage.removeItem(TICKET_KEY)
		showLogin('The ticket has expired; enter the token again.')
		throw new Unauthorized('unauthorized')
	}
	if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
	return res.json() as Promise<T>
}

/** Folds one feed message into its run, once: events the snapshot already held are skipped. */
function apply({ cursor: c, stream, id, event, data }: FeedEvent) {
	cursor = Math.max(cursor, c)
	const fold = state.runs.get(stream) ?? emptyFold(stream, id)
	if (id <= fold.lastId) return
	state.logs.get(stream)?.push(`${id} ${event} ${JSON.stringify(data)}`)
	// The feed says nothing of when an event was stored: the page's clock stands in.
	state.runs.set(stream, foldEvent(fold, id, event, data, Date.now()))
}

let pendingRender = false
function scheduleRender() {
	if (pendingRender) return
	pendingRender = true
	requestAnimationFrame(() => {
		pendingRender = false
		render()
	})
}

function openFeed() {
	const url = `${location.origin.replace(/^http/, 'ws')}/api/ws?access_token=${encodeURIComponent(ticket)}`
	const ws = new WebSocket(url)
	socket = ws
	let opened = false
	ws.onopen = () => {
		opened = true
		setConnection('live')
		ws.send(JSON.stringify({ subscribe: [], after: cursor }))
	}
	ws.onmessage = (e: MessageEvent<string>) => {
		const message = JSON.parse(e.data) as FeedMessage
		if ('error' in message) return setConnection(`error: ${message.error.message}`)
		apply(message)
		scheduleRender()
	}
	ws.onclose = () => {
		if (dashboard.hidden) return
		setConnection('reconnecting…')
		// Resume from the last cursor seen: nothing missed, nothing twice. A feed that would not
		// even open may mean an expired ticket: a snapshot request tells, and asks to log in again.
		setTimeout(async () => {
			if (!opened)
				try {
					await api('/api/agents')
				} catch {
					if (dashboard.hidden) return
				}
			openFeed()
		}, 1000)
	}
}

async function connect() {
	try {
		const [agents, workflows] = await Promise.all([
			api<{ agents: AgentState[]; cursor: number }>('/api/agents?limit=1000'),
			api<{ workflows: WorkflowState[]; cursor: number }>('/api/workflows?limit=1000'),
		])
		state.runs = new Map(
			[...agents.agents, ...workflows.workflows].map((s) => {
				const fold = foldOf(s)
				return [fold.stream, fold]
			}),
		)
		// The older of the two cursors: what the other snapshot already holds is skipped by id.
		cursor = Math.min(agents.cursor, workflows.cursor)
		login.hidden = true
		dashboard.hidden = false
		render()
		openFeed()
	} catch (error) {
		if (!(error instanceof Unauthorized)) {
			setConnection('server unreachable, retrying…')
			setTimeout(connect, 2000)
		}
	}
}

function showLogin(message = '') {
	socket?.close()
	dashboard.hidden = true
	login.hidden = false
	loginError.textContent = message
	tokenInput.focus()
}

login.addEventListener('submit', async (e) => {
	e.preventDefault()
	const token = tokenInput.value.trim()
	tokenInput.value = ''
	const authorization = `Bearer ${token}`
	// A ticket for exactly what the token may read: a token limited to some streams gets those.
	const who = await fetch('/api/whoami', { headers: { authorization } })
	if (who.status !== 200) {
		const body: ErrorBody = await who.json().catch(() => ({}))
		return showLogin(body.error?.message ?? `HTTP ${who.status}`)
	}
	const { scopes, streams }: { scopes: string[]; streams?: string[] | null } = await who.json()
	if (!scopes.includes('read'))
		return showLogin('This token may not read streams: it needs the read scope.')
	const res = await fetch('/api/tickets', {
		method: 'POST',
		headers: { authorization, 'content-type': 'application/json' },
		body: JSON.stringify({ streams, ttlSeconds: 12 * 3600 }),
	})
	if (res.status !== 201) {
		const body: ErrorBody = await res.json().catch(() => ({}))
		return showLogin(body.error?.message ?? `HTTP ${res.status}`)
	}
	ticket = ((await res.json()) as { ticket: string }).ticket
	sessionStorage.setItem(TICKET_KEY, ticket)
	connect()
})

document.addEventListener(
	'toggle',
	async (e) => {
		const details = e.target
		if (!(details instanceof HTMLDetailsElement)) return
		const stream = details.dataset.stream
		if (stream === undefined) return
		if (!details.open) {
			openRuns.delete(stream)
			return
		}
		openRuns.add(stream)
		if (state.logs.has(stream)) return
		const page = await api<{ events: Array<{ id: number; event: string; data: unknown }> }>(
			`/api/${stream}/events?limit=1000`,
		)
		state.logs.set(
			stream,
			page.events.map((x) => `${x.id} ${x.event} ${JSON.stringify(x.data)}`),
		)
		render()
	},
	true,
)

setInterval(() => {
	for (const el of document.querySelectorAll<HTMLElement>('.elapsed[data-start]'))
		if (el.dataset.start && !el.dataset.end) el.textContent = elapsed(el.dataset.start, null)
}, 1000)

ticket = sessionStorage.getItem(TICKET_KEY) ?? ''
if (ticket) connect()
else showLogin()
