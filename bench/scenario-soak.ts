/**
 * Soak: 1,000 subscribers and a steady publish for 10 minutes (CORTEX_SOAK_SECONDS to change),
 * sampling the server's RSS and open file descriptors every 10 s: both must stay flat.
 */
import { readdirSync } from 'node:fs'
import { rssKiB } from './proc.ts'
import {
	type Cell,
	type Check,
	checksTable,
	type ScenarioContext,
	type ScenarioOutput,
	table,
} from './report.ts'
import { runLoad, startTarget } from './server.ts'
import type { FanoutJob, FanoutResult } from './subscribers.ts'

const SECONDS = Number(process.env.CORTEX_SOAK_SECONDS ?? 600)
const SUBSCRIBERS = 1_000
const RATE = 20
const SAMPLE_MS = 10_000

interface Sample {
	s: number
	rssKiB: number
	fds: number
}

export async function soak(ctx: ScenarioContext): Promise<ScenarioOutput> {
	console.log(`  cortex: ${SUBSCRIBERS} subscribers x ${RATE} events/s for ${SECONDS} s`)
	const target = await startTarget('cortex', {
		dir: ctx.dir,
		name: 'soak',
		profileDir: ctx.profileDir,
	})
	const samples: Sample[] = []
	const t0 = performance.now()
	const sample = () =>
		samples.push({
			s: Math.round((performance.now() - t0) / 1000),
			rssKiB: rssKiB(target.pid),
			fds: readdirSync(`/proc/${target.pid}/fd`).length,
		})
	const sampler = setInterval(sample, SAMPLE_MS)
	let result: FanoutResult
	try {
		result = await runLoad<FanoutResult>(
			'subscribers.ts',
			{
				endpoint: target.endpoint,
				serverPid: target.pid,
				stream: 'agents/soak',
				subscribers: SUBSCRIBERS,
				rate: RATE,
				warmupS: 5,
				measureS: SECONDS,
			} satisfies FanoutJob,
			SECONDS + 180,
		)
	} finally {
		clearInterval(sampler)
		await target.stop()
	}
	// From the first sample with every subscriber connected and publishing under way.
	const steady = samples.filter((x) => x.s >= 20)
	const first = steady[0] ?? samples[0]
	const last = steady.at(-1) ?? samples.at(-1) ?? first
	const rssGrowth = first ? (last.rssKiB - first.rssKiB) / first.rssKiB : 0
	const fds = steady.map((x) => x.fds)
	const rows: Cell[][] = samples.map((x) => [`${x.s} s`, x.rssKiB, x.fds])
	const checks: Check[] = [
		{
			target: 'soak: RSS flat (grows < 10% after warm-up)',
			measured: `${first?.rssKiB} -> ${last?.rssKiB} KiB (${(rssGrowth * 100).toFixed(1)}%)`,
			pass: rssGrowth < 0.1,
		},
		{
			target: 'soak: open file descriptors flat',
			measured: `${Math.min(...fds)}..${Math.max(...fds)}`,
			pass: fds.length > 0 && Math.max(...fds) - Math.min(...fds) <= 8,
		},
		{
			target: 'soak: every event reaches every subscriber',
			measured: `${result.expectedPerSub - result.minPerSub} missing`,
			pass: result.minPerSub === result.expectedPerSub,
		},
	]
	const text = [
		table(
			`SOAK: ${SUBSCRIBERS} subscribers, ${RATE} events/s, ${SECONDS} s`,
			['time', 'RSS KiB', 'open fds'],
			rows,
		),
		checksTable('soak targets', checks),
	].join('\n')
	return { text, checks, data: { samples, result } }
}
