/**
 * Resume load generator, run in its own process (pinned away from the server):
 *
 *   bun bench/resume.ts '<ResumeJob as JSON>'
 *
 * Builds one long agent stream through the publish API (batches of 1,000, no terminal event, so
 * the stream stays open), then measures what a reconnecting client waits for: the first event
 * after a Last-Event-ID near the end, a full replay from 0, and the same replay through the
 * feed (`/api/streaming/events`, which reads every stream's events). Then, with `interleaved`, the
 * replay of a stream written the way agents usually write: one event per POST, among other
 * streams written at the same time. Prints one JSON line.
 */
import { type Endpoint, HttpConn, postRequest } from './http.ts'
import { EVENT } from './ingest.ts'
import { cpuMicros, now, shares, snapshot } from './proc.ts'
import { ID_LINE, openSse, StreamCounter } from './sse-client.ts'
import { median } from './stats.ts'

export interface ResumeJob {
	endpoint: Endpoint
	serverPid: number
	stream: string
	total: number
	batch: number
	/** Publish requests in flight while building. */
	concurrency: number
	buildTimeoutS: number
	ttfeRuns: number
	/** How far before the last event the TTFE subscribers resume. */
	ttfeBehind: number
	replayRuns: number
	replayTimeoutS: number
	/** `streams` clients publish `eventsEach` single events to a stream each, all at once. */
	interleaved?: { streams: number; eventsEach: number }
}

export interface ResumeResult {
	events: number
	buildS: number
	buildEventsPerS: number
	buildServerCpuUsPerEvent: number
	/** True when the time bound stopped the build short of `total`. */
	buildTruncated: boolean
	ttfeFromId: number
	/** From writing the GET on an open connection to the first `id:` line. */
	ttfeMs: { median: number; min: number; max: number; runs: number[] }
	/** The same, with the TCP connect included. */
	ttfeWithConnectMs: { median: number; min: number; max: number }
	replayEventsPerS: number[]
	replayMs: number[]
	replayServerCpuUsPerEvent: number[]
	replayClientCpuPct: number[]
	replayOtherCpuPct: number[]
	/** The feed from cursor 0 (it holds just the stream then). */
	feedReplayEventsPerS: number[]
	interleaved?: {
		streams: number
		/** Events in the replayed stream (the first of them). */
		events: number
		buildS: number
		replayEventsPerS: number[]
	}
}

const log = (msg: string) => process.stderr.write(`    ${msg}\n`)

async function build(job: ResumeJob, endpoint: Endpoint) {
	const batches = Math.ceil(job.total / job.batch)
	const body = `[${Array.from({ length: job.batch }, () => EVENT).join(',')}]`
	const request = postRequest(endpoint, `/api/${job.stream}/events`, body)
	const conns = await Promise.all(
		Array.from({ length: job.concurrency }, () => HttpConn.open(endpoint)),
	)
	const t0 = now()
	const cpu0 = cpuMicros(job.serverPid)
	const deadline = t0 + job.buildTimeoutS * 1000
	let sent = 0
	let lastId = 0
	let nextReport = t0 + 10_000
	await Promise.all(
		conns.map(async (conn) => {
			while (sent < batches && now() < deadline) {
				sent++
				const r = await conn.request(request)
				if (r.status !== 201)
					throw new Error(`publish answered ${r.status}: ${r.body.slice(0, 200)}`)
				const id = Number(/(\d+)\]\}$/.exec(r.body)?.[1])
				if (id > lastId) lastId = id
				if (now() > nextReport) {
					nextReport += 10_000
					log(`built ${lastId.toLocaleString('en-US')} events`)
				}
			}
		}),
	)
	const buildS = (now() - t0) / 1000
	const cpu = cpuMicros(job.serverPid) - cpu0
	for (const c of conns) c.close()
	return { lastId, buildS, cpuUsPerEvent: cpu / lastId }
}

/** Single-event POSTs to `streams` streams at once; returns how many the first one holds. */
async function buildInterleaved(job: ResumeJob, streams: number, eventsEach: number) {
	const conns = await Promise.all(
		Array.from({ length: streams }, () => HttpConn.open(job.endpoint)),
	)
	const t0 = now()
	const deadline = t0 + job.buildTimeoutS * 1000
	const counts = await Promise.all(
		conns.map(async (conn, i) => {
			const request = postRequest(job.endpoint, `/api/${job.stream}-${i}/events`, EVENT)
			let n = 0
			while (n < eventsEach && now() < deadline) {
				const r = await conn.request(request)
				if (r.status !== 201)
					throw new Error(`publish answered ${r.status}: ${r.body.slice(0, 200)}`)
				n++
			}
			return n
		}),
	)
	for (const c of conns) c.close()
	return { lastId: counts[0], buildS: (now() - t0) / 1000 }
}

