/** Ingest: closed-loop publishers, one event per request and batches of 100, floor then cortex. */
import type { IngestJob, IngestResult } from './ingest.ts'
import {
	type Cell,
	type Check,
	checksTable,
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
import { against, type TargetKind } from './server.ts'

export const CONFIGS = [
	{ batch: 1, maxRequests: 300_000 },
	{ batch: 100, maxRequests: 40_000 },
]
export const CLIENTS = 32
export const WARMUP_S = 1
export const MEASURE_S = 5

type Row = [label: string, get: (r: IngestResult) => number, withRatio: boolean]

const ROWS: Row[] = [
	['events/s', (r) => r.eventsPerS, true],
	['requests/s', (r) => r.requestsPerS, true],
	['latency p50, ms', (r) => r.latencyMs.p50, true],
	['latency p99, ms', (r) => r.latencyMs.p99, true],
	['server CPU us / event', (r) => r.serverCpuUsPerEvent, true],
	['server CPU, % of core 0', (r) => r.cpu.serverPct, true],
	['load generator CPU, % of core 1', (r) => r.cpu.clientPct, false],
	['other CPU (rest of machine), %', (r) => r.cpu.otherPct, false],
	['measured window, s', (r) => r.cpu.seconds, false],
]

export async function ingest(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const runs: { batch: number; floor: IngestResult; cortex: IngestResult }[] = []
	for (const { batch, maxRequests } of CONFIGS) {
		const results = {} as Record<TargetKind, IngestResult>
		for (const kind of ['floor', 'cortex'] as const) {
			console.log(`  ${kind}: ${CLIENTS} clients x ${batch} event(s) per request`)
			results[kind] = await against<IngestResult>(
				kind,
				{ dir: ctx.dir, name: `ingest-${kind}-${batch}`, profileDir: ctx.profileDir },
				'ingest.ts',
				(serverPid, endpoint) =>
					({
						endpoint,
						serverPid,
						clients: CLIENTS,
						batch,
						warmupS: WARMUP_S,
						measureS: MEASURE_S,
						maxRequests,
						streamPrefix: `ingest-${batch}`,
					}) satisfies IngestJob,
				60,
			)
		}
		runs.push({ batch, ...results })
	}

	const header = ['figure']
	for (const r of runs) header.push(`floor x${r.batch}`, 'cortex', 'ratio')
	const body = ROWS.map(([label, get, withRatio]) => {
		const row: Cell[] = [label]
		for (const r of runs)
			row.push(
				get(r.floor),
				get(r.cortex),
				withRatio ? fmtRatio(ratio(get(r.cortex), get(r.floor))) : '',
			)
		return row
	})
	const note = (r: IngestResult) =>
		joinNotes(clientNote(r.cpu.clientPct), machineNote(r.cpu.otherPct, r.cpu.stealPct))
	const single = runs[0].cortex
	const batched = runs[1].cortex
	const checks: Check[] = [
		{
			target: '>= 15,000 durable single-event publishes/s',
			measured: `${fmt(single.eventsPerS)} events/s`,
			pass: single.eventsPerS >= 15_000,
			note: note(single),
		},
		{
			target: '>= 300,000 batched events/s',
			measured: `${fmt(batched.eventsPerS)} events/s`,
			pass: batched.eventsPerS >= 300_000,
			note: note(batched),
		},
	]
	const text = [
		table(
			`INGEST: ${CLIENTS} keep-alive clients, closed loop, one agent stream each, ${MEASURE_S} s measured after ${WARMUP_S} s warm-up (floor: parse + 201, no store)`,
			header,
			body,
		),
		checksTable('ingest targets', checks),
	].join('\n')
	return { text, checks, data: runs }
}
