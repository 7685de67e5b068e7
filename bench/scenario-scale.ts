/**
 * Scale: the ingest and fan-out loads against one cortex-stream on SQLite and against two
 * instances sharing one Postgres database (fsync on), side by side. Both instances and every
 * Postgres process run on the server core, as the single SQLite server does: the figures compare
 * what one core delivers either way (the price of the shared database), not how far more cores
 * would go. In the fan-out the publisher is on the first instance, so the second one's
 * subscribers get every event across Postgres (NOTIFY, then a read). Figures only, no targets.
 */

import type { IngestJob, IngestResult } from './ingest.ts'
import type { CpuShares } from './proc.ts'
import {
	type Cell,
	clientNote,
	fmt,
	fmtRatio,
	joinNotes,
	machineNote,
	ratio,
	type ScenarioContext,
	type ScenarioOutput,
	table,
} from './report.ts'
import {
	CONFIGS as FANOUT_CONFIGS,
	MEASURE_S as FANOUT_MEASURE_S,
	WARMUP_S as FANOUT_WARMUP_S,
	missing,
} from './scenario-fanout.ts'
import {
	CLIENTS,
	CONFIGS as INGEST_CONFIGS,
	MEASURE_S as INGEST_MEASURE_S,
	WARMUP_S as INGEST_WARMUP_S,
} from './scenario-ingest.ts'
import { type Database, runLoad, startCluster, startDatabase } from './server.ts'
import { median } from './stats.ts'
import type { FanoutJob, FanoutResult } from './subscribers.ts'

const INSTANCES = 2
/** The fan-out scenario's 1,000-subscriber case. */
const FANOUT = FANOUT_CONFIGS[0]
const FANOUT_REPEATS = 3

interface Setup {
	key: 'sqlite' | 'postgres'
	label: string
	instances: number
	/** Each run gets a fresh database of this cluster; SQLite gets a fresh file. */
	db?: Database
}

/** Where a load generator finds the servers of one run. */
type Placement = Pick<
	IngestJob & FanoutJob,
	'endpoint' | 'serverPid' | 'endpoints' | 'serverPids' | 'databasePid'
>

interface FanoutRuns {
	subscribers: number
	rate: number
	sqlite: FanoutResult[]
	postgres: FanoutResult[]
}

interface IngestRun {
	batch: number
	sqlite: IngestResult
	postgres: IngestResult
}

export async function scale(ctx: ScenarioContext): Promise<ScenarioOutput> {
	console.log('  starting a Postgres cluster (fsync on), pinned to core 0')
	const db = await startDatabase()
	try {
		const setups: Setup[] = [
			{ key: 'sqlite', label: 'sqlite x1', instances: 1 },
			{ key: 'postgres', label: `postgres x${INSTANCES}`, instances: INSTANCES, db },
		]
		const ingests: IngestRun[] = []
		for (const { batch, maxRequests } of INGEST_CONFIGS) {
			const results = {} as Record<Setup['key'], IngestResult>
			for (const setup of setups) {
				console.log(`  ${setup.label}: ${CLIENTS} clients x ${batch} event(s) per request`)
				results[setup.key] = await onSetup<IngestResult>(
					ctx,
					setup,
					`scale-ingest-${batch}`,
					'ingest.ts',
					(at) =>
						({
							...at,
							clients: CLIENTS,
							batch,
							warmupS: INGEST_WARMUP_S,
							measureS: INGEST_MEASURE_S,
							maxRequests,
							streamPrefix: `scale-${batch}`,
						}) satisfies IngestJob,
					60,
				)
			}
			ingests.push({ batch, ...results })
		}

		const { subscribers, rate } = FANOUT
		const fanouts: FanoutRuns = { subscribers, rate, sqlite: [], postgres: [] }
		// Alternating, so background noise falls on both alike; each figure is the median.
		for (let i = 0; i < FANOUT_REPEATS; i++)
			for (const setup of setups) {
				console.log(
					`  ${setup.label}: ${subscribers} subscribers x ${rate} events/s (run ${i + 1}/${FANOUT_REPEATS})`,
				)
				fanouts[setup.key].push(
					await onSetup<FanoutResult>(
						ctx,
						setup,
						`scale-fanout-${i}`,
						'subscribers.ts',
						(at) =>
							({
								...at,
								stream: 'agents/fanout',
								subscribers,
								rate,
								warmupS: FANOUT_WARMUP_S,
								measureS: FANOUT_MEASURE_S,
							}) satisfies FanoutJob,
						120,
					),
				)
			}

		const text = [
			...ingests.map(ingestTable),
			fanoutTable(fanouts),
			'\nratio = postgres x2 / sqlite x1; CPU "% of core 0" is of one core, summed over the processes named',
		].join('\n')
		return {
			text,
			checks: [],
			data: {
				placement: 'cortex instances and Postgres on core 0, load generator on core 1',
				postgres: { instances: INSTANCES, fsync: true },
				ingest: ingests,
				fanout: fanouts,
			},
		}
	} finally {
		await db.stop()
	}
}

