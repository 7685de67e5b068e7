import { Elysia } from 'elysia'
import { type Grant, mayAccess } from '../auth/tokens.ts'
import { BadRequestError, NotFoundError } from '../errors.ts'
import type { StreamKind } from '../events.ts'
import type { AgentState, Execution, WorkflowState } from '../states.ts'
import type { RunStatus } from '../store/store.ts'
import { executionsPage } from '../streams/executions.ts'
import { parseEventId } from '../validate.ts'
import { authPlugin } from './auth.ts'
import { type AppDeps, streamOf } from './deps.ts'
import { json } from './respond.ts'

const DEFAULT_PAGE = 100
const MAX_PAGE = 1000
/** A list page's body stays within this; a stream whose row would take it past goes on the next. */
export const MAX_LIST_BYTES = 4 << 20
/** An agent's result longer than this, as JSON, is left out of lists (`resultOmitted`). */
export const LIST_RESULT_BYTES = 4096

const RUN_STATUSES: readonly string[] = ['running', 'complete', 'failed', 'cancelled']
const NAME_PREFIX = /^[A-Za-z0-9._:-]{1,128}$/

/** An execution's result longer than LIST_RESULT_BYTES is left out of its row, as in lists. */
function executionRow(execution: Execution): string {
	if (execution.result !== null && JSON.stringify(execution.result).length > LIST_RESULT_BYTES)
		return JSON.stringify({ ...execution, result: null, resultOmitted: true })
	return JSON.stringify(execution)
}

/** `limit`: a whole number from 1 to 1000, 100 when absent. */
function pageLimit(value: string | undefined): number {
	if (value === undefined) return DEFAULT_PAGE
	if (!/^[0-9]{1,4}$/.test(value) || Number(value) < 1 || Number(value) > MAX_PAGE)
		throw new BadRequestError(`limit must be a whole number from 1 to ${MAX_PAGE}`, 'limit')
	return Number(value)
}

/**
 * A list row: a result too long for a list is left out (the stream's own snapshot has it); a
 * row that alone would pass the page's bound (a run of thousands of steps) leaves out its steps.
 */
function listRow(item: AgentState | WorkflowState): string {
	if ('execution' in item && item.execution.result !== null) {
		const result = JSON.stringify(item.execution.result)
		if (result.length > LIST_RESULT_BYTES)
			return JSON.stringify({
				...item,
				execution: { ...item.execution, result: null },
				resultOmitted: true,
			})
	}
	const text = JSON.stringify(item)
	if ('steps' in item && Buffer.byteLength(text) > MAX_LIST_BYTES / 2)
		return JSON.stringify({ ...item, steps: [], stepsOmitted: true })
	return text
}

