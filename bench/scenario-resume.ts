/** Resume: a 1M-event stream built through the API, then time-to-first-event and full replay. */
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
import type { ResumeJob, ResumeResult } from './resume.ts'
import { against } from './server.ts'
import { median } from './stats.ts'

const EVENTS = 1_000_000
/** The build runs at ~250k events/s here; the bound only matters on a much slower machine. */
const BUILD_BOUND_S = 180
const TTFE_RUNS = 20
const REPLAY_RUNS = 3
/** About 7 s of single-event publishing here. */
const INTERLEAVED = { streams: 32, eventsEach: 3_000 }

export async function resume(ctx: ScenarioContext): Promise<ScenarioOutput> {
	console.log(`  cortex: building ${EVENTS.toLocaleString('en-US')} events through the API`)
	const r = await against<ResumeResult>(
		'cortex',
		{ dir: ctx.dir, name: 'resume', profileDir: ctx.profileDir },
		'resume.ts',
		(serverPid, endpoint) =>
			({
				endpoint,
				serverPid,
				stream: 'agents/long-run',
				total: EVENTS,
				batch: 1000,
				concurrency: 4,
				buildTimeoutS: BUILD_BOUND_S,
				ttfeRuns: TTFE_RUNS,
				ttfeBehind: 10,
				replayRuns: REPLAY_RUNS,
				replayTimeoutS: 60,
				interleaved: INTERLEAVED,
			}) satisfies ResumeJob,
		BUILD_BOUND_S + 240,
	)
	const replay = median(r.replayEventsPerS)
	const rows: Cell[][] = [
		['events in the stream', r.events.toLocaleString('en-US')],
		['build: batches of 1,000, 4 in flight, s', r.buildS],
		['build: events/s', r.buildEventsPerS],
		['build: server CPU us / event', r.buildServerCpuUsPerEvent],
		[
			`time to first event after Last-Event-ID ${r.ttfeFromId}, median of ${TTFE_RUNS}, ms`,
			fmt(r.ttfeMs.median, 3),
		],
		['  min / max, ms', `${fmt(r.ttfeMs.min, 3)} / ${fmt(r.ttfeMs.max, 3)}`],
		['  median including the TCP connect, ms', fmt(r.ttfeWithConnectMs.median, 3)],
		[`full replay from 0, events/s (median of ${REPLAY_RUNS})`, replay],
		['  each run, ms', r.replayMs.map((ms) => fmt(ms, 0)).join(' / ')],
		['  server CPU us / event', r.replayServerCpuUsPerEvent.map((v) => fmt(v)).join(' / ')],
		['  load generator CPU, %', r.replayClientCpuPct.map((v) => fmt(v, 0)).join(' / ')],
		['  other CPU (rest of machine), %', r.replayOtherCpuPct.map((v) => fmt(v, 0)).join(' / ')],
		[
			`the same through the feed (/api/streaming/events), events/s (median of ${REPLAY_RUNS})`,
			median(r.feedReplayEventsPerS),
		],
		['  each run, events/s', r.feedReplayEventsPerS.map((v) => fmt(v, 0)).join(' / ')],
	]
	const mixed = r.interleaved
	if (mixed)
		rows.push(
			[
				`a stream of ${mixed.events.toLocaleString('en-US')} single-event POSTs among ${mixed.streams} written at once: full replay, events/s (median)`,
				median(mixed.replayEventsPerS),
			],
			['  each run, events/s', mixed.replayEventsPerS.map((v) => fmt(v, 0)).join(' / ')],
		)
	const truncated = r.buildTruncated
		? `the stream holds ${r.events.toLocaleString('en-US')} events, not ${EVENTS.toLocaleString('en-US')}: the build hit its ${BUILD_BOUND_S} s bound`
		: undefined
	const checks: Check[] = [
		{
			target: 'resume time-to-first-event < 1 ms at 1M events',
			measured: `${fmt(r.ttfeMs.median, 3)} ms`,
			pass: r.ttfeMs.median < 1 && !r.buildTruncated,
			note: truncated,
		},
		{
			target: 'full replay >= 2M events/s',
			measured: `${fmt(replay)} events/s`,
			pass: replay >= 2_000_000 && !r.buildTruncated,
			note: joinNotes(
				truncated,
				clientNote(Math.max(...r.replayClientCpuPct)),
				machineNote(Math.max(...r.replayOtherCpuPct), 0),
			),
		},
	]
	const text = [
		table(
			'RESUME: one agent stream built through POST /api/agents/:name/events, no terminal event (no floor: the floor keeps no history)',
			['figure', 'cortex'],
			rows,
		),
		checksTable('resume targets', checks),
	].join('\n')
	return { text, checks, data: r }
}
