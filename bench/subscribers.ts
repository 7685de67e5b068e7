/**
 * Fan-out load generator, run in its own process (pinned away from the server):
 *
 *   bun bench/subscribers.ts '<FanoutJob as JSON>'
 *
 * Opens N raw-socket SSE subscribers on one stream, measures the server's CPU and RSS for them,
 * then publishes at a fixed rate and records publish-to-receive latency. The timestamp travels
 * in the event data (`{"t": <epoch ms>}`, first key) and is all the client parses. Against
 * several instances of one cluster, subscriber i connects to `endpoints[i % n]` and the publisher
 * to the first, so the other instances' subscribers get every event across the shared database.
 * Prints one JSON line (FanoutResult) on stdout; progress goes to stderr.
 */
import { type Endpoint, HttpConn, postRequest } from './http.ts'
import {
	type CpuShares,
	type CpuSnapshot,
	cpuMicrosOf,
	now,
	rssKiBOf,
	shares,
	snapshot,
} from './proc.ts'
import { openSse, type SseConn, type SseState } from './sse-client.ts'
import { Samples, type Summary } from './stats.ts'

export interface FanoutJob {
	endpoint: Endpoint
	serverPid: number
	/** Several instances of one cluster, in place of `endpoint` and `serverPid`. */
	endpoints?: Endpoint[]
	serverPids?: number[]
	/** A database server whose process tree's CPU is measured apart (Postgres' postmaster). */
	databasePid?: number
	stream: string
	subscribers: number
	/** Events per second, published one per request. */
	rate: number
	warmupS: number
	measureS: number
}

export interface FanoutResult {
	subscribers: number
	connected: number
	connectS: number
	connectCpuUsPerSub: number
	rssIdleKiB: number
	rssBaseKiB: number
	rssPerSubKiB: number
	published: number
	publishSkipped: number
	publishRatePerS: number
	publishLatencyMs: Summary
	deliveredPerS: number
	latencyMs: Summary
	/** The same, split by the instance the subscriber is on; the publisher is on the first. */
	latencyByInstanceMs: Summary[]
	/** RSS and CPU are summed over the instances. */
	serverCpuUsPerDelivery: number
	databaseCpuUsPerDelivery: number
	cpu: CpuShares
	/** Publishes whose connection failed: stored or not, unknown. */
	publishErrors: number
	/** After the drain, the fewest and most events one subscriber got, of `expectedPerSub`. */
	minPerSub: number
	maxPerSub: number
	expectedPerSub: number
}

const CONNECT_CONCURRENCY = 64
const PUBLISHERS = 16
const SETTLE_MS = 1_000
const DRAIN_MS = 3_000

const log = (msg: string) => process.stderr.write(`    ${msg}\n`)

/** What precedes the publisher's timestamp in every timed event: its data's first key. */
export const MARK = Buffer.from('data: {"t":')
export const FRAME_END = Buffer.from('\n\n')
const DOT = 46

/** Reads the number after `data: {"t":` at `at` (digits and one dot). */
export function parseStamp(buf: Buffer, at: number): number {
	let whole = 0
	let i = at
	for (; i < buf.byteLength; i++) {
		const c = buf[i]
		if (c < 48 || c > 57) break
		whole = whole * 10 + (c - 48)
	}
	if (buf[i] !== DOT) return whole
	let frac = 0
	let scale = 1
	for (i++; i < buf.byteLength; i++) {
		const c = buf[i]
		if (c < 48 || c > 57) break
		frac = frac * 10 + (c - 48)
		scale *= 10
	}
	return whole + frac / scale
}

interface SubState extends SseState {
	carry: Buffer | null
	frames: number
	instance: number
}