/** Starts the setup's servers on a fresh database, runs one load against them, stops them. */
async function onSetup<T>(
	ctx: ScenarioContext,
	setup: Setup,
	name: string,
	script: string,
	job: (at: Placement) => object,
	timeoutS: number,
): Promise<T> {
	const cluster = await startCluster(setup.instances, {
		dir: ctx.dir,
		name: `${name}-${setup.key}`,
		profileDir: ctx.profileDir,
		db: await setup.db?.database(),
	})
	try {
		const { targets } = cluster
		const at: Placement = {
			endpoint: targets[0].endpoint,
			serverPid: targets[0].pid,
			endpoints: targets.map((t) => t.endpoint),
			serverPids: targets.map((t) => t.pid),
			databasePid: setup.db?.pid,
		}
		return await runLoad<T>(script, job(at), timeoutS)
	} finally {
		await cluster.stop()
	}
}

type Row<R> = [label: string, get: (r: R) => number, withRatio: boolean]

/** The CPU rows both loads share; `per` is what the CPU is divided by (event, delivery). */
function cpuRows<R extends { cpu: CpuShares }>(
	per: string,
	server: (r: R) => number,
	database: (r: R) => number,
): Row<R>[] {
	return [
		[`cortex CPU us / ${per} (all instances)`, server, true],
		[`Postgres CPU us / ${per}`, database, true],
		[`server-side CPU us / ${per}`, (r) => server(r) + database(r), true],
		['cortex CPU, % of core 0', (r) => r.cpu.serverPct, true],
		['Postgres CPU, % of core 0', (r) => r.cpu.databasePct, true],
		['server side, % of core 0', (r) => r.cpu.serverPct + r.cpu.databasePct, true],
		['load generator CPU, % of core 1', (r) => r.cpu.clientPct, false],
		['other CPU (rest of machine), %', (r) => r.cpu.otherPct, false],
		['hypervisor steal, %', (r) => r.cpu.stealPct, false],
	]
}

const INGEST_ROWS: Row<IngestResult>[] = [
	['events/s', (r) => r.eventsPerS, true],
	['requests/s', (r) => r.requestsPerS, true],
	['latency p50, ms', (r) => r.latencyMs.p50, true],
	['latency p99, ms', (r) => r.latencyMs.p99, true],
	...cpuRows<IngestResult>(
		'event',
		(r) => r.serverCpuUsPerEvent,
		(r) => r.databaseCpuUsPerEvent,
	),
	['measured window, s', (r) => r.cpu.seconds, false],
]

