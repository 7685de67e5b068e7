/**
 * Stalled-subscriber load generator, run in its own process (pinned away from the server):
 *
 *   bun bench/stalled.ts '<StalledJob as JSON>'
 *
 * Builds a backlog on one open agent stream, then opens subscribers from its start that never
 * read (node:net sockets paused before the GET is written: the kernel buffers fill and then the
 * server's writes wait), and one live subscriber that reads. The stream then grows by as much
 * again on a fixed schedule while the live one times every new event; the server's RSS is read
 * before the stalled ones, with them, and after the server has dropped them. Prints one JSON
 * line (StalledResult) on stdout; progress goes to stderr.
 */
import { connect, type Socket } from 'node:net'
import { type Endpoint, getRequest, HttpConn, postRequest } from './http.ts'
import { type CpuShares, now, rssKiB, shares, snapshot } from './proc.ts'
import { openSse, type SseState } from './sse-client.ts'
import { Samples, type Summary } from './stats.ts'
import { FRAME_END, MARK, parseStamp } from './subscribers.ts'

export interface StalledJob {
	endpoint: Endpoint
	serverPid: number
	stream: string
	/** Bytes of `data` per event: the size the backlog and the growth are counted in. */
	eventBytes: number
	/** Events in the backlog, and again in the growth. */
	events: number
	backlogBatch: number
	stalled: number
	/** The growth: `growthBatch` events a request, one request every `growthPeriodMs`. */
	growthBatch: number
	growthPeriodMs: number
	/** Time for the kernel buffers of the stalled sockets to fill before the growth. */
	fillS: number
	/** How long to wait for the server to drop the stalled subscribers, from the growth's end. */
	dropBoundS: number
}

export interface StalledResult {
	backlogEvents: number
	backlogBytes: number
	backlogS: number
	rssBeforeKiB: number
	/** Stalled sockets whose TCP connect succeeded, and the open streams the server counted. */
	connected: number
	connectS: number
	openStreamsSeen: number
	rssStalledKiB: number
	growthEvents: number
	growthS: number
	/** Ticks that went out more than a period late: no free publish connection. */
	growthLateTicks: number
	growthCpu: CpuShares
	latencyMs: Summary
	readerEvents: number
	rssAfterGrowthKiB: number
	openStreamsAfterGrowth: number
	dropped: number
	/** From the growth's end to the first sight of the last drop; null when none was seen. */
	dropS: number | null
	/** The same for the last change of the open streams: the dropped connections closing. */
	closeS: number | null
	dropWaitS: number
	openStreamsLeft: number
	rssAfterDropsKiB: number
	destroyed: number
}

const CONNECT_CONCURRENCY = 64
const PUBLISHERS = 4
const SETTLE_MS = 2_000
const POLL_MS = 250
/** More than one 15 s heartbeat without a new drop: the server drops on its heartbeat tick. */
const DROPS_STILL_MS = 20_000

const log = (msg: string) => process.stderr.write(`    ${msg}\n`)

/** `{"t":<now>,"message":"xx…"}`, padded to exactly `bytes` of JSON. */
function eventData(bytes: number) {
	const head = `{"t":${now()},"message":"`
	return `${head}${'x'.repeat(Math.max(0, bytes - head.length - 2))}"}`
}

const batchBody = (n: number, bytes: number) =>
	`[${Array.from({ length: n }, () => `{"event":"progress","data":${eventData(bytes)}}`).join(',')}]`

async function metrics(endpoint: Endpoint): Promise<Record<string, number>> {
	const res = await fetch(`http://${endpoint.host}:${endpoint.port}/metrics`, {
		signal: AbortSignal.timeout(10_000),
	})
	const out: Record<string, number> = {}
	for (const line of (await res.text()).split('\n')) {
		const match = /^(cortex_[a-z_]+) (\S+)$/.exec(line)
		if (match) out[match[1]] = Number(match[2])
	}
	return out
}

/**
 * Paused before the GET goes out, so not one byte of the response is ever taken off the socket.
 * Kept in `sockets` from the start, so that it is destroyed whatever happens to its connect.
 */
function stalledSocket(job: StalledJob, sockets: Socket[]): Promise<void> {
	const { promise, resolve, reject } = Promise.withResolvers<void>()
	const socket = connect(job.endpoint.port, job.endpoint.host)
	sockets.push(socket)
	socket.pause()
	socket.once('connect', () => resolve())
	// The server ends a dropped subscriber's connection; a paused socket may see that as a reset.
	socket.on('error', (error) => reject(error))
	socket.write(
		getRequest(job.endpoint, `/api/streaming/${job.stream}/stream`, { 'Last-Event-ID': '0' }),
	)
	return promise
}

