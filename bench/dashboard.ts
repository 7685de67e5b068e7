/**
 * Dashboard load generator, run in its own process (pinned away from the server):
 *
 *   bun bench/dashboard.ts '<DashboardJob as JSON>'
 *
 * `fill` writes a database through the store itself, no server (faster than a million
 * requests, and the same rows): 100,000 agent streams of ten name groups, most ended, and one
 * agent, `busy`, with 10,000 executions of 100 events (1,000,000 events) in appends of 10, its
 * last execution left running. `measure` asks a server on that database for what a dashboard's
 * first paint asks (list pages with and without filters, for a full token and a narrow one, and
 * pages of busy's executions) and times each answer: the first one, then REPEAT more. Prints one
 * JSON line on stdout; progress goes to stderr.
 */

import { SQL } from 'bun'
import type { NewEvent } from '../src/events.ts'
import { openPostgresStore } from '../src/store/postgres/index.ts'
import { openSqliteStore } from '../src/store/sqlite/index.ts'
import { type Endpoint, getRequest, HttpConn } from './http.ts'
import { now } from './proc.ts'
import { type Summary, summarize } from './stats.ts'

export type DashboardJob =
	| { phase: 'fill'; db: string; streams: number; executions: number }
	| { phase: 'measure'; endpoint: Endpoint; narrowToken: string; paths: string[] }

export interface PathTiming {
	path: string
	narrow: boolean
	status: number
	bytes: number
	/** Rows (or executions) on the page. */
	items: number
	firstMs: number
	ms: Summary
}

export interface DashboardFill {
	streams: number
	events: number
	fillS: number
}

export const GROUPS = ['build', 'deploy', 'review', 'test', 'docs', 'triage', 'release', 'lint']
export const REPEAT = 30
/** Appends in flight at once while filling: the group commit writes them together. */
const IN_FLIGHT = 2000
const EVENTS_PER_EXECUTION = 100
const EVENTS_PER_APPEND = 10

const log = (msg: string) => process.stderr.write(`    ${msg}\n`)

/** The status of stream i: 80% complete, 10% failed, 5% cancelled, 5% running, apart from its group. */
function statusOf(i: number) {
	const r = (i * 7919) % 100
	return r < 5 ? 'running' : r < 15 ? 'failed' : r < 20 ? 'cancelled' : 'complete'
}

const TERMINAL: Record<string, string> = {
	complete: '{"result":"ok","duration":1200}',
	failed: '{"message":"tests failed","code":"1"}',
	cancelled: '{"reason":"user clicked stop"}',
}

async function fill(job: Extract<DashboardJob, { phase: 'fill' }>): Promise<DashboardFill> {
	const store = job.db.startsWith('postgres')
		? await openPostgresStore(job.db)
		: openSqliteStore(job.db)
	const t0 = now()
	let events = 0
	let pending: Promise<unknown>[] = []
	const append = async (stream: string, batch: NewEvent[]) => {
		pending.push(store.append(stream, batch))
		events += batch.length
		if (pending.length >= IN_FLIGHT) {
			await Promise.all(pending)
			pending = []
		}
	}
	try {
		for (let i = 0; i < job.streams; i++) {
			const status = statusOf(i)
			const batch: NewEvent[] = [
				{ event: 'progress', data: `{"step":"plan","message":"working on ${i}","progress":0.5}` },
			]
			if (status !== 'running') batch.push({ event: status, data: TERMINAL[status] })
			await append(`agents/${GROUPS[i % GROUPS.length]}-${i}`, batch)
			if (i % 20_000 === 19_999) log(`${(i + 1).toLocaleString('en-US')} streams`)
		}
		for (let x = 0; x < job.executions; x++) {
			for (let b = 0; b < EVENTS_PER_EXECUTION; b += EVENTS_PER_APPEND) {
				const batch: NewEvent[] = []
				for (let n = b; n < b + EVENTS_PER_APPEND; n++) {
					const last = n === EVENTS_PER_EXECUTION - 1
					if (last && x < job.executions - 1)
						batch.push({ event: 'complete', data: `{"result":{"execution":${x}},"duration":5000}` })
					else if (n % 3 === 0) batch.push({ event: 'tool_call', data: `{"tool":"grep","n":${n}}` })
					else
						batch.push({
							event: 'progress',
							data: `{"message":"step ${n} of execution ${x}","progress":${n / EVENTS_PER_EXECUTION}}`,
						})
				}
				await append('agents/busy', batch)
			}
			if (x % 2_000 === 1_999) log(`busy: ${(x + 1).toLocaleString('en-US')} executions`)
		}
		await Promise.all(pending)
	} finally {
		await store.close()
	}
	// Statistics, as autovacuum would gather within its minute: without them the planner takes
	// the tables for empty, and a list page for a scan of all of them.
	if (job.db.startsWith('postgres')) {
		const sql = new SQL(job.db, { max: 1 })
		await sql`ANALYZE`
		await sql.close()
	}
	return { streams: job.streams + 1, events, fillS: (now() - t0) / 1000 }
}

async function measure(job: Extract<DashboardJob, { phase: 'measure' }>): Promise<PathTiming[]> {
	const out: PathTiming[] = []
	for (const narrow of [false, true]) {
		const endpoint = narrow ? { ...job.endpoint, token: job.narrowToken } : job.endpoint
		const conn = await HttpConn.open(endpoint)
		try {
			for (const path of job.paths) {
				if (narrow && !path.startsWith('/api/agents?')) continue
				const times: number[] = []
				let first = 0
				let status = 0
				let bytes = 0
				let items = 0
				for (let i = 0; i <= REPEAT; i++) {
					const t0 = now()
					const res = await conn.request(getRequest(endpoint, path))
					const ms = now() - t0
					if (i === 0) {
						first = ms
						status = res.status
						bytes = Buffer.byteLength(res.body)
						const body = JSON.parse(res.body) as Record<string, unknown>
						const rows = body.agents ?? body.executions
						items = Array.isArray(rows) ? rows.length : 0
					} else times.push(ms)
				}
				times.sort((a, b) => a - b)
				out.push({ path, narrow, status, bytes, items, firstMs: first, ms: summarize(times) })
			}
		} finally {
			conn.close()
		}
	}
	return out
}

const job = JSON.parse(process.argv[2] ?? '{}') as DashboardJob
const result = job.phase === 'fill' ? await fill(job) : await measure(job)
console.log(JSON.stringify(result))
