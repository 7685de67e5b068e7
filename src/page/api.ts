// The page's credentials and its requests to the API.
//
// The token is entered once. It is sent only in Authorization headers: to /api/whoami (what it
// may do), to /api/tickets (a read-only ticket for exactly the streams it may read) and to the
// cancel routes (a ticket may not cancel). Everything else, the WebSocket's URL included, carries
// the ticket. Both live in this tab's sessionStorage (gone when the tab closes), so a reload
// keeps the session; the ticket is renewed with the token before it expires.

import type { AgentState, Execution, StatusCounts, WorkflowState } from '../../client/src/types.ts'
import { compilePattern } from '../patterns.ts'

export type { Execution }

export type Kind = 'agents' | 'workflows'

/** The counts of a list, by status, over the streams matching its prefix. */
export type Counts = StatusCounts

/** A snapshot as the API sends it. */
export type Snapshot = AgentState | WorkflowState

/** A page of `GET /api/agents` or `/api/workflows`. */
export interface ListPage {
	rows: Snapshot[]
	cursor: number
	next: string | null
	counts?: Counts
}

/** One event of `GET /api/<stream>/events`. */
export interface StoredEvent {
	id: number
	event: string
	data: Record<string, unknown>
	createdAt: string
}

interface Session {
	token: string
	ticket: string
	/** Unix milliseconds. */
	expiresAt: number
	scopes: string[]
	streams: string[]
}

const SESSION_KEY = 'cortex-stream-session'
/** A ticket lives this long... */
const TICKET_TTL_S = 12 * 3600
/** ...and is renewed once it has less than this left. */
const RENEW_BEFORE_MS = 10 * 60_000

/** Thrown once the credentials are refused: the page is asking for the token again. */
export class Unauthorized extends Error {}

/** A request the server answered with an error. */
export class RequestError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
	) {
		super(message)
	}
}

function loadSession(): Session | null {
	try {
		const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null') as Session | null
		return saved && typeof saved.ticket === 'string' && typeof saved.token === 'string'
			? saved
			: null
	} catch {
		return null
	}
}

let session = loadSession()
let onRefused: (message: string) => void = () => {}

/** What to do when the credentials are refused: ask for the token again. */
export function whenRefused(handler: (message: string) => void) {
	onRefused = handler
}

export const hasSession = () => session !== null

/** Forgets the credentials and asks for the token with `message`. */
function refuse(message: string): never {
	session = null
	sessionStorage.removeItem(SESSION_KEY)
	onRefused(message)
	throw new Unauthorized(message)
}

async function errorOf(res: Response): Promise<RequestError> {
	const body = (await res.json().catch(() => ({}))) as {
		error?: { code?: string; message?: string }
	}
	return new RequestError(
		res.status,
		body.error?.code ?? 'http',
		body.error?.message ?? `HTTP ${res.status}`,
	)
}

/** A ticket for `streams`, made with `token`. */
async function issueTicket(token: string, streams: string[]) {
	const res = await fetch('/api/tickets', {
		method: 'POST',
		headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
		body: JSON.stringify({ streams, ttlSeconds: TICKET_TTL_S }),
	})
	if (res.status !== 201) throw await errorOf(res)
	const { ticket, expiresAt } = (await res.json()) as { ticket: string; expiresAt: string }
	return { ticket, expiresAt: Date.parse(expiresAt) }
}

/**
 * Logs in with `token`: learns what it may do, and trades it for a ticket within that (a token
 * limited to `agents/team-a*` gets a ticket for `agents/team-a*`). Throws a RequestError with a
 * message for the login form.
 */
export async function login(token: string): Promise<void> {
	const who = await fetch('/api/whoami', { headers: { authorization: `Bearer ${token}` } })
	if (who.status !== 200) throw await errorOf(who)
	const { scopes, streams } = (await who.json()) as { scopes: string[]; streams?: string[] | null }
	if (!scopes.includes('read'))
		throw new RequestError(
			403,
			'forbidden',
			'This token may not read streams: it needs the read scope.',
		)
	const patterns = streams && streams.length > 0 ? streams : ['*']
	const { ticket, expiresAt } = await issueTicket(token, patterns)
	session = { token, ticket, expiresAt, scopes, streams: patterns }
	sessionStorage.setItem(SESSION_KEY, JSON.stringify(session))
}

/** The ticket, renewed first when it is about to expire. */
export async function ticket(): Promise<string> {
	const current = session ?? refuse('Enter a token.')
	if (current.expiresAt - Date.now() < RENEW_BEFORE_MS) await renew(current)
	return (session ?? current).ticket
}

async function renew(current: Session) {
	try {
		const fresh = await issueTicket(current.token, current.streams)
		session = { ...current, ...fresh }
		sessionStorage.setItem(SESSION_KEY, JSON.stringify(session))
	} catch (error) {
		if (error instanceof RequestError && (error.status === 401 || error.status === 403))
			refuse('The token is no longer accepted; enter a token again.')
		// Unreachable: the ticket in hand may still do; the next request tells.
		if (current.expiresAt <= Date.now()) throw error
	}
}

/** GETs `path` (`/api/...`) with the ticket; a refused ticket is renewed once, then refused. */
export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
	for (let attempt = 0; ; attempt++) {
		const res = await fetch(path, {
			headers: { authorization: `Bearer ${await ticket()}` },
			signal,
		})
		if (res.ok) return (await res.json()) as T
		if (res.status !== 401) throw await errorOf(res)
		const current = session
		if (attempt > 0 || !current) refuse('The session has ended; enter the token again.')
		await renew({ ...current, expiresAt: 0 })
	}
}

/** Whether the token may ask `stream` to stop: the publish scope on a pattern matching it. */
export function mayCancel(stream: string): boolean {
	const current = session
	if (!current) return false
	return (
		current.scopes.includes('publish') &&
		current.streams.some((p) => compilePattern(p).test(stream))
	)
}

/** `POST /api/<stream>/cancel` with the token: the `cancel_requested` event's id. */
export async function requestCancel(stream: string, reason: string): Promise<number> {
	const current = session ?? refuse('Enter a token.')
	const res = await fetch(streamPath(stream, '/cancel'), {
		method: 'POST',
		headers: { authorization: `Bearer ${current.token}`, 'content-type': 'application/json' },
		body: JSON.stringify({ reason }),
	})
	if (res.status === 401) refuse('The token is no longer accepted; enter a token again.')
	if (res.status !== 202) throw await errorOf(res)
	return ((await res.json()) as { id: number }).id
}

/** A page of a list, from the route's own field name (`agents`, `workflows`) to `rows`. */
export async function list(
	kind: Kind,
	query: { limit: number; status?: string; prefix?: string; page?: string },
	signal?: AbortSignal,
): Promise<ListPage> {
	const params = new URLSearchParams({ limit: String(query.limit) })
	if (query.status) params.set('status', query.status)
	if (query.prefix) params.set('prefix', query.prefix)
	if (query.page) params.set('page', query.page)
	const body = await get<Record<string, unknown>>(`/api/${kind}?${params}`, signal)
	return {
		rows: body[kind] as Snapshot[],
		cursor: body.cursor as number,
		next: body.next as string | null,
		counts: body.counts as Counts | undefined,
	}
}

/** `/api/<stream>/<rest>`, the stream's name part escaped for a path. */
export const streamPath = (stream: string, rest = '') => {
	const slash = stream.indexOf('/')
	return `/api/${stream.slice(0, slash)}/${encodeURIComponent(stream.slice(slash + 1))}${rest}`
}
