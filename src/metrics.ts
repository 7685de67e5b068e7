/** Counters of one server, rendered in the Prometheus text format by `GET /metrics`. */
export interface Metrics {
	eventsAppended: number
	eventsDelivered: number
	publishRequests: number
	idempotentReplays: number
	subscriptionsOpened: number
	subscriptionsClosed: number
	responses: Map<number, number>
}

export const createMetrics = (): Metrics => ({
	eventsAppended: 0,
	eventsDelivered: 0,
	publishRequests: 0,
	idempotentReplays: 0,
	subscriptionsOpened: 0,
	subscriptionsClosed: 0,
	responses: new Map(),
})

type Sample = [name: string, type: 'counter' | 'gauge', help: string, value: number]

/** Gauges are read at scrape time from whoever owns them, so they cannot drift. */
export interface Gauges {
	openStreams: number
	storeBytes: number
	storeCommits: number
	prunedEvents: number
	prunedStreams: number
	droppedSubscribers: number
	/** Unix seconds of the oldest kept event; 0 with none. */
	oldestEventSeconds: number
	streamsWithSubscribers: number
	/** 1 when a publish would be taken now, 0 when the store is away or full (see /healthz). */
	storeUp: number
	/** Streams whose state the process holds, and snapshot folds it keeps. */
	streamsInMemory: number
	snapshotFolds: number
	/** The process's resident memory, and what of it the JavaScript heap uses. */
	rssBytes: number
	heapBytes: number
}

export function renderMetrics(m: Metrics, g: Gauges): string {
	const samples: Sample[] = [
		['cortex_events_appended_total', 'counter', 'Events appended to the store.', m.eventsAppended],
		[
			'cortex_events_delivered_total',
			'counter',
			'Events written to subscribers.',
			m.eventsDelivered,
		],
		[
			'cortex_publish_requests_total',
			'counter',
			'Publish requests answered 201.',
			m.publishRequests,
		],
		[
			'cortex_idempotent_replays_total',
			'counter',
			'Publishes answered from an earlier request with the same Idempotency-Key.',
			m.idempotentReplays,
		],
		[
			'cortex_subscriptions_opened_total',
			'counter',
			'Event streams opened.',
			m.subscriptionsOpened,
		],
		[
			'cortex_subscriptions_closed_total',
			'counter',
			'Event streams closed.',
			m.subscriptionsClosed,
		],
		[
			'cortex_open_streams',
			'gauge',
			'Event streams and WebSockets open now, each holding a place in the stream limits.',
			g.openStreams,
		],
		[
			'cortex_streams_with_subscribers',
			'gauge',
			'Distinct streams with at least one subscriber.',
			g.streamsWithSubscribers,
		],
		['cortex_store_bytes', 'gauge', 'Bytes the store occupies on disk.', g.storeBytes],
		[
			'cortex_store_up',
			'gauge',
			'1 when the store would take a publish now, 0 when it is unreachable or full.',
			g.storeUp,
		],
		[
			'cortex_store_commits_total',
			'counter',
			'Store transactions committed; concurrent publishes share one.',
			g.storeCommits,
		],
		['cortex_pruned_events_total', 'counter', 'Events removed by retention.', g.prunedEvents],
		[
			'cortex_slow_subscribers_dropped_total',
			'counter',
			'Streams ended because their client stopped reading.',
			g.droppedSubscribers,
		],
		['cortex_pruned_streams_total', 'counter', 'Stream prunes done by retention.', g.prunedStreams],
		[
			'cortex_streams_in_memory',
			'gauge',
			'Streams whose state the server holds in memory (those with events kept).',
			g.streamsInMemory,
		],
		[
			'cortex_snapshot_folds',
			'gauge',
			'Snapshot folds kept in memory (at most 2,048).',
			g.snapshotFolds,
		],
		['cortex_memory_rss_bytes', 'gauge', 'Resident memory of the process.', g.rssBytes],
		[
			'cortex_memory_heap_bytes',
			'gauge',
			'Bytes the JavaScript heap holds (live and not yet collected).',
			g.heapBytes,
		],
		[
			'cortex_oldest_event_timestamp_seconds',
			'gauge',
			'When the oldest kept event was stored (0: none).',
			g.oldestEventSeconds,
		],
	]
	let out = ''
	for (const [name, type, help, value] of samples)
		out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`
	out += '# HELP cortex_http_responses_total HTTP responses by status code.\n'
	out += '# TYPE cortex_http_responses_total counter\n'
	for (const [status, count] of [...m.responses].sort((a, b) => a[0] - b[0]))
		out += `cortex_http_responses_total{code="${status}"} ${count}\n`
	return out
}
