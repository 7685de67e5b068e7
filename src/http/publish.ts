import { Elysia } from 'elysia'
import type { StreamKind } from '../events.ts'
import { parseEvents, parseIdempotencyKey } from '../validate.ts'
import { readJson } from './body.ts'
import { type AppDeps, streamOf } from './deps.ts'
import { json } from './respond.ts'

/** `POST /api/agents/:name/events` and `POST /api/workflows/:id/events`. */
export function publishRoutes({ config, store, guard, metrics }: AppDeps) {
	async function publish(kind: StreamKind, name: string, request: Request) {
		const grant = guard.authenticate({ authorization: request.headers.get('authorization') })
		const stream = streamOf(kind, name)
		guard.authorize(grant, 'publish', stream)
		const key = parseIdempotencyKey(request.headers.get('idempotency-key'))
		const events = parseEvents(await readJson(request, config.maxBody), kind)
		const idempotency = key === undefined ? undefined : { key, fingerprint: fingerprint(events) }
		const { ids, replayed } = await store.append(stream, events, idempotency)
		metrics.publishRequests++
		if (replayed) metrics.idempotentReplays++
		else metrics.eventsAppended += ids.length
		return json(
			201,
			`{"ids":[${ids.join(',')}]}`,
			replayed ? { 'idempotent-replayed': 'true' } : undefined,
		)
	}

	return new Elysia({ name: 'publish' })
		.post(
			'/api/agents/:name/events',
			({ params, request }) => publish('agents', params.name, request),
			{
				parse: 'none',
			},
		)
		.post(
			'/api/workflows/:id/events',
			({ params, request }) => publish('workflows', params.id, request),
			{
				parse: 'none',
			},
		)
}

/** Two bodies are "the same" for Idempotency-Key when they hold the same events. */
function fingerprint(events: { event: string; data: string }[]): string {
	const hasher = new Bun.CryptoHasher('sha256')
	for (const e of events) hasher.update(e.event).update('\n').update(e.data).update('\n')
	return hasher.digest('hex')
}
