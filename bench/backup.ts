/**
 * Backup load generator, run in its own process (pinned away from the server):
 *
 *   bun bench/backup.ts '<BackupJob as JSON>'
 *
 * Fills the database through the publish API (batches of 1,000 events of about 1 KB), then
 * asks for `backups` backups one after another, a second apart, reading each whole, while one
 * client publishes single events throughout. Writes the file `done` when it has finished, for
 * the probe beside it. Prints one JSON line.
 */
import { writeFileSync } from 'node:fs'
import { type Endpoint, HttpConn, postRequest } from './http.ts'

export interface BackupJob {
	endpoint: Endpoint
	/** Megabytes of event data to publish before the first backup. */
	mb: number
	backups: number
	/** Written when the backups are over. */
	done: string
}

export interface BackupRun {
	/** Epoch ms: asked, response head, last byte. */
	askedAt: number
	headAt: number
	endAt: number
	bytes: number
}

export interface BackupResult {
	buildS: number
	runs: BackupRun[]
	/** [start, epoch ms; latency, ms] of every single-event publish during the backup phase. */
	publishes: [number, number][]
}

const job = JSON.parse(process.argv[2] ?? '{}') as BackupJob
const { endpoint } = job
const epoch = () => performance.timeOrigin + performance.now()

const builder = await HttpConn.open(endpoint)
const message = 'x'.repeat(1000)
const batch = postRequest(
	endpoint,
	'/api/agents/filler/events',
	JSON.stringify(Array.from({ length: 1000 }, () => ({ event: 'progress', data: { message } }))),
)
const t0 = performance.now()
for (let i = 0; i < job.mb; i++) {
	const res = await builder.request(batch)
	if (res.status !== 201) throw new Error(`a batch answered ${res.status}`)
}
const buildS = (performance.now() - t0) / 1000
builder.close()
console.error(`    built ${job.mb} MB of events in ${buildS.toFixed(1)} s`)

const publisher = await HttpConn.open(endpoint)
const single = postRequest(endpoint, '/api/agents/live/events', '{"event":"progress"}')
const publishes: [number, number][] = []
let publishing = true
const publishLoop = (async () => {
	while (publishing) {
		const start = epoch()
		const res = await publisher.request(single)
		if (res.status !== 201) throw new Error(`a publish answered ${res.status}`)
		publishes.push([start, epoch() - start])
	}
})()

const runs: BackupRun[] = []
for (let i = 0; i < job.backups; i++) {
	await Bun.sleep(1000)
	const askedAt = epoch()
	const res = await fetch(`http://${endpoint.host}:${endpoint.port}/api/admin/backup`, {
		method: 'POST',
		headers: { authorization: `Bearer ${endpoint.token}` },
	})
	const headAt = epoch()
	if (res.status !== 200) throw new Error(`a backup answered ${res.status}`)
	let bytes = 0
	for await (const chunk of res.body as ReadableStream<Uint8Array>) bytes += chunk.byteLength
	runs.push({ askedAt, headAt, endAt: epoch(), bytes })
	console.error(`    backup ${i + 1}: ${(bytes / 1e6).toFixed(0)} MB`)
}
await Bun.sleep(1000)
publishing = false
await publishLoop
publisher.close()
writeFileSync(job.done, '')
console.log(JSON.stringify({ buildS, runs, publishes } satisfies BackupResult))