/** First paint: snapshots folded from the log, and pages of past events. */
export function snapshotRoutes({ store, guard, snapshots }: AppDeps) {
	/**
	 * `GET /api/agents` and `/api/workflows`: a page of the streams the token may read, most
	 * recently appended to first, filtered by status and name prefix, its body bounded; and how
	 * many of them (by prefix, not status) are in each status.
	 */
	async function list(kind: StreamKind, grant: Grant, query: Record<string, string | undefined>) {
		const limit = pageLimit(query.limit)
		const { status, prefix, page } = query
		if (status !== undefined && !RUN_STATUSES.includes(status))
			throw new BadRequestError(`status must be one of ${RUN_STATUSES.join(', ')}`, 'status')
		if (prefix !== undefined && prefix !== '' && !NAME_PREFIX.test(prefix))
			throw new BadRequestError(
				'prefix must be 1-128 characters of A-Z a-z 0-9 . _ : - (the start of a name)',
				'prefix',
			)
		if (page !== undefined && page.length > 64)
			throw new BadRequestError('page must be the "next" of the page before', 'page')
		const where = (stream: string) => mayAccess(grant, 'read', stream)
		const found = await store.list(kind, {
			limit,
			page: page || undefined,
			status: status as RunStatus | undefined,
			prefix: prefix || undefined,
			where,
			patterns: grant.streams,
		})
		// Over every status, so a page filtered to one can say how many there are of each.
		const counts = await store.counts(kind, {
			prefix: prefix || undefined,
			where,
			patterns: grant.streams,
		})
		const rows: string[] = []
		let bytes = 64
		let next = found.more ? found.resume[found.resume.length - 1] : null
		for (const [i, state] of found.states.entries()) {
			const row = listRow(await snapshots.one(kind, state))
			const size = Buffer.byteLength(row) + 1
			if (rows.length > 0 && bytes + size > MAX_LIST_BYTES) {
				next = found.resume[i - 1]
				break
			}
			rows.push(row)
			bytes += size
		}
		return json(
			200,
			`{"${kind}":[${rows.join(',')}],"cursor":${found.cursor},"next":${next === null ? 'null' : JSON.stringify(next)},"counts":${JSON.stringify(counts)}}`,
		)
	}

	/** The state of a stream the token may read; 404 otherwise, so existence does not leak. */
	async function readable(kind: StreamKind, name: string, grant: Grant) {
		const stream = streamOf(kind, name)
		const state = mayAccess(grant, 'read', stream) ? await store.state(stream) : undefined
		if (!state)
			throw new NotFoundError(`no ${kind === 'agents' ? 'agent' : 'workflow run'} named "${name}"`)
		return state
	}

	async function one(kind: StreamKind, name: string, grant: Grant) {
		return json(200, await snapshots.one(kind, await readable(kind, name, grant)))
	}

	/**
	 * `GET /api/agents/:name/executions`: the agent's executions, newest first, those starting
	 * below `before`, in pages bounded as lists are.
	 */
	async function executions(name: string, grant: Grant, query: Record<string, string | undefined>) {
		const state = await readable('agents', name, grant)
		// Empty is absent, as `after` of the event pages.
		const before = query.before || undefined
		if (before !== undefined && !/^[0-9]{1,15}$/.test(before))
			throw new BadRequestError(
				'before must be a whole number of 1 to 15 digits: the "next" of the page before',
				'before',
			)
		const limit = pageLimit(query.limit)
		const page = await executionsPage(
			store,
			snapshots,
			state,
			before === undefined ? Number.POSITIVE_INFINITY : Number(before),
			limit,
		)
		const rows: string[] = []
		let bytes = 64
		let next = page.more ? page.executions[page.executions.length - 1].startId : null
		for (const [i, execution] of page.executions.entries()) {
			const row = executionRow(execution)
			const size = Buffer.byteLength(row) + 1
			if (rows.length > 0 && bytes + size > MAX_LIST_BYTES) {
				next = page.executions[i - 1].startId
				break
			}
			rows.push(row)
			bytes += size
		}
		return json(200, `{"executions":[${rows.join(',')}],"next":${next}}`)
	}

	async function events(
		kind: StreamKind,
		name: string,
		grant: Grant,
		query: Record<string, string | undefined>,
	) {
		const state = await readable(kind, name, grant)
		const after = parseEventId('after', query.after) ?? 0
		const limit = pageLimit(query.limit)
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

	// A list needs the read scope; a single stream answers 404 to any credential that may not
	// read it, scope or pattern, so that its existence does not leak.
	// Fresh options for each route: Elysia takes a macro's key out of the object it is given.
	const listing = () => ({ auth: { scope: 'read' } }) as const
	const reading = () => ({ auth: { scope: 'any' } }) as const
	return new Elysia({ name: 'snapshots' })
		.use(authPlugin(guard))
		.get('/api/agents', ({ grant, query }) => list('agents', grant, query), listing())
		.get('/api/workflows', ({ grant, query }) => list('workflows', grant, query), listing())
		.get('/api/agents/:name', ({ params, grant }) => one('agents', params.name, grant), reading())
		.get('/api/workflows/:id', ({ params, grant }) => one('workflows', params.id, grant), reading())
		.get(
			'/api/agents/:name/executions',
			({ params, grant, query }) => executions(params.name, grant, query),
			reading(),
		)
		.get(
			'/api/agents/:name/events',
			({ params, grant, query }) => events('agents', params.name, grant, query),
			reading(),
		)
		.get(
			'/api/workflows/:id/events',
			({ params, grant, query }) => events('workflows', params.id, grant, query),
			reading(),
		)
}
