import { Elysia } from 'elysia'
import { hasScope, mayAccess } from '../auth/tokens.ts'
import { BadRequestError, ForbiddenError, NotFoundError } from '../errors.ts'
import type { StreamKind } from '../events.ts'
import { parseEventId } from '../validate.ts'
import { type AppDeps, streamOf } from './deps.ts'
import { json } from './respond.ts'

const DEFAULT_PAGE = 100
const MAX_PAGE = 1000

/** First paint: snapshots folded from the log, and pages of past events. */
export function snapshotRoutes({ store, guard, snapshots }: AppDeps) {
	const authenticate = (request: Request) =>
		guard.authenticate({ authorization: request.headers.get('authorization') })

	async function list(kind: StreamKind, request: Request) {
		const grant = authenticate(request)
		if (!hasScope(grant, 'read')) throw new ForbiddenError('the token has no "read" scope')
		const { states, cursor } = await store.states(kind)
		const readable = states.filter((s) => mayAccess(grant, 'read', s.name))
		const items = await Promise.all(readable.map((s) => snapshots.one(kind, s)))
		return json(200, { [kind]: items, cursor })
	}

	/** The state of a stream the token may read; 404 otherwise, so existence does not leak. */
	async function readable(kind: StreamKind, name: string, request: Request) {
		const grant = authenticate(request)
		const stream = streamOf(kind, name)
		const state = mayAccess(grant, 'read', stream) ? await store.state(stream) : undefined
		if (!state)
			throw new NotFoundError(`no ${kind === 'agents' ? 'agent' : 'workflow run'} named "${name}"`)
		return state
	}

	async function one(kind: StreamKind, name: string, request: Request) {
		return json(200, await snapshots.one(kind, await readable(kind, name, request)))
	}

	async function events(
		kind: StreamKind,
		name: string,
		request: Request,
		query: Record<string, string | undefined>,
	) {
		const state = await readable(kind, name, request)
		const after = parseEventId('after', query.after) ?? 0
		const limit = query.limit === undefined ? DEFAULT_PAGE : Number(query.limit)
		if (!/^[0-9]{1,4}$/.test(query.limit ?? '1') || limit < 1 || limit > MAX_PAGE)
			throw new BadRequestError(`limit must be a whole number from 1 to ${MAX_PAGE}`)
		const page = await store.read(state.name, after, limit)
		const last = page.length > 0 ? page[page.length - 1].id : after
		const next = page.length === limit && last < state.lastId ? last : null
		// `data` is stored as JSON text: splice it in rather than parse and stringify it again.
		const items = page.map(
			(e) =>
				`{"id":${e.id},"event":"${e.event}","data":${e.data},"createdAt":"${new Date(e.createdAt).toISOString()}"}`,
		)
		return json(200, `{"events":[${items.join(',')}],"next":${next}}`)
	}

	return new Elysia({ name: 'snapshots' })
		.get('/api/agents', ({ request }) => list('agents', request))
		.get('/api/workflows', ({ request }) => list('workflows', request))
		.get('/api/agents/:name', ({ params, request }) => one('agents', params.name, request))
		.get('/api/workflows/:id', ({ params, request }) => one('workflows', params.id, request))
		.get('/api/agents/:name/events', ({ params, request, query }) =>
			events('agents', params.name, request, query),
		)
		.get('/api/workflows/:id/events', ({ params, request, query }) =>
			events('workflows', params.id, request, query),
		)
}