export async function runFanout(job: FanoutJob): Promise<FanoutResult> {
	const endpoints = job.endpoints ?? [job.endpoint]
	const serverPids = job.serverPids ?? [job.serverPid]
	/** The publisher's instance. */
	const endpoint = endpoints[0]
	const instanceOf = (i: number) => i % endpoints.length
	const path = `/api/streaming/${job.stream}/stream`
	const publishPath = `/api/${job.stream}/events`
	const capacity = (subscribers: number) =>
		Math.ceil(subscribers * job.rate * job.measureS * 1.5) + 1000
	const latencies = new Samples(capacity(job.subscribers))
	const byInstance = endpoints.map(() => new Samples(capacity(job.subscribers / endpoints.length)))
	let recording = false
	let deliveredInWindow = 0

	// Counts only complete frames (up to the last blank line); a split frame waits in `carry`.
	const onBody = (state: SseState, chunk: Buffer) => {
		const s = state as SubState
		const buf = s.carry ? Buffer.concat([s.carry, chunk]) : chunk
		s.carry = null
		const end = buf.lastIndexOf(FRAME_END)
		if (end < 0) {
			s.carry = buf
			return
		}
		const received = now()
		for (let i = buf.indexOf(MARK); i >= 0 && i < end; i = buf.indexOf(MARK, i + MARK.byteLength)) {
			s.frames++
			if (recording) {
				deliveredInWindow++
				const latency = received - parseStamp(buf, i + MARK.byteLength)
				latencies.add(latency)
				byInstance[s.instance].add(latency)
			}
		}
		// What follows the last frame is either the chunk trailer `\r\n` or the start of a frame.
		if (buf.byteLength - (end + 2) > 2) s.carry = buf.subarray(end + 2)
	}

	const subscribe = async (i: number): Promise<SseConn> => {
		const instance = instanceOf(i)
		const conn = await openSse(endpoints[instance], path, onBody, {
			state: { carry: null, frames: 0, instance },
		})
		const status = await conn.head
		if (status !== 200) throw new Error(`subscribe answered ${status}`)
		return conn
	}

	// Warm the server's code paths on another stream, so the baseline RSS already includes them.
	const pub = await HttpConn.open(endpoint)
	for (let i = 0; i < 20; i++) {
		const r = await pub.request(
			postRequest(endpoint, '/api/agents/bench-warmup/events', '{"event":"progress","data":{}}'),
		)
		if (r.status !== 201) throw new Error(`warm-up publish answered ${r.status}: ${r.body}`)
	}
	const warm = await Promise.all(
		Array.from({ length: 10 }, (_, i) =>
			openSse(endpoints[instanceOf(i)], '/api/streaming/agents/bench-warmup/stream', () => {}),
		),
	)
	await Promise.all(warm.map((c) => c.head))
	for (const c of warm) c.socket.end()
	await Bun.sleep(SETTLE_MS)

	const rssBase = rssKiBOf(serverPids)
	const cpuConnect0 = cpuMicrosOf(serverPids)
	const tConnect0 = now()
	const conns: SseConn[] = []
	let next = 0
	await Promise.all(
		Array.from({ length: CONNECT_CONCURRENCY }, async () => {
			while (next < job.subscribers) conns.push(await subscribe(next++))
		}),
	)
	const connectS = (now() - tConnect0) / 1000
	const connectCpu = cpuMicrosOf(serverPids) - cpuConnect0
	log(`${conns.length} subscribers connected in ${connectS.toFixed(2)} s`)
	await Bun.sleep(SETTLE_MS)
	const rssIdle = rssKiBOf(serverPids)

	// Publishing: a fixed schedule, one event per request, from a small pool of keep-alive
	// connections so a slow 201 does not hold back the next tick. A tick with no free connection
	// is skipped and counted rather than queued, so the offered rate never exceeds the target.
	const idle: HttpConn[] = [pub]
	for (let i = 1; i < PUBLISHERS; i++) idle.push(await HttpConn.open(endpoint))
	const pool = [...idle]
	const publishLatency = new Samples(job.rate * (job.warmupS + job.measureS) + 100)
	let published = 0
	let skipped = 0
	let publishErrors = 0
	let failed: Error | undefined
	const tStart = now()
	const fire = (seq: number) => {
		let conn = idle.pop()
		while (conn?.closed) conn = idle.pop()
		if (!conn) {
			skipped++
			return
		}
		const sent = now()
		const body = `{"event":"progress","data":{"t":${sent},"step":"fanout","message":"tick ${seq}","progress":0.5}}`
		published++
		const used = conn
		used.request(postRequest(endpoint, publishPath, body)).then(
			(r) => {
				if (r.status !== 201) failed ??= new Error(`publish answered ${r.status}: ${r.body}`)
				publishLatency.add(now() - sent)
				idle.push(used)
			},
			// A keep-alive connection the server closed under us: whether that event was stored is
			// unknown, so it is counted apart, and the connection is replaced.
			(error: Error) => {
				publishErrors++
				log(`publish ${seq} failed at ${((now() - tStart) / 1000).toFixed(1)} s: ${error.message}`)
				HttpConn.open(endpoint).then(
					(fresh) => {
						pool.push(fresh)
						idle.push(fresh)
					},
					(e) => {
						failed ??= e
					},
				)
			},
		)
	}

	const period = 1000 / job.rate
	const tWindow = tStart + job.warmupS * 1000
	const tEnd = tWindow + job.measureS * 1000
	let before: CpuSnapshot | undefined
	let after: CpuSnapshot | undefined
	let publishedInWindow = 0
	for (let seq = 0, due = tStart; ; seq++, due += period) {
		const t = now()
		if (!before && t >= tWindow) {
			before = snapshot(serverPids, job.databasePid)
			publishedInWindow = published
			recording = true
		}
		if (t >= tEnd) {
			recording = false
			after = snapshot(serverPids, job.databasePid)
			publishedInWindow = published - publishedInWindow
			break
		}
		if (failed) throw failed
		if (due > t) await Bun.sleep(due - t)
		fire(seq)
	}
	log(`published ${published} (${skipped} ticks skipped: no free connection); draining`)
	// A failed publish may or may not have been stored; every subscriber must still agree.
	const counts = () => conns.map((c) => (c.socket.data as SubState).frames)
	const drainUntil = now() + DRAIN_MS
	while (now() < drainUntil && Math.min(...counts()) < published - publishErrors)
		await Bun.sleep(50)
	await Bun.sleep(100)
	const perSub = counts()

	const cpu = shares(before ?? after, after)
	const deliveries = deliveredInWindow
	for (const c of conns) c.socket.end()
	for (const c of pool) c.close()
	return {
		subscribers: job.subscribers,
		connected: conns.length,
		connectS,
		connectCpuUsPerSub: connectCpu / job.subscribers,
		rssIdleKiB: rssIdle,
		rssBaseKiB: rssBase,
		rssPerSubKiB: (rssIdle - rssBase) / job.subscribers,
		published,
		publishSkipped: skipped,
		publishErrors,
		publishRatePerS: publishedInWindow / cpu.seconds,
		publishLatencyMs: publishLatency.summary(),
		deliveredPerS: deliveries / cpu.seconds,
		latencyMs: latencies.summary(),
		latencyByInstanceMs: byInstance.map((l) => l.summary()),
		serverCpuUsPerDelivery: cpu.serverUs / Math.max(1, deliveries),
		databaseCpuUsPerDelivery: cpu.databaseUs / Math.max(1, deliveries),
		cpu,
		minPerSub: Math.min(...perSub),
		maxPerSub: Math.max(...perSub),
		expectedPerSub: published - publishErrors,
	}
}

if (import.meta.main) {
	const job = JSON.parse(process.argv[2] ?? '') as FanoutJob
	const result = await runFanout(job)
	process.stdout.write(`${JSON.stringify(result)}\n`)
	process.exit(0)
}
