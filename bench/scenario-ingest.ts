/**
 * Ingest: closed-loop publishers, one event per request and batches of 100. Floor and cortex
 * alternate for REPEATS runs each, and each figure is the median of the runs: this VM's speed
 * drifts by a third from one minute to the next, more than one run can average out.
 */
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
import { against, type TargetKind, type TargetOptions } from './server.ts'
import { median } from './stats.ts'

export const CONFIGS = [
	{ batch: 1, maxRequests: 300_000 },
	{ batch: 100, maxRequests: 40_000 },
]
export const CLIENTS = 32
export const WARMUP_S = 1
export const MEASURE_S = 5
export const REPEATS = 3

/** One run of the closed-loop ingest load, with this scenario's settings, against a fresh target. */
export function ingestAgainst(
	kind: TargetKind,
	options: TargetOptions,
	{ batch, maxRequests }: (typeof CONFIGS)[number],
	streamPrefix: string,
) {
	return against<IngestResult>(
		kind,
		options,
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
				streamPrefix,
			}) satisfies IngestJob,
		60,
	)
}

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

const med = (runs: IngestResult[], get: (r: IngestResult) => number) => median(runs.map(get))

export async function ingest(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const runs: { batch: number; floor: IngestResult[]; cortex: IngestResult[] }[] = []
	for (const { batch, maxRequests } of CONFIGS) {
		const results: Record<TargetKind, IngestResult[]> = { floor: [], cortex: [] }
		for (let i = 0; i < REPEATS; i++)
			for (const kind of ['floor', 'cortex'] as const) {
				console.log(
					`  ${kind}: ${CLIENTS} clients x ${batch} event(s) per request (run ${i + 1}/${REPEATS})`,
				)
				const name = `ingest-${kind}-${batch}${i > 0 ? `-${i + 1}` : ''}`
				results[kind].push(
					await ingestAgainst(
						kind,
						{ dir: ctx.dir, name, profileDir: ctx.profileDir },
						{ batch, maxRequests },
						`ingest-${batch}-${i}`,
					),
				)
			}
		runs.push({ batch, ...results })
	}

	const header = ['figure (median of runs)']
	for (const r of runs) header.push(`floor x${r.batch}`, 'cortex', 'ratio')
	const body = ROWS.map(([label, get, withRatio]) => {
		const row: Cell[] = [label]
		for (const r of runs)
			row.push(
				med(r.floor, get),
				med(r.cortex, get),
				withRatio ? fmtRatio(ratio(med(r.cortex, get), med(r.floor, get))) : '',
			)
		return row
	})
	const each: Cell[] = ['  events/s, each run']
	for (const r of runs)
		for (const list of [r.floor, r.cortex, []])
			each.push(list.map((x) => fmt(x.eventsPerS, 0)).join(' / '))
	body.splice(1, 0, each)
	const note = (list: IngestResult[]) =>
		joinNotes(
			clientNote(Math.max(...list.map((r) => r.cpu.clientPct))),
			machineNote(
				Math.max(...list.map((r) => r.cpu.otherPct)),
				Math.max(...list.map((r) => r.cpu.stealPct)),
			),
		)
	const single = med(runs[0].cortex, (r) => r.eventsPerS)
	const batched = med(runs[1].cortex, (r) => r.eventsPerS)
	const checks: Check[] = [
		{
			target: '>= 15,000 durable single-event publishes/s',
			measured: `${fmt(single)} events/s`,
			pass: single >= 15_000,
			note: note(runs[0].cortex),
		},
		{
			target: '>= 300,000 batched events/s',
			measured: `${fmt(batched)} events/s`,
			pass: batched >= 300_000,
			note: note(runs[1].cortex),
		},
	]
	const text = [
		table(
			`INGEST: ${CLIENTS} keep-alive clients, closed loop, one agent stream each, ${MEASURE_S} s measured after ${WARMUP_S} s warm-up, ${REPEATS} runs each, floor and cortex alternating (floor: parse + 201, no store)`,
			header,
			body,
		),
		checksTable('ingest targets', checks),
	].join('\n')
	return { text, checks, data: runs }
}
