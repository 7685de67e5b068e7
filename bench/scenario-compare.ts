/**
 * Compare: the ingest loads (or, with `--load=fanout`, the fan-out loads) against this source
 * tree and against another git revision, in alternating pairs, to tell a change's effect from the VM's drift (a third from one minute to
 * the next here, more than most changes). Each pair runs both servers back to back, in turn
 * first; a change is real when it wins nearly every pair, whatever the medians say.
 *
 *   bun run bench compare --against=HEAD~1 --pairs=5 [--load=ingest|fanout]
 *
 * The other revision runs from a git worktree under the bench's scratch dir, on this tree's
 * node_modules. Figures only, no targets.
 */
import { symlinkSync } from 'node:fs'
import { join } from 'node:path'
import type { IngestResult } from './ingest.ts'
import { type Cell, fmt, type ScenarioContext, type ScenarioOutput, table } from './report.ts'
import {
	CONFIGS as FANOUT_CONFIGS,
	MEASURE_S as FANOUT_MEASURE_S,
	WARMUP_S as FANOUT_WARMUP_S,
	fanoutAgainst,
} from './scenario-fanout.ts'
import {
	CLIENTS,
	CONFIGS as INGEST_CONFIGS,
	MEASURE_S as INGEST_MEASURE_S,
	WARMUP_S as INGEST_WARMUP_S,
	ingestAgainst,
} from './scenario-ingest.ts'
import type { TargetOptions } from './server.ts'
import { median } from './stats.ts'
import type { FanoutResult } from './subscribers.ts'

const ROOT = join(import.meta.dir, '..')
export const DEFAULT_PAIRS = 5

function git(...args: string[]) {
	const out = Bun.spawnSync(['git', ...args], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
	if (out.exitCode !== 0) throw new Error(`git ${args.join(' ')}: ${out.stderr.toString().trim()}`)
	return out.stdout.toString().trim()
}

/** A figure of a run, and which way is better. */
type Figure<R> = [label: string, get: (r: R) => number, higherIsBetter: boolean]

interface Load<R> {
	title: string
	configs: { label: string; run: (options: TargetOptions) => Promise<R> }[]
	figures: Figure<R>[]
}

const ingestLoad: Load<IngestResult> = {
	title: `ingest (${CLIENTS} clients, ${INGEST_MEASURE_S} s after ${INGEST_WARMUP_S} s warm-up)`,
	configs: INGEST_CONFIGS.map((config) => ({
		label: `x${config.batch}`,
		run: (options) => ingestAgainst('cortex', options, config, options.name),
	})),
	figures: [
		['events/s', (r) => r.eventsPerS, true],
		['server CPU us / event', (r) => r.serverCpuUsPerEvent, false],
	],
}

const fanoutLoad: Load<FanoutResult> = {
	title: `fan-out (${FANOUT_MEASURE_S} s after ${FANOUT_WARMUP_S} s warm-up)`,
	configs: FANOUT_CONFIGS.map((config) => ({
		label: `${config.subscribers}x${config.rate}/s`,
		run: (options) => fanoutAgainst('cortex', options, config),
	})),
	figures: [
		['server CPU us / delivery', (r) => r.serverCpuUsPerDelivery, false],
		['latency p99, ms', (r) => r.latencyMs.p99, false],
		['latency p50, ms', (r) => r.latencyMs.p50, false],
		['CPU us / new subscription', (r) => r.connectCpuUsPerSub, false],
	],
}

export function compare(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const name = ctx.load ?? 'ingest'
	return name === 'fanout' ? compareLoad(ctx, fanoutLoad) : compareLoad(ctx, ingestLoad)
}

async function compareLoad<R>(ctx: ScenarioContext, load: Load<R>): Promise<ScenarioOutput> {
	const ref = ctx.against ?? 'HEAD'
	const pairs = ctx.pairs ?? DEFAULT_PAIRS
	const sha = git('rev-parse', '--verify', `${ref}^{commit}`)
	const label = sha.startsWith(ref) ? sha.slice(0, 7) : `${ref} (${sha.slice(0, 7)})`
	if (!sameLock(sha))
		console.warn(`  ${label} has another bun.lock; it runs on this tree's node_modules anyway`)
	const tree = join(ctx.dir, 'against')
	// A run stopped by Ctrl-C removes the scratch dir but leaves git's record of the worktree.
	git('worktree', 'prune')
	git('worktree', 'add', '--detach', tree, sha)
	symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'))
	try {
		const sides = [
			{ name: label, root: tree },
			{ name: 'this tree', root: ROOT },
		]
		const bodies: Cell[][] = []
		const summary: Record<string, unknown>[] = []
		for (const config of load.configs) {
			const runs: R[][] = [[], []]
			for (let i = 0; i < pairs; i++)
				for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
					console.log(`  ${sides[k].name}: ${config.label} (pair ${i + 1}/${pairs})`)
					const name = `compare-${config.label.replace(/\W/g, '_')}-${i}-${k}`
					runs[k].push(await config.run({ dir: ctx.dir, name, root: sides[k].root }))
				}
			const wins: Record<string, number> = {}
			for (const [figure, get, higherIsBetter] of load.figures) {
				const won = runs[1].filter((r, i) =>
					higherIsBetter ? get(r) > get(runs[0][i]) : get(r) < get(runs[0][i]),
				).length
				wins[figure] = won
				const med = (k: number) => median(runs[k].map(get))
				const each = (k: number) => runs[k].map((r) => fmt(get(r))).join(' / ')
				bodies.push(
					[`${config.label}: ${figure}, median`, med(0), med(1), fmt(med(1) / med(0), 3)],
					['  each pair', each(0), each(1), `won ${won} of ${pairs}`],
				)
			}
			summary.push({ config: config.label, against: runs[0], current: runs[1], wins })
		}
		const text = table(
			`COMPARE: ${load.title}, ${pairs} pairs, alternating which runs first`,
			['figure', label, 'this tree', 'this / other'],
			bodies,
		)
		return { text, checks: [], data: { against: sha, pairs, configs: summary } }
	} finally {
		git('worktree', 'remove', '--force', tree)
	}
}

/** Whether `sha`'s bun.lock is this tree's. */
function sameLock(sha: string) {
	return (
		Bun.spawnSync(['git', 'diff', '--quiet', sha, '--', 'bun.lock'], { cwd: ROOT }).exitCode === 0
	)
}
