import { Elysia } from 'elysia'
import { renderMetrics } from '../metrics.ts'
import type { AppDeps } from './deps.ts'
import { json } from './respond.ts'

/** `/healthz` and `/metrics`: no auth, and no stream names, so they are safe to expose to probes. */
export function opsRoutes({ store, hub, limits, metrics, retention, snapshots }: AppDeps) {
	return new Elysia({ name: 'ops' })
		.get('/healthz', async () => {
			const health = await store.health()
			return health.ok
				? json(200, { ok: true })
				: json(
						503,
						{ ok: false, error: { code: health.code, message: health.message } },
						{ 'retry-after': '5' },
					)
		})
		.get('/metrics', async () => {
			const { bytes, commits, streams } = store.stats()
			const memory = process.memoryUsage()
			const health = await store.health()
			// The store being away is what the metrics must then show, not a reason to fail.
			const oldest = health.ok
				? await store.keptAfter(0).then(
						(kept) => kept?.createdAt,
						() => undefined,
					)
				: undefined
			const gauges = {
				openStreams: limits.open,
				streamsWithSubscribers: hub.channels,
				storeBytes: bytes,
				storeCommits: commits,
				prunedEvents: retention.totals.prunedEvents,
				prunedStreams: retention.totals.prunedStreams,
				droppedSubscribers: hub.dropped,
				oldestEventSeconds: oldest === undefined ? 0 : Math.floor(oldest / 1000),
				storeUp: health.ok ? 1 : 0,
				streamsInMemory: streams,
				snapshotFolds: snapshots.size,
				rssBytes: memory.rss,
				heapBytes: memory.heapUsed,
			}
			return new Response(renderMetrics(metrics, gauges), {
				headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
			})
		})
}