const FANOUT_ROWS: Row<FanoutResult>[] = [
	['delivered events/s', (r) => r.deliveredPerS, true],
	['latency p50, ms', (r) => r.latencyMs.p50, true],
	['latency p99, ms', (r) => r.latencyMs.p99, true],
	['latency max, ms', (r) => r.latencyMs.max, true],
	["p50, subscribers on the publisher's instance", (r) => r.latencyByInstanceMs[0].p50, true],
	["p99, subscribers on the publisher's instance", (r) => r.latencyByInstanceMs[0].p99, true],
	['p50, subscribers on the other instance', (r) => r.latencyByInstanceMs[1]?.p50 ?? NaN, false],
	['p99, subscribers on the other instance', (r) => r.latencyByInstanceMs[1]?.p99 ?? NaN, false],
	...cpuRows<FanoutResult>(
		'delivery',
		(r) => r.serverCpuUsPerDelivery,
		(r) => r.databaseCpuUsPerDelivery,
	),
	['RSS KiB / idle subscriber (all instances)', (r) => r.rssPerSubKiB, true],
	['cortex CPU us / new subscription', (r) => r.connectCpuUsPerSub, true],
	['time to connect all, s', (r) => r.connectS, true],
	['publish -> 201 p50, ms', (r) => r.publishLatencyMs.p50, true],
	['publish -> 201 p99, ms', (r) => r.publishLatencyMs.p99, true],
	['publishes/s achieved', (r) => r.publishRatePerS, false],
]

const HEADER = ['figure', 'sqlite x1', `postgres x${INSTANCES}`, 'ratio']

function rows<R>(spec: Row<R>[], sqlite: (get: (r: R) => number) => number, pg: typeof sqlite) {
	return spec.map(([label, get, withRatio]): Cell[] => {
		const a = sqlite(get)
		const b = pg(get)
		return [label, a, b, withRatio ? fmtRatio(ratio(b, a)) : '']
	})
}

/** Flags a figure a saturated load generator or a busy machine may have distorted. */
const noteOf = (cpus: CpuShares[]) => {
	const note = joinNotes(
		clientNote(Math.max(...cpus.map((c) => c.clientPct))),
		machineNote(Math.max(...cpus.map((c) => c.otherPct)), Math.max(...cpus.map((c) => c.stealPct))),
	)
	return note ? `note: ${note}` : ''
}

function ingestTable(r: IngestRun): string {
	return [
		table(
			`SCALE / INGEST, ${r.batch} event(s) per request: ${CLIENTS} keep-alive clients (x${INSTANCES}: ${CLIENTS / INSTANCES} on each instance), closed loop, one agent stream each, ${INGEST_MEASURE_S} s measured after ${INGEST_WARMUP_S} s warm-up; cortex and Postgres (fsync on) pinned to core 0`,
			HEADER,
			rows(
				INGEST_ROWS,
				(get) => get(r.sqlite),
				(get) => get(r.postgres),
			),
		),
		noteOf([r.sqlite.cpu, r.postgres.cpu]),
	]
		.filter(Boolean)
		.join('\n')
}

function fanoutTable(r: FanoutRuns): string {
	const med = (runs: FanoutResult[]) => (get: (x: FanoutResult) => number) => median(runs.map(get))
	const body = rows(FANOUT_ROWS, med(r.sqlite), med(r.postgres))
	const extra: [string, (rs: FanoutResult[]) => string][] = [
		['latency p99 of each run, ms', (rs) => rs.map((x) => fmt(x.latencyMs.p99)).join(' / ')],
		[
			'ticks skipped / publish errors',
			(rs) =>
				`${rs.reduce((n, x) => n + x.publishSkipped, 0)} / ${rs.reduce((n, x) => n + x.publishErrors, 0)}`,
		],
		['events missing, worst subscriber', (rs) => String(Math.max(...rs.map(missing)))],
	]
	for (const [label, get] of extra) body.push([label, get(r.sqlite), get(r.postgres), ''])
	return [
		table(
			`SCALE / FAN-OUT: ${r.subscribers} subscribers on one agent stream (x${INSTANCES}: ${r.subscribers / INSTANCES} on each instance, publisher on the first), ${r.rate} events/s, ${FANOUT_MEASURE_S} s measured after ${FANOUT_WARMUP_S} s warm-up, median of ${FANOUT_REPEATS} runs; cortex and Postgres (fsync on) pinned to core 0`,
			HEADER,
			body,
		),
		noteOf([...r.sqlite, ...r.postgres].map((x) => x.cpu)),
	]
		.filter(Boolean)
		.join('\n')
}
