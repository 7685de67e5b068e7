import { type Context, Elysia } from 'elysia'
import type { Grant } from '../auth/tokens.ts'
import type { StreamKind } from '../events.ts'
import { fingerprint, parseEvents, parseIdempotencyKey } from '../validate.ts'
import { authPlugin } from './auth.ts'
import { readJson } from './body.ts'
import { cancelRequestedJson } from './cancel.ts'
import { type AppDeps, streamOf } from './deps.ts'
import { JSON_TYPE } from './respond.ts'

/** `POST /api/agents/:name/events` and `POST /api/workflows/:id/events`. */
export function publishRoutes({ config, store, guard, metrics }: AppDeps) {
	async function publish(
		kind: StreamKind,
		name: string,
		request: Request,
		set: Context['set'],
		grant: Grant,
	) {
		const stream = streamOf(kind, name)
		guard.authorize(grant, 'publish', stream)
		const key = parseIdempotencyKey(request.headers.get('idempotency-key'))
		const body = await readJson(request, config.maxBody)
		const events = parseEvents(body, kind)
		const idempotency = key === undefined ? undefined : { key, fingerprint: fingerprint(body) }
		const { ids, replayed, cancel } = await store.append(stream, events, idempotency)
		metrics.publishRequests++
		if (replayed) metrics.idempotentReplays++
		else metrics.eventsAppended += ids.length
		// Through `set`, not a Response of its own: Elysia would copy that into a second Response
		// to add the headers every response gets.
		set.status = 201
		set.headers['content-type'] = JSON_TYPE
		if (replayed) set.headers['idempotent-replayed'] = 'true'
		// The runner learns here that its run was asked to stop (see cancel.ts).
		if (cancel) return `{"ids":[${ids.join(',')}],"cancelRequested":${cancelRequestedJson(cancel)}}`
		return `{"ids":[${ids.join(',')}]}`
	}

	return new Elysia({ name: 'publish' })
		.use(authPlugin(guard))
		.post(
			'/api/agents/:name/events',
			({ params, request, set, grant }) => publish('agents', params.name, request, set, grant),
			{ parse: 'none', auth: { scope: 'publish' } },
		)
		.post(
			'/api/workflows/:id/events',
			({ params, request, set, grant }) => publish('workflows', params.id, request, set, grant),
			{ parse: 'none', auth: { scope: 'publish' } },
		)
}