interface ReaderState extends SseState {
	carry: Buffer | null
	frames: number
}

export async function runStalled(job: StalledJob): Promise<StalledResult> {
	const { endpoint } = job
	const publishPath = `/api/${job.stream}/events`

	// The backlog: no terminal event, so the stream stays open and the server keeps following it.
	const builders = await Promise.all(
		Array.from({ length: PUBLISHERS }, () => HttpConn.open(endpoint)),
	)
	const t0 = now()
	let queued = 0
	let lastId = 0
	await Promise.all(
		builders.map(async (conn) => {
			while (queued < job.events) {
				const n = Math.min(job.backlogBatch, job.events - queued)
				queued += n
				const r = await conn.request(
					postRequest(endpoint, publishPath, batchBody(n, job.eventBytes)),
				)
				if (r.status !== 201)
					throw new Error(`publish answered ${r.status}: ${r.body.slice(0, 200)}`)
				const id = Number(/(\d+)\]\}$/.exec(r.body)?.[1])
				if (id > lastId) lastId = id
			}
		}),
	)
	const backlogS = (now() - t0) / 1000
	log(`backlog: ${lastId} events of ${job.eventBytes} bytes in ${backlogS.toFixed(1)} s`)
	await Bun.sleep(SETTLE_MS)
	const rssBefore = rssKiB(job.serverPid)

	const sockets: Socket[] = []
	const destroyAll = () => {
		for (const s of sockets) s.destroy()
	}
	try {
		const tConnect = now()
		let next = 0
		await Promise.all(
			Array.from({ length: CONNECT_CONCURRENCY }, async () => {
				while (next < job.stalled) {
					next++
					await stalledSocket(job, sockets)
				}
			}),
		)
		const connectS = (now() - tConnect) / 1000
		log(`${sockets.length} stalled subscribers connected in ${connectS.toFixed(1)} s`)

		// The reader starts at the backlog's end, so every event it gets is one of the growth.
		const latencies = new Samples(job.events + 1000)
		const onBody = (state: SseState, chunk: Buffer) => {
			const s = state as ReaderState
			const buf = s.carry ? Buffer.concat([s.carry, chunk]) : chunk
			s.carry = null
			const end = buf.lastIndexOf(FRAME_END)
			if (end < 0) {
				s.carry = buf
				return
			}
			const received = now()
			for (
				let i = buf.indexOf(MARK);
				i >= 0 && i < end;
				i = buf.indexOf(MARK, i + MARK.byteLength)
			) {
				s.frames++
				latencies.add(received - parseStamp(buf, i + MARK.byteLength))
			}
			if (buf.byteLength - (end + 2) > 2) s.carry = buf.subarray(end + 2)
		}
		const reader = await openSse(endpoint, `/api/streaming/${job.stream}/stream`, onBody, {
			headers: { 'Last-Event-ID': String(lastId) },
			state: { carry: null, frames: 0 },
		})
		if ((await reader.head) !== 200) throw new Error('the reading subscriber was refused')
		const readerState = reader.socket.data as ReaderState

		const expectedOpen = job.stalled + 1
		const openUntil = now() + 30_000
		let openStreamsSeen = 0
		while (now() < openUntil) {
			openStreamsSeen = (await metrics(endpoint)).cortex_open_streams ?? 0
			if (openStreamsSeen >= expectedOpen) break
			await Bun.sleep(POLL_MS)
		}
		log(`server counts ${openStreamsSeen} open streams; ${job.fillS} s for the buffers to fill`)
		await Bun.sleep(job.fillS * 1000)
		const rssStalled = rssKiB(job.serverPid)

		// The growth, on a fixed schedule; each request's events carry the time it was written.
		// Fresh connections: the server closes keep-alive ones left idle through the wait above.
		for (const c of builders) c.close()
		const publishers = await Promise.all(
			Array.from({ length: PUBLISHERS }, () => HttpConn.open(endpoint)),
		)
		const idle = [...publishers]
		const waiters: ((conn: HttpConn) => void)[] = []
		const release = (conn: HttpConn) => {
			const waiter = waiters.shift()
			if (waiter) waiter(conn)
			else idle.push(conn)
		}
		const take = () =>
			idle.pop() ?? new Promise<HttpConn>((resolve) => waiters.push((conn) => resolve(conn)))
		const ticks = Math.ceil(job.events / job.growthBatch)
		const inFlight: Promise<void>[] = []
		let late = 0
		let failed: Error | undefined
		const cpu0 = snapshot(job.serverPid)
		const tGrowth = now()
		for (let tick = 0; tick < ticks && !failed; tick++) {
			const due = tGrowth + tick * job.growthPeriodMs
			if (due > now()) await Bun.sleep(due - now())
			const conn = await take()
			if (now() - due > job.growthPeriodMs) late++
			const n = Math.min(job.growthBatch, job.events - tick * job.growthBatch)
			inFlight.push(
				conn.request(postRequest(endpoint, publishPath, batchBody(n, job.eventBytes))).then(
					(r) => {
						if (r.status !== 201) failed ??= new Error(`publish answered ${r.status}: ${r.body}`)
						release(conn)
					},
					(error: Error) => {
						failed ??= error
					},
				),
			)
		}
		await Promise.all(inFlight)
		if (failed) throw failed
		const growthEnd = now()
		const growthCpu = shares(cpu0, snapshot(job.serverPid))
		const growthS = (growthEnd - tGrowth) / 1000
		log(`grew by ${job.events} events in ${growthS.toFixed(1)} s (${late} ticks late)`)
		const drainUntil = now() + 10_000
		while (readerState.frames < job.events && now() < drainUntil) await Bun.sleep(50)
		await Bun.sleep(SETTLE_MS)
		const rssAfterGrowth = rssKiB(job.serverPid)
		const openStreamsAfterGrowth = (await metrics(endpoint)).cortex_open_streams ?? 0
		log(`reader has ${readerState.frames} events; waiting for the drops`)

		// Bounded: the server drops on its heartbeat tick, so counts that have not moved for more
		// than a heartbeat are final, even short of every stalled subscriber dropped and closed.
		const dropUntil = growthEnd + job.dropBoundS * 1000
		let dropped = 0
		let open = openStreamsAfterGrowth
		let droppedAt: number | null = null
		let closedAt: number | null = null
		let changedAt = now()
		while (now() < dropUntil) {
			const m = await metrics(endpoint)
			const count = m.cortex_slow_subscribers_dropped_total ?? 0
			const streams = m.cortex_open_streams ?? 0
			if (count !== dropped) {
				dropped = count
				droppedAt = now()
				changedAt = droppedAt
			}
			if (streams !== open) {
				open = streams
				closedAt = now()
				changedAt = closedAt
			}
			if (dropped >= job.stalled && open <= 1) break
			if (dropped > 0 && now() - changedAt > DROPS_STILL_MS) break
			await Bun.sleep(POLL_MS)
		}
		const dropWaitS = (now() - growthEnd) / 1000
		log(`${dropped} dropped, ${open} streams open after ${dropWaitS.toFixed(0)} s`)
		await Bun.sleep(SETTLE_MS)
		const openStreamsLeft = (await metrics(endpoint)).cortex_open_streams ?? 0
		const rssAfterDrops = rssKiB(job.serverPid)
		reader.socket.end()
		for (const c of publishers) c.close()
		destroyAll()
		return {
			backlogEvents: lastId,
			backlogBytes: lastId * job.eventBytes,
			backlogS,
			rssBeforeKiB: rssBefore,
			connected: sockets.length,
			connectS,
			openStreamsSeen,
			rssStalledKiB: rssStalled,
			growthEvents: job.events,
			growthS,
			growthLateTicks: late,
			growthCpu,
			latencyMs: latencies.summary(),
			readerEvents: readerState.frames,
			rssAfterGrowthKiB: rssAfterGrowth,
			openStreamsAfterGrowth,
			dropped,
			dropS: droppedAt === null ? null : (droppedAt - growthEnd) / 1000,
			closeS: closedAt === null ? null : (closedAt - growthEnd) / 1000,
			dropWaitS,
			openStreamsLeft,
			rssAfterDropsKiB: rssAfterDrops,
			destroyed: sockets.filter((s) => s.destroyed).length,
		}
	} finally {
		destroyAll()
	}
}

if (import.meta.main) {
	const job = JSON.parse(process.argv[2] ?? '') as StalledJob
	const result = await runStalled(job)
	process.stdout.write(`${JSON.stringify(result)}\n`)
	process.exit(0)
}
