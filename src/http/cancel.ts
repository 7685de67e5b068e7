import { type Context, Elysia } from 'elysia'
import type { Grant } from '../auth/tokens.ts'
import { BadRequestError } from '../errors.ts'
import type { StreamKind } from '../events.ts'
import type { PendingCancel } from '../store/store.ts'
import { authPlugin } from './auth.ts'
import { readJson } from './body.ts'
import { type AppDeps, streamOf } from './deps.ts'
import { JSON_TYPE } from './respond.ts'

/** The longest `reason` a cancel request may give, in characters (Unicode code points). */
export const MAX_REASON_CHARS = 1000
/** The largest cancel request body: room for any reason within bounds, however it is escaped. */
export const MAX_CANCEL_BODY = 64 * 1024

/**
 * The `data` of the `cancel_requested` a cancel request appends, as JSON text: `{"reason": ...}`,
 * or `{}` for an empty body or one without a reason. Anything else is a 400 naming the field.
 */
export function cancelData(body: unknown): string {
	if (body === undefined) return '{}'
	if (typeof body !== 'object' || body === null || Array.isArray(body))
		throw new BadRequestError('the body must be a JSON object: {"reason": "..."}, {} or nothing')
	for (const key of Object.keys(body))
		if (key !== 'reason')
			throw new BadRequestError(
				`unknown field "${key}": a cancel request has only "reason"`,
				`/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`,
			)
	const { reason } = body as { reason?: unknown }
	if (reason === undefined) return '{}'
	if (typeof reason !== 'string') throw new BadRequestError('"reason" must be a string', '/reason')
	// Counted in code points only when UTF-16 units could pass the bound.
	if (reason.length > MAX_REASON_CHARS && [...reason].length > MAX_REASON_CHARS)
		throw new BadRequestError(`"reason" is longer than ${MAX_REASON_CHARS} characters`, '/reason')
	return JSON.stringify({ reason })
}

/**
 * `"cancelRequested"` of a publish's answer, as JSON text: the pending request's `data` and its
 * id, `{"reason": "...", "id": n}` (`{"id": n}` when it gave no reason).
 */
export const cancelRequestedJson = ({ id, data }: PendingCancel) =>
	data === '{}' ? `{"id":${id}}` : `${data.slice(0, -1)},"id":${id}}`

/**
 * `POST /api/agents/:name/cancel` and `POST /api/workflows/:id/cancel`: asks the running agent
 * execution or workflow run to stop by appending `cancel_requested`, durably and to every
 * watcher, as a publish appends. The runner ends the run (`cancelled`); it learns of the
 * request from the answer to its next publish (`cancelRequested`), or from its own stream.
 */
export function cancelRoutes({ store, guard, metrics }: AppDeps) {
	async function cancel(
		kind: StreamKind,
		name: string,
		request: Request,
		set: Context['set'],
		grant: Grant,
	) {
		const stream = streamOf(kind, name)
		guard.authorize(grant, 'publish', stream)
		const data = cancelData(await readJson(request, MAX_CANCEL_BODY, { optional: true }))
		const { ids, replayed } = await store.requestCancel(stream, data)
		if (!replayed) metrics.eventsAppended++
		set.status = 202
		set.headers['content-type'] = JSON_TYPE
		return `{"id":${ids[0]}}`
	}

	return new Elysia({ name: 'cancel' })
		.use(authPlugin(guard))
		.post(
			'/api/agents/:name/cancel',
			({ params, request, set, grant }) => cancel('agents', params.name, request, set, grant),
			{ parse: 'none', auth: { scope: 'publish' } },
		)
		.post(
			'/api/workflows/:id/cancel',
			({ params, request, set, grant }) => cancel('workflows', params.id, request, set, grant),
			{ parse: 'none', auth: { scope: 'publish' } },
		)
}
