/**
 * Streams: memory per stream, and whether retention gives it back. 100,000 ended streams (half
 * agent executions, half workflow runs) on a server with `--retention 1s`, both lists read once,
 * then `POST /api/admin/prune`: the server's RSS before, at the peak and after.
 */
import {
	type Cell,
	type Check,
	checksTable,
	fmt,
	type ScenarioContext,
	type ScenarioOutput,
	table,
} from './report.ts'
import { runLoad, startTarget } from './server.ts'
import type { StreamsJob, StreamsResult } from './streams.ts'

const EACH = 50_000
const STREAMS = EACH * 2
const CREATE_BOUND_S = 150
const LIST_BOUND_S = 30
const PRUNE_BOUND_S = 60
const MIN_GIVEN_BACK = 0.5

export async function streams(ctx: ScenarioContext): Promise<ScenarioOutput> {
	console.log(
		`  cortex --retention 1s: ${STREAMS.toLocaleString('en-US')} ended streams, the lists, then a prune`,
	)
	const target = await startTarget('cortex', {
		dir: ctx.dir,
		name: 'streams',
		profileDir: ctx.profileDir,
		args: ['--retention', '1s'],
	})
	let r: StreamsResult
	try {
		r = await runLoad<StreamsResult>(
			'streams.ts',
			{
				endpoint: target.endpoint,
				serverPid: target.pid,
				each: EACH,
				clients: 32,
				createBoundS: CREATE_BOUND_S,
				ageMs: 1_500,
				listBoundS: LIST_BOUND_S,
				pruneBoundS: PRUNE_BOUND_S,
			} satisfies StreamsJob,
			CREATE_BOUND_S + 2 * LIST_BOUND_S + PRUNE_BOUND_S + 60,
		)
	} finally {
		await target.stop()
	}
	const peak = Math.max(r.rssCreatedKiB, r.rssListedKiB)
	const grown = peak - r.rssBeforeKiB
	const perStream = (grown * 1024) / Math.max(1, r.created)
	const givenBack = grown > 0 ? (peak - r.rssAfterKiB) / grown : Number.NaN
	const mib = (kib: number) => fmt(kib / 1024, 1)
	const truncated = r.createTruncated
		? `only ${r.created.toLocaleString('en-US')} streams: creation hit its ${CREATE_BOUND_S} s bound`
		: undefined
	const rows: Cell[][] = [
		[
			'streams created (one request each, 32 connections), s',
			`${r.created.toLocaleString('en-US')}, ${fmt(r.createS)}`,
		],
		['  requests/s', r.requestsPerS],
		['RSS before, MiB', mib(r.rssBeforeKiB)],
		['RSS after creating them, MiB', mib(r.rssCreatedKiB)],
		...r.lists.map((l): Cell[] => [
			`GET ${l.path}: status, items, MB, ms`,
			l.error
				? `failed after ${fmt(l.ms, 0)} ms: ${l.error}`
				: `${l.status}, ${l.items.toLocaleString('en-US')}, ${fmt(l.bytes / 1e6)}, ${fmt(l.ms, 0)}`,
		]),
		['RSS after reading the lists, MiB', mib(r.rssListedKiB)],
		['RSS at the peak, per stream, bytes', perStream],
		[
			'prune: prunedStreams / prunedEvents, ms',
			r.prune
				? `${r.prune.prunedStreams.toLocaleString('en-US')} / ${r.prune.prunedEvents.toLocaleString('en-US')}, ${fmt(r.pruneMs, 0)}`
				: `failed after ${fmt(r.pruneMs, 0)} ms: ${r.pruneError}`,
		],
		['  RSS while it ran, highest, MiB', mib(r.rssPruneMaxKiB)],
		['RSS after the prune (3 s settle), MiB', mib(r.rssAfterKiB)],
		['memory given back, % of the growth', fmt(givenBack * 100, 0)],
	]
	const checks: Check[] = [
		{
			target: "streams: prune removes every stream's events",
			measured: `${r.prune?.prunedStreams.toLocaleString('en-US') ?? 'no answer'} of ${STREAMS.toLocaleString('en-US')} streams pruned`,
			pass: r.prune?.prunedStreams === STREAMS,
			note: truncated,
		},
		{
			target: `streams: memory given back by retention >= ${fmt(MIN_GIVEN_BACK * 100, 0)} %`,
			measured: `${fmt(givenBack * 100, 0)} % (${mib(peak)} -> ${mib(r.rssAfterKiB)} MiB)`,
			pass: givenBack >= MIN_GIVEN_BACK && !r.createTruncated,
			note: truncated,
		},
	]
	const text = [
		table(
			`STREAMS: ${EACH.toLocaleString('en-US')} agent executions and ${EACH.toLocaleString('en-US')} workflow runs, each ended, on --retention 1s`,
			['figure', 'cortex'],
			rows,
		),
		checksTable('streams targets', checks),
	].join('\n')
	return {
		text,
		checks,
		data: { ...r, rssPeakKiB: peak, rssPerStreamBytes: perStream, givenBack },
	}
}
