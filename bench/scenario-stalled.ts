/**
 * Stalled: what subscribers that stop reading cost the server. 1,000 subscribers replaying a
 * 16 MiB backlog that never read a byte, while the stream grows by 16 MiB more and one live
 * subscriber reads: the server's RSS per stalled subscriber, the reader's latency, and whether
 * (and when) the server drops the stalled ones. Default settings (heartbeat 15 s).
 */
import {
	type Cell,
	type Check,
	checksTable,
	clientNote,
	fmt,
	joinNotes,
	machineNote,
	type ScenarioContext,
	type ScenarioOutput,
	table,
} from './report.ts'
import { runLoad, startTarget } from './server.ts'
import type { StalledJob, StalledResult } from './stalled.ts'

const MIB = 1024 * 1024
const EVENT_BYTES = 1024
/** 16 MiB of event data, in the backlog and again in the growth. */
const EVENTS = (16 * MIB) / EVENT_BYTES
const STALLED = 1_000
/** 32 events every 20 ms: about 1.6 MiB/s, so the growth takes about 10 s. */
const GROWTH = { batch: 32, periodMs: 20 }
const DROP_BOUND_S = 90
const MAX_RSS_PER_STALLED_KIB = 256
/**
 * A live subscriber on a healthy server gets an event within a few ms here (the fan-out's p99 is
 * a few ms with 1,000 readers); 100 ms is only missed when the stalled ones hold the event loop.
 */
const MAX_READER_P99_MS = 100

export async function stalled(ctx: ScenarioContext): Promise<ScenarioOutput> {
	console.log(
		`  cortex: ${STALLED.toLocaleString('en-US')} subscribers that never read a 16 MiB backlog, then 16 MiB more`,
	)
	const target = await startTarget('cortex', {
		dir: ctx.dir,
		name: 'stalled',
		profileDir: ctx.profileDir,
	})
	let r: StalledResult
	try {
		r = await runLoad<StalledResult>(
			'stalled.ts',
			{
				endpoint: target.endpoint,
				serverPid: target.pid,
				stream: 'agents/stalled',
				eventBytes: EVENT_BYTES,
				events: EVENTS,
				backlogBatch: 512,
				stalled: STALLED,
				growthBatch: GROWTH.batch,
				growthPeriodMs: GROWTH.periodMs,
				fillS: 5,
				dropBoundS: DROP_BOUND_S,
			} satisfies StalledJob,
			DROP_BOUND_S + 110,
		)
	} finally {
		await target.stop()
	}
	const perStalled = (r.rssAfterGrowthKiB - r.rssBeforeKiB) / STALLED
	const mib = (kib: number) => fmt(kib / 1024, 1)
	const rows: Cell[][] = [
		[
			'backlog: events of 1 KiB, MiB / s',
			`${r.backlogEvents.toLocaleString('en-US')}, ${fmt(r.backlogBytes / MIB)} / ${fmt(r.backlogS)}`,
		],
		['RSS before the stalled subscribers, MiB', mib(r.rssBeforeKiB)],
		[
			'stalled subscribers connected / open streams seen / connect s',
			`${r.connected} / ${r.openStreamsSeen} / ${fmt(r.connectS)}`,
		],
		['RSS with them, buffers filled, MiB', mib(r.rssStalledKiB)],
		[
			'growth: events, s, ticks late',
			`${r.growthEvents.toLocaleString('en-US')}, ${fmt(r.growthS)}, ${r.growthLateTicks}`,
		],
		[
			'  server / load generator CPU, %',
			`${fmt(r.growthCpu.serverPct, 0)} / ${fmt(r.growthCpu.clientPct, 0)}`,
		],
		[
			'reader latency p50 / p99 / max, ms',
			`${fmt(r.latencyMs.p50)} / ${fmt(r.latencyMs.p99)} / ${fmt(r.latencyMs.max)}`,
		],
		[
			'reader events got',
			`${r.readerEvents.toLocaleString('en-US')} of ${r.growthEvents.toLocaleString('en-US')}`,
		],
		['RSS after the growth, MiB', mib(r.rssAfterGrowthKiB)],
		['  per stalled subscriber, KiB', perStalled],
		['  open streams then', r.openStreamsAfterGrowth],
		[
			`dropped as slow (waited ${fmt(r.dropWaitS, 0)} s of ${DROP_BOUND_S})`,
			`${r.dropped}${r.dropS === null ? '' : `, the last ${fmt(r.dropS, 1)} s after the growth`}`,
		],
		[
			'open streams left',
			`${r.openStreamsLeft}${r.closeS === null ? ', none closed' : `, the last closed ${fmt(r.closeS, 1)} s after the growth`}`,
		],
		['RSS after the drops, MiB', mib(r.rssAfterDropsKiB)],
		['stalled sockets destroyed at the end', r.destroyed],
	]
	const notes = joinNotes(
		clientNote(r.growthCpu.clientPct),
		machineNote(r.growthCpu.otherPct, r.growthCpu.stealPct),
	)
	const checks: Check[] = [
		{
			target: `stalled: RSS per stalled subscriber <= ${MAX_RSS_PER_STALLED_KIB} KiB`,
			measured: `${fmt(perStalled)} KiB`,
			pass: perStalled <= MAX_RSS_PER_STALLED_KIB,
		},
		{
			target: 'stalled: every stalled subscriber dropped',
			measured: `${r.dropped} of ${STALLED} dropped, ${r.openStreamsLeft} open streams left`,
			pass: r.dropped >= STALLED && r.openStreamsLeft <= 1,
		},
		{
			target: `stalled: the reading subscriber's p99 < ${MAX_READER_P99_MS} ms`,
			measured: `${fmt(r.latencyMs.p99)} ms`,
			pass: r.latencyMs.p99 < MAX_READER_P99_MS,
			note: notes,
		},
		{
			target: 'stalled: the reader got every new event',
			measured: `${r.growthEvents - r.readerEvents} missing`,
			pass: r.readerEvents === r.growthEvents,
		},
	]
	const text = [
		table(
			`STALLED: ${STALLED.toLocaleString('en-US')} subscribers from Last-Event-ID 0 that never read, on one open agent stream; one live reader`,
			['figure', 'cortex'],
			rows,
		),
		checksTable('stalled targets', checks),
	].join('\n')
	return { text, checks, data: { ...r, rssPerStalledKiB: perStalled } }
}
