/**
 * Responsiveness probe, run in its own process beside another load generator:
 *
 *   bun bench/probe.ts '<ProbeJob as JSON>'
 *
 * Sends `GET path` on one keep-alive connection every `intervalMs` until the file `until`
 * exists, and prints every answer's start (epoch ms) and latency: a server whose event loop is
 * held answers late, whatever the other load is doing. Prints one JSON line.
 */
import { existsSync } from 'node:fs'
import { type Endpoint, getRequest, HttpConn } from './http.ts'

export interface ProbeJob {
	endpoint: Endpoint
	path: string
	intervalMs: number
	/** Stop once this file exists. */
	until: string
	/** And at the latest after this long. */
	boundS: number
}

export interface ProbeResult {
	/** [start, epoch ms; latency, ms] of every request. */
	samples: [number, number][]
}

const job = JSON.parse(process.argv[2] ?? '{}') as ProbeJob
const conn = await HttpConn.open(job.endpoint)
const request = getRequest(job.endpoint, job.path)
const samples: [number, number][] = []
const deadline = Date.now() + job.boundS * 1000
while (!existsSync(job.until) && Date.now() < deadline) {
	const start = performance.now()
	const res = await conn.request(request)
	if (res.status !== 200) throw new Error(`${job.path} answered ${res.status}`)
	samples.push([performance.timeOrigin + start, performance.now() - start])
	await Bun.sleep(job.intervalMs)
}
conn.close()
console.log(JSON.stringify({ samples } satisfies ProbeResult))
