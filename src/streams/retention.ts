import type { StreamKind } from '../events.ts'
import type { Logger } from '../log.ts'
import type { Store } from '../store/store.ts'
import type { Hub } from './hub.ts'
import type { Snapshots } from './snapshots.ts'

export interface PruneResult {
	prunedEvents: number
	prunedStreams: number
}

export interface Retention {
	/** Prunes what has aged out now; a second call while one runs waits for it. */
	prune(): Promise<PruneResult>
	readonly totals: PruneResult
	/** Stops the schedule; resolves once a prune under way has finished its current stream. */
	stop(): Promise<void>
}

export const PRUNE_INTERVAL_MS = 3_600_000

/**
 * `--retention`: executions and runs that ended longer ago than `retentionMs` are dropped whole,
 * at start, hourly and on demand. Each stream's final snapshot is folded and kept first, so a
 * pruned run stays readable; the running execution is never touched.
 *
 * @example
 * const retention = createRetention(store, snapshots, hub, log, 30 * 86_400_000)
 * await retention.prune() // { prunedEvents, prunedStreams }
 */
export function createRetention(
	store: Store,
	snapshots: Snapshots,
	hub: Pick<Hub, 'forget'>,
	log: Logger,
	retentionMs: number | undefined,
): Retention {
	const totals: PruneResult = { prunedEvents: 0, prunedStreams: 0 }
	let running: Promise<PruneResult> | undefined
	let stopped = false

	async function pruneOnce(): Promise<PruneResult> {
		const result: PruneResult = { prunedEvents: 0, prunedStreams: 0 }
		if (retentionMs === undefined) return result
		for (const { stream, upToId } of await store.prunable(Date.now() - retentionMs)) {
			if (stopped) break
			const state = await store.state(stream)
			if (!state) continue
			const kind = stream.slice(0, stream.indexOf('/')) as StreamKind
			const snapshot = JSON.stringify(await snapshots.one(kind, state))
			const dropped = await store.prune(stream, upToId, snapshot)
			if (dropped === 0) continue
			hub.forget(stream)
			snapshots.forget(stream)
			result.prunedEvents += dropped
			result.prunedStreams++
		}
		totals.prunedEvents += result.prunedEvents
		totals.prunedStreams += result.prunedStreams
		if (result.prunedEvents > 0) {
			store.release()
			// What the pruned streams held is garbage now. Left alone, it waits for allocation
			// pressure an idle server may never feel; one collection after a prune costs a pause of
			// milliseconds (logged), once per prune.
			const t0 = performance.now()
			Bun.gc(true)
			log.info('pruned', { ...result, gcMs: Math.round(performance.now() - t0) })
		}
		return result
	}

	const timer =
		retentionMs === undefined
			? undefined
			: setInterval(() => {
					retention.prune().catch((error) => log.error('pruning failed', { error: String(error) }))
				}, PRUNE_INTERVAL_MS)
	timer?.unref()

	const retention: Retention = {
		prune() {
			running ??= pruneOnce().finally(() => {
				running = undefined
			})
			return running
		},
		totals,
		async stop() {
			stopped = true
			clearInterval(timer)
			await running?.catch(() => {})
		},
	}
	return retention
}
