/**
 * Streams load generator, run in its own process (pinned away from the server):
 *
 *   bun bench/streams.ts '<StreamsJob as JSON>'
 *
 * Creates many short, ended streams (half agent executions, half workflow runs, each one
 * request of a few events ending in a terminal one) over keep-alive connections, reads both
 * lists once, waits for them to age past the server's retention, prunes, and reads the server's
 * RSS before, at the peak and after. Prints one JSON line (StreamsResult) on stdout; progress
 * goes to stderr.
 */
import { type Endpoint, HttpConn, postRequest } from './http.ts'
import { now, rssKiB } from './proc.ts'

export interface StreamsJob {
	endpoint: Endpoint
	serverPid: number
	/** Agent streams, and as many workflow runs. */
	each: number
	clients: number
	createBoundS: number
	/** How long to wait after the lists for every stream to be older than the retention. */
	ageMs: number
	listBoundS: number
	pruneBoundS: number
}

export interface ListRead {
	path: string
	status: number
	bytes: number
	items: number
	ms: number
	error?: string
}

export interface StreamsResult {
	created: number
	createS: number
	/** True when the time bound stopped the creation short. */
	createTruncated: boolean
	requestsPerS: number
	rssBeforeKiB: number
	rssCreatedKiB: number
	rssListedKiB: number
	lists: ListRead[]
	prune: { prunedEvents: number; prunedStreams: number } | null
	pruneMs: number
	pruneError?: string
	/** Sampled every 100 ms while the prune ran. */
	rssPruneMaxKiB: number
	rssAfterKiB: number
}

const SETTLE_MS = 1_000
const AFTER_PRUNE_SETTLE_MS = 3_000

const log = (msg: string) => process.stderr.write(`    ${msg}\n`)

const AGENT =
	'[{"event":"progress","data":{"step":"plan","message":"working","progress":0.5}},' +
	'{"event":"complete","data":{"result":"ok","duration":1200}}]'
const WORKFLOW =
	'[{"event":"step_start","data":{"stepId":"s1","name":"fetch","agent":"fetcher"}},' +
	'{"event":"step_complete","data":{"stepId":"s1","result":"ok","duration":40}},' +
	'{"event":"complete","data":{"duration":50}}]'

const base = (endpoint: Endpoint) => `http://${endpoint.host}:${endpoint.port}`
const auth = (endpoint: Endpoint) => ({ authorization: `Bearer ${endpoint.token}` })

/**
 * The first page of a list; `limit` is asked for, and a server that does not know it ignores it.
 * Read with fetch: the body may be megabytes, which the bare client would concatenate per chunk.
 */
async function readList(job: StreamsJob, kind: 'agents' | 'workflows'): Promise<ListRead> {
	const path = `/api/${kind}?limit=1000`
	const t0 = now()
	try {
		const res = await fetch(`${base(job.endpoint)}${path}`, {
			headers: auth(job.endpoint),
			signal: AbortSignal.timeout(job.listBoundS * 1000),
		})
		const text = await res.text()
		const ms = now() - t0
		let items = 0
		if (res.status === 200) {
			const list = (JSON.parse(text) as Record<string, unknown>)[kind]
			items = Array.isArray(list) ? list.length : 0
		}
		return { path, status: res.status, bytes: Buffer.byteLength(text), items, ms }
	} catch (error) {
		return { path, status: 0, bytes: 0, items: 0, ms: now() - t0, error: String(error) }
	}
}

async function create(job: StreamsJob) {
	const conns = await Promise.all(
		Array.from({ length: job.clients }, () => HttpConn.open(job.endpoint)),
	)
	const total = job.each * 2
	const t0 = now()
	const deadline = t0 + job.createBoundS * 1000
	let next = 0
	let done = 0
	let nextReport = t0 + 10_000
	await Promise.all(
		conns.map(async (conn) => {
			while (next < total && now() < deadline) {
				const i = next++
				// Alternating, so a truncated run still has both kinds in equal numbers.
				const n = i >> 1
				const request =
					i % 2 === 0
						? postRequest(job.endpoint, `/api/agents/agent-${n}/events`, AGENT)
						: postRequest(job.endpoint, `/api/workflows/run-${n}/events`, WORKFLOW)
				const r = await conn.request(request)
				if (r.status !== 201)
					throw new Error(`publish answered ${r.status}: ${r.body.slice(0, 200)}`)
				done++
				if (now() > nextReport) {
					nextReport += 10_000
					log(`created ${done.toLocaleString('en-US')} streams`)
				}
			}
		}),
	)
	const createS = (now() - t0) / 1000
	for (const c of conns) c.close()
	return { created: done, createS }
}