/** One subscriber resuming after `from`: ms to its first `id:` line, without and with connect. */
async function timeToFirstEvent(job: ResumeJob, from: number) {
	const tConnect = now()
	let tSend = 0
	const { promise, resolve } = Promise.withResolvers<number>()
	const counter = new StreamCounter(ID_LINE)
	const conn = await openSse(
		job.endpoint,
		`/api/streaming/${job.stream}/stream`,
		(_, bytes) => {
			if (counter.count(bytes) > 0) resolve(now())
		},
		{
			headers: { 'Last-Event-ID': String(from) },
			beforeSend: () => {
				tSend = now()
			},
		},
	)
	const status = await conn.head
	if (status !== 200) throw new Error(`resume answered ${status}`)
	const first = await promise
	conn.socket.end()
	return { ms: first - tSend, withConnect: first - tConnect }
}

/** A full replay from 0 of `path`: counts `id:` lines until `lastId` of them have arrived. */
async function replay(job: ResumeJob, path: string, lastId: number) {
	const counter = new StreamCounter(ID_LINE)
	let seen = 0
	let t0 = 0
	const { promise, resolve, reject } = Promise.withResolvers<number>()
	const timer = setTimeout(
		() => reject(new Error(`replay timed out after ${seen} events`)),
		job.replayTimeoutS * 1000,
	)
	const before = snapshot(job.serverPid)
	const conn = await openSse(
		job.endpoint,
		path,
		(_, bytes) => {
			seen += counter.count(bytes)
			if (seen >= lastId) resolve(now())
		},
		{
			headers: { 'Last-Event-ID': '0' },
			beforeSend: () => {
				t0 = now()
			},
		},
	)
	const status = await conn.head
	if (status !== 200) throw new Error(`replay answered ${status}`)
	const done = await promise
	clearTimeout(timer)
	const cpu = shares(before, snapshot(job.serverPid))
	conn.socket.end()
	const ms = done - t0
	return {
		ms,
		eventsPerS: lastId / (ms / 1000),
		serverCpuUsPerEvent: cpu.serverUs / lastId,
		clientCpuPct: cpu.clientPct,
		otherCpuPct: cpu.otherPct,
	}
}

export async function runResume(job: ResumeJob): Promise<ResumeResult> {
	const built = await build(job, job.endpoint)
	log(
		`built ${built.lastId.toLocaleString('en-US')} events in ${built.buildS.toFixed(1)} s` +
			(built.lastId < job.total ? ' (STOPPED BY THE TIME BOUND)' : ''),
	)
	const from = Math.max(0, built.lastId - job.ttfeBehind)
	const runs: { ms: number; withConnect: number }[] = []
	for (let i = 0; i < job.ttfeRuns; i++) runs.push(await timeToFirstEvent(job, from))
	const ms = runs.map((r) => r.ms)
	const withConnect = runs.map((r) => r.withConnect)
	const replays: Awaited<ReturnType<typeof replay>>[] = []
	for (let i = 0; i < job.replayRuns; i++) {
		replays.push(await replay(job, `/api/streaming/${job.stream}/stream`, built.lastId))
		log(`replay ${i + 1}: ${replays[i].ms.toFixed(0)} ms`)
	}
	const feedReplays: Awaited<ReturnType<typeof replay>>[] = []
	for (let i = 0; i < job.replayRuns; i++) {
		feedReplays.push(await replay(job, '/api/streaming/events', built.lastId))
		log(`feed replay ${i + 1}: ${feedReplays[i].ms.toFixed(0)} ms`)
	}
	let interleaved: ResumeResult['interleaved']
	if (job.interleaved) {
		const { streams, eventsEach } = job.interleaved
		const mixed = await buildInterleaved(job, streams, eventsEach)
		log(`built ${streams} streams of single events in ${mixed.buildS.toFixed(1)} s`)
		const runs: Awaited<ReturnType<typeof replay>>[] = []
		for (let i = 0; i < job.replayRuns; i++)
			runs.push(await replay(job, `/api/streaming/${job.stream}-0/stream`, mixed.lastId))
		interleaved = {
			streams,
			events: mixed.lastId,
			buildS: mixed.buildS,
			replayEventsPerS: runs.map((r) => r.eventsPerS),
		}
	}
	return {
		interleaved,
		events: built.lastId,
		buildS: built.buildS,
		buildEventsPerS: built.lastId / built.buildS,
		buildServerCpuUsPerEvent: built.cpuUsPerEvent,
		buildTruncated: built.lastId < job.total,
		ttfeFromId: from,
		ttfeMs: { median: median(ms), min: Math.min(...ms), max: Math.max(...ms), runs: ms },
		ttfeWithConnectMs: {
			median: median(withConnect),
			min: Math.min(...withConnect),
			max: Math.max(...withConnect),
		},
		replayEventsPerS: replays.map((r) => r.eventsPerS),
		replayMs: replays.map((r) => r.ms),
		replayServerCpuUsPerEvent: replays.map((r) => r.serverCpuUsPerEvent),
		replayClientCpuPct: replays.map((r) => r.clientCpuPct),
		replayOtherCpuPct: replays.map((r) => r.otherCpuPct),
		feedReplayEventsPerS: feedReplays.map((r) => r.eventsPerS),
	}
}

if (import.meta.main) {
	const job = JSON.parse(process.argv[2] ?? '') as ResumeJob
	const result = await runResume(job)
	process.stdout.write(`${JSON.stringify(result)}\n`)
	process.exit(0)
}
