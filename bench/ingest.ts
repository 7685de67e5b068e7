/**
 * Ingest load generator, run in its own process (pinned away from the server):
 *
 *   bun bench/ingest.ts '<IngestJob as JSON>'
 *
 * `clients` keep-alive connections each send a POST, wait for the 201, send again: a closed
 * loop, so the rate is what the server sustains at that concurrency. Each client publishes to its
 * own agent stream (the usual shape: many agents, one runner each). Against several instances of
 * one cluster, client i talks to `endpoints[i % n]`. Prints one JSON line.
 */
import { type Endpoint, HttpConn, postRequest } from './http.ts'
import { type CpuShares, type CpuSnapshot, now, shares, snapshot } from './proc.ts'
import { Samples, type Summary } from './stats.ts'

export interface IngestJob {
	endpoint: Endpoint
	serverPid: number
	/** Several instances of one cluster, in place of `endpoint` and `serverPid`. */
	endpoints?: Endpoint[]
	serverPids?: number[]
	/** A database server whose process tree's CPU is measured apart (Postgres' postmaster). */
	databasePid?: number
	clients: number
	/** Events per request: 1 sends one event object, more sends an array. */
	batch: number
	warmupS: number
	measureS: number
	/** Stops early once this many requests have been answered in the measured window. */
	maxRequests: number
	streamPrefix: string
}

export interface IngestResult {
	clients: number
	batch: number
	requests: number
	eventsPerS: number
	requestsPerS: number
	latencyMs: Summary
	/** Summed over the instances. */
	serverCpuUsPerEvent: number
	databaseCpuUsPerEvent: number
	cpu: CpuShares
}

export const EVENT =
	'{"event":"progress","data":{"step":"build","message":"compiling module 42 of 97","progress":0.42}}'

export function batchBody(batch: number) {
	return batch === 1 ? EVENT : `[${Array.from({ length: batch }, () => EVENT).join(',')}]`
}

export async function runIngest(job: IngestJob): Promise<IngestResult> {
	const endpoints = job.endpoints ?? [job.endpoint]
	const serverPids = job.serverPids ?? [job.serverPid]
	const endpointOf = (i: number) => endpoints[i % endpoints.length]
	const conns = await Promise.all(
		Array.from({ length: job.clients }, (_, i) => HttpConn.open(endpointOf(i))),
	)
	const body = batchBody(job.batch)
	const requests = conns.map((_, i) =>
		postRequest(endpointOf(i), `/api/agents/${job.streamPrefix}-${i}/events`, body),
	)
	const latencies = new Samples(job.maxRequests + job.clients)
	const tStart = now()
	const tWindow = tStart + job.warmupS * 1000
	const tEnd = tWindow + job.measureS * 1000
	let inWindow = 0
	let windowStart = 0
	let before: CpuSnapshot | undefined
	let after: CpuSnapshot | undefined
	let stop = false

	const openWindow = () => {
		before = snapshot(serverPids, job.databasePid)
		windowStart = before.at
	}
	const closeWindow = () => {
		stop = true
		after = snapshot(serverPids, job.databasePid)
	}

	await Promise.all(
		conns.map(async (conn, i) => {
			while (!stop) {
				const sent = now()
				const r = await conn.request(requests[i])
				const done = now()
				if (r.status !== 201) throw new Error(`publish answered ${r.status}: ${r.body}`)
				if (windowStart === 0) {
					if (done >= tWindow) openWindow()
					continue
				}
				// Only requests sent inside the window count, so warm-up traffic does not leak in.
				if (stop || sent < windowStart) continue
				latencies.add(done - sent)
				if (++inWindow >= job.maxRequests || done >= tEnd) closeWindow()
			}
		}),
	)
	for (const c of conns) c.close()
	if (!before || !after) throw new Error('the measured window never opened')
	const cpu = shares(before, after)
	const events = inWindow * job.batch
	return {
		clients: job.clients,
		batch: job.batch,
		requests: inWindow,
		eventsPerS: events / cpu.seconds,
		requestsPerS: inWindow / cpu.seconds,
		latencyMs: latencies.summary(),
		serverCpuUsPerEvent: cpu.serverUs / Math.max(1, events),
		databaseCpuUsPerEvent: cpu.databaseUs / Math.max(1, events),
		cpu,
	}
}

if (import.meta.main) {
	const job = JSON.parse(process.argv[2] ?? '') as IngestJob
	const result = await runIngest(job)
	process.stdout.write(`${JSON.stringify(result)}\n`)
	process.exit(0)
}
