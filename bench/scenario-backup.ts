/**
 * Backup: how long an online backup holds the server. A database of about 100 MB is built
 * through the API; then three backups run a second apart while one client publishes single
 * events and a probe, in its own process, asks for `/metrics` every 2 ms. The probe's slowest
 * answer during a backup is how long the event loop was held; between backups it is the
 * baseline. Figures only, no targets.
 */
import { join } from 'node:path'
import type { BackupJob, BackupResult } from './backup.ts'
import type { ProbeJob, ProbeResult } from './probe.ts'
import { type Cell, fmt, type ScenarioContext, type ScenarioOutput, table } from './report.ts'
import { runLoad, startTarget } from './server.ts'
import { summarize } from './stats.ts'

const MB = 100
const BACKUPS = 3
const PROBE_MS = 2

export async function backup(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const target = await startTarget('cortex', { dir: ctx.dir, name: 'backup' })
	const done = join(ctx.dir, 'backup.done')
	let result: BackupResult
	let probe: ProbeResult
	try {
		console.log(`  cortex: ${MB} MB of events, then ${BACKUPS} backups under a probe`)
		;[result, probe] = await Promise.all([
			runLoad<BackupResult>(
				'backup.ts',
				{ endpoint: target.endpoint, mb: MB, backups: BACKUPS, done } satisfies BackupJob,
				300,
			),
			runLoad<ProbeResult>(
				'probe.ts',
				{
					endpoint: target.endpoint,
					path: '/metrics',
					intervalMs: PROBE_MS,
					until: done,
					boundS: 300,
				} satisfies ProbeJob,
				310,
			),
		])
	} finally {
		await target.stop()
	}

	const within = <T extends [number, number]>(samples: T[], from: number, to: number) =>
		samples.filter(([at]) => at >= from && at <= to).map(([, ms]) => ms)
	const slowest = (values: number[]) => (values.length > 0 ? Math.max(...values) : Number.NaN)
	const firstAsked = result.runs[0].askedAt
	const lastEnd = result.runs[result.runs.length - 1].endAt
	const between = probe.samples.filter(
		([at]) => at > firstAsked - 900 && !result.runs.some((r) => at >= r.askedAt && at <= r.endAt),
	)
	const rows: Cell[][] = [['database built, MB / s', `${MB} / ${fmt(result.buildS)}`]]
	for (const [i, r] of result.runs.entries()) {
		const probes = within(probe.samples, r.askedAt, r.endAt)
		const publishes = within(result.publishes, r.askedAt, r.endAt)
		rows.push(
			[`backup ${i + 1}: size, MB`, r.bytes / 1e6],
			['  asked -> response head, ms', r.headAt - r.askedAt],
			['  asked -> last byte, ms', r.endAt - r.askedAt],
			['  /metrics during it: answers, slowest ms', `${probes.length}, ${fmt(slowest(probes))}`],
			[
				'  single-event publishes during it: count, slowest ms',
				`${publishes.length}, ${fmt(slowest(publishes))}`,
			],
		)
	}
	const baseline = summarize(between.map(([, ms]) => ms).sort((a, b) => a - b))
	rows.push([
		'/metrics between backups: answers, p99 / slowest ms',
		`${between.length}, ${fmt(baseline.p99)} / ${fmt(baseline.max)}`,
	])
	const text = table(
		`BACKUP: POST /api/admin/backup on a ${MB} MB database, ${BACKUPS} times, with a /metrics probe every ${PROBE_MS} ms from another process`,
		['figure', 'cortex'],
		rows,
	)
	return {
		text,
		checks: [],
		data: { ...result, publishes: undefined, probes: probe.samples.length, firstAsked, lastEnd },
	}
}
