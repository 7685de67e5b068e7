// The dashboard, in the browser: bundled with the modules beside it into index.html as one
// inline script (src/http/page.ts). It asks for a token once (api.ts), paints the list from the
// API (list.ts), then follows every stream through one WebSocket feed (feed.ts), from the cursor
// of the first list it read. The list and the open run (run-view.ts) both fold the feed's events
// with the server's own fold (client/src/runs.ts), so a run looks the same here as in a snapshot.
// Where the page is lives in the URL's hash (router.ts).

import { hasSession, list, login, RequestError, Unauthorized, whenRefused } from './api.ts'
import { byId } from './dom.ts'
import { type Feed, startFeed } from './feed.ts'
import { installKeys } from './keys.ts'
import * as listView from './list.ts'
import { parseRoute, type Route, routeHash } from './router.ts'
import * as runView from './run-view.ts'
import { applyEvent } from './runs.ts'

const connection = byId('connection', HTMLElement)
const loginForm = byId('login', HTMLFormElement)
const tokenInput = byId('token', HTMLInputElement)
const loginError = byId('login-error', HTMLElement)
const loginButton = byId('login-button', HTMLButtonElement)
const runTitle = byId('run-title', HTMLElement)

let feed: Feed | null = null
let starting = false
/** The run last opened, whose row gets the focus back on the way back to the list. */
let lastOpened: string | null = null

const setConnection = (text: string) => {
	connection.textContent = text
	connection.dataset.state = text === 'live' ? 'live' : 'down'
}

function showLogin(message = '') {
	feed?.stop()
	feed = null
	listView.hideList()
	runView.close()
	setConnection('not connected')
	loginForm.hidden = false
	loginError.textContent = message
	tokenInput.focus()
}
whenRefused(showLogin)

loginForm.addEventListener('submit', async (e) => {
	e.preventDefault()
	const token = tokenInput.value.trim()
	tokenInput.value = ''
	loginButton.disabled = true
	try {
		await login(token)
		start()
	} catch (error) {
		showLogin(error instanceof RequestError ? error.message : 'The server cannot be reached.')
	} finally {
		loginButton.disabled = false
	}
})

/** Reads the first list (its cursor starts the feed), opens the feed, shows the URL's view. */
async function start() {
	if (starting) return
	starting = true
	loginForm.hidden = true
	setConnection('connecting…')
	const route = parseRoute(location.hash)
	const listRoute: Route & { view: 'list' } =
		route.view === 'list' ? route : { view: 'list', kind: route.kind, status: '', q: '' }
	try {
		const cursor =
			(await listView.showList(listRoute, route.view === 'list')) ??
			(await list('agents', { limit: 1 })).cursor
		feed?.stop()
		feed = startFeed(cursor, {
			event(e, at) {
				const applied = applyEvent(e.stream, e.id, e.event, e.data, at)
				listView.onEvent(e.stream, applied)
				runView.onEvent(e, at)
			},
			gap() {
				listView.reload()
				runView.reload()
			},
			status: setConnection,
		})
		starting = false
		showRoute()
	} catch (error) {
		starting = false
		if (error instanceof Unauthorized) return
		setConnection('server unreachable, retrying…')
		setTimeout(start, 2000)
	}
}

/** Shows the view the URL's hash names. */
function showRoute() {
	if (!feed) return
	const route = parseRoute(location.hash)
	if (route.view === 'list') {
		runView.close()
		document.title = `${route.kind === 'agents' ? 'Agents' : 'Workflow runs'} · cortex-stream`
		listView
			.showList(route)
			.then(() => {
				const row =
					lastOpened &&
					document.querySelector<HTMLElement>(`a.row[data-stream="${CSS.escape(lastOpened)}"]`)
				lastOpened = null
				if (row) row.focus()
			})
			.catch(() => setConnection('server unreachable'))
		return
	}
	listView.hideList()
	lastOpened = `${route.kind}/${route.name}`
	document.title = `${route.name} · cortex-stream`
	runView.showRun(route, routeHash(listView.listRoute()))
	if (!runTitle.contains(document.activeElement)) runTitle.focus({ preventScroll: true })
}

window.addEventListener('hashchange', showRoute)

installKeys({
	inRun: runView.isOpen,
	back: () => {
		location.hash = routeHash(listView.listRoute())
	},
	toList: () => {
		location.hash = routeHash(listView.listRoute())
		showRoute()
	},
	filter: listView.filterInput,
	firstRow: listView.firstRow,
})

setInterval(() => {
	const now = Date.now()
	listView.tick(now)
	runView.tick(now)
}, 1000)

if (hasSession()) start()
else showLogin()