/** Code paths warmed on open streams (no terminal event), which retention leaves alone. */
async function warmUp(job: StreamsJob) {
	const conn = await HttpConn.open(job.endpoint)
	for (const [path, body] of [
		['/api/agents/warm-up/events', '{"event":"progress","data":{"step":"warm"}}'],
		['/api/workflows/warm-up/events', '{"event":"step_start","data":{"stepId":"s1"}}'],
	])
		for (let i = 0; i < 20; i++) {
			const r = await conn.request(postRequest(job.endpoint, path, body))
			if (r.status !== 201) throw new Error(`warm-up publish answered ${r.status}: ${r.body}`)
		}
	conn.close()
	await readList(job, 'agents')
	await readList(job, 'workflows')
	await prune(job)
}

async function prune(job: StreamsJob) {
	const t0 = now()
	try {
		const res = await fetch(`${base(job.endpoint)}/api/admin/prune`, {
			method: 'POST',
			headers: auth(job.endpoint),
			signal: AbortSignal.timeout(job.pruneBoundS * 1000),
		})
		const text = await res.text()
		if (res.status !== 200) throw new Error(`prune answered ${res.status}: ${text.slice(0, 200)}`)
		return {
			answer: JSON.parse(text) as { prunedEvents: number; prunedStreams: number },
			ms: now() - t0,
		}
	} catch (error) {
		return { answer: null, ms: now() - t0, error: String(error) }
	}
}

export async function runStreams(job: StreamsJob): Promise<StreamsResult> {
	await warmUp(job)
	await Bun.sleep(SETTLE_MS)
	const rssBefore = rssKiB(job.serverPid)

	const { created, createS } = await create(job)
	log(`created ${created.toLocaleString('en-US')} streams in ${createS.toFixed(1)} s`)
	await Bun.sleep(SETTLE_MS)
	const rssCreated = rssKiB(job.serverPid)

	const lists = [await readList(job, 'agents'), await readList(job, 'workflows')]
	for (const l of lists)
		log(`${l.path}: ${l.status}, ${l.items} items, ${l.bytes} bytes in ${l.ms.toFixed(0)} ms`)
	await Bun.sleep(SETTLE_MS)
	const rssListed = rssKiB(job.serverPid)

	await Bun.sleep(job.ageMs)
	// The prune may itself allocate: its highest RSS says whether the figure after is a trough.
	let rssPruneMax = rssKiB(job.serverPid)
	const sampler = setInterval(() => {
		rssPruneMax = Math.max(rssPruneMax, rssKiB(job.serverPid))
	}, 100)
	const pruned = await prune(job)
	clearInterval(sampler)
	log(`prune: ${JSON.stringify(pruned.answer ?? pruned.error)} in ${pruned.ms.toFixed(0)} ms`)
	await Bun.sleep(AFTER_PRUNE_SETTLE_MS)
	const rssAfter = rssKiB(job.serverPid)

	return {
		created,
		createS,
		createTruncated: created < job.each * 2,
		requestsPerS: created / createS,
		rssBeforeKiB: rssBefore,
		rssCreatedKiB: rssCreated,
		rssListedKiB: rssListed,
		lists,
		prune: pruned.answer,
		pruneMs: pruned.ms,
		pruneError: pruned.error,
		rssPruneMaxKiB: rssPruneMax,
		rssAfterKiB: rssAfter,
	}
}

if (import.meta.main) {
	const job = JSON.parse(process.argv[2] ?? '') as StreamsJob
	const result = await runStreams(job)
	process.stdout.write(`${JSON.stringify(result)}\n`)
	process.exit(0)
}
