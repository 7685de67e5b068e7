/**
 * Fan-out: one stream, N raw-socket subscribers, one event per publish at a fixed rate; the floor
 * and cortex-stream alternate, several times each, so background noise falls on both alike and
 * each figure is the median of the runs.
 */
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
import type { FanoutJob, FanoutResult } from './subscribers.ts'

export const CONFIGS = [
	{ subscribers: 1_000, rate: 100 },
	{ subscribers: 5_000, rate: 20 },
]
const REPEATS = 3
export const WARMUP_S = 2
export const MEASURE_S = 10

interface Runs {
	subscribers: number
	rate: number
	floor: FanoutResult[]
	cortex: FanoutResult[]
}

type Row = [label: string, get: (r: FanoutResult) => number, withRatio: boolean]

const ROWS: Row[] = [
	['delivered events/s', (r) => r.deliveredPerS, true],
	['latency p50, ms', (r) => r.latencyMs.p50, true],
	['latency p99, ms', (r) => r.latencyMs.p99, true],
	['latency max, ms', (r) => r.latencyMs.max, true],
	['server CPU us / delivery', (r) => r.serverCpuUsPerDelivery, true],
	['server CPU, % of core 0', (r) => r.cpu.serverPct, true],
	['RSS KiB / idle subscriber', (r) => r.rssPerSubKiB, true],
	['CPU us / new subscription', (r) => r.connectCpuUsPerSub, true],
	['time to connect all, s', (r) => r.connectS, true],
	['publish -> 201 p99, ms', (r) => r.publishLatencyMs.p99, true],
	['publishes/s achieved', (r) => r.publishRatePerS, false],
	['load generator CPU, % of core 1', (r) => r.cpu.clientPct, false],
	['other CPU (rest of machine), %', (r) => r.cpu.otherPct, false],
	['hypervisor steal, %', (r) => r.cpu.stealPct, false],
]

const med = (runs: FanoutResult[], get: (r: FanoutResult) => number) => median(runs.map(get))
const each = (runs: FanoutResult[], get: (r: FanoutResult) => number) =>
	runs.map((r) => fmt(get(r), 0)).join(' / ')
export const missing = (r: FanoutResult) =>
	Math.max(0, r.expectedPerSub - r.minPerSub) + (r.maxPerSub - r.minPerSub)

export async function fanout(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const all: Runs[] = []
	for (const { subscribers, rate } of CONFIGS) {
		const runs: Runs = { subscribers, rate, floor: [], cortex: [] }
		for (let i = 0; i < REPEATS; i++)
			for (const kind of ['floor', 'cortex'] as const) {
				console.log(
					`  ${kind}: ${subscribers} subscribers x ${rate} events/s (run ${i + 1}/${REPEATS})`,
				)
				runs[kind].push(await once(ctx, kind, subscribers, rate, i))
			}
		all.push(runs)
	}

	const header = ['figure (median of runs)']
	for (const r of all) header.push(`floor ${r.subscribers}x${r.rate}/s`, 'cortex', 'ratio')
	const body: Cell[][] = ROWS.map(([label, get, withRatio]) => {
		const row: Cell[] = [label]
		for (const r of all) {
			const floor = med(r.floor, get)
			const cortex = med(r.cortex, get)
			row.push(floor, cortex, withRatio ? fmtRatio(ratio(cortex, floor)) : '')
		}
		return row
	})
	const extra: [string, (rs: FanoutResult[]) => string][] = [
		['latency p99 of each run, ms', (rs) => each(rs, (r) => r.latencyMs.p99)],
		[
			'server CPU us/delivery, each run',
			(rs) => rs.map((r) => fmt(r.serverCpuUsPerDelivery)).join(' / '),
		],
		[
			'ticks skipped / publish errors',
			(rs) => `${sum(rs, (r) => r.publishSkipped)} / ${sum(rs, (r) => r.publishErrors)}`,
		],
		['events missing, worst subscriber', (rs) => String(Math.max(...rs.map(missing)))],
	]
	for (const [label, get] of extra) {
		const row: Cell[] = [label]
		for (const r of all) row.push(get(r.floor), get(r.cortex), '')
		body.push(row)
	}
	const checks = all.flatMap(checksFor)
	const text = [
		table(
			`FAN-OUT: one agent stream, progress events, ${MEASURE_S} s measured after ${WARMUP_S} s warm-up, ${REPEATS} runs each (ratio = cortex / floor)`,
			header,
			body,
		),
		checksTable('fan-out targets', checks),
	].join('\n')
	return { text, checks, data: all }
}

const sum = (rs: FanoutResult[], get: (r: FanoutResult) => number) =>
	rs.reduce((total, r) => total + get(r), 0)

function once(
	ctx: ScenarioContext,
	kind: TargetKind,
	subscribers: number,
	rate: number,
	i: number,
) {
	return fanoutAgainst(
		kind,
		{ dir: ctx.dir, name: `fanout-${kind}-${subscribers}-${i}`, profileDir: ctx.profileDir },
		{ subscribers, rate },
	)
}

/** One fan-out run against a fresh target: the scenario's and `bench compare`'s. */
export function fanoutAgainst(
	kind: TargetKind,
	options: TargetOptions,
	{ subscribers, rate }: (typeof CONFIGS)[number],
) {
	return against<FanoutResult>(
		kind,
		options,
		'subscribers.ts',
		(serverPid, endpoint) =>
			({
				endpoint,
				serverPid,
				stream: 'agents/fanout',
				subscribers,
				rate,
				warmupS: WARMUP_S,
				measureS: MEASURE_S,
			}) satisfies FanoutJob,
		120,
	)
}

function checksFor(r: Runs): Check[] {
	const at = `${r.subscribers}x${r.rate}/s`
	const p99 = (rs: FanoutResult[]) => med(rs, (x) => x.latencyMs.p99)
	const cpu = (rs: FanoutResult[]) => med(rs, (x) => x.serverCpuUsPerDelivery)
	const rss = med(r.cortex, (x) => x.rssPerSubKiB)
	const lost = Math.max(...r.cortex.map(missing))
	const runs = [...r.floor, ...r.cortex]
	const note = joinNotes(
		clientNote(Math.max(...runs.map((x) => x.cpu.clientPct))),
		machineNote(
			Math.max(...runs.map((x) => x.cpu.otherPct)),
			Math.max(...runs.map((x) => x.cpu.stealPct)),
		),
	)
	return [
		{
			target: `fan-out ${at}: p99 <= 2x floor`,
			measured: `${fmt(p99(r.cortex))} ms vs ${fmt(p99(r.floor))} ms = ${fmtRatio(ratio(p99(r.cortex), p99(r.floor)))}`,
			pass: ratio(p99(r.cortex), p99(r.floor)) <= 2,
			note,
		},
		{
			target: `fan-out ${at}: CPU/delivery <= 1.5x floor`,
			measured: `${fmt(cpu(r.cortex))} us vs ${fmt(cpu(r.floor))} us = ${fmtRatio(ratio(cpu(r.cortex), cpu(r.floor)))}`,
			pass: ratio(cpu(r.cortex), cpu(r.floor)) <= 1.5,
			note,
		},
		{
			target: `fan-out ${at}: <= 16 KiB RSS per idle subscriber`,
			measured: `${fmt(rss)} KiB`,
			pass: rss <= 16,
		},
		{
			target: `fan-out ${at}: every event reaches every subscriber`,
			measured: `${lost} missing`,
			pass: lost === 0,
		},
	]
}
