/**
 * Compare: the ingest loads against this source tree and against another git revision, in
 * alternating pairs, to tell a change's effect from the VM's drift (a third from one minute to
 * the next here, more than most changes). Each pair runs both servers back to back, in turn
 * first; a change is real when it wins nearly every pair, whatever the medians say.
 *
 *   bun run bench compare --against=HEAD~1 --pairs=5
 *
 * The other revision runs from a git worktree under the bench's scratch dir, on this tree's
 * node_modules. Figures only, no targets.
 */
import { symlinkSync } from 'node:fs'
import { join } from 'node:path'
import type { IngestResult } from './ingest.ts'
import { type Cell, fmt, type ScenarioContext, type ScenarioOutput, table } from './report.ts'
import { CLIENTS, CONFIGS, ingestAgainst, MEASURE_S, WARMUP_S } from './scenario-ingest.ts'
import { median } from './stats.ts'

const ROOT = join(import.meta.dir, '..')
export const DEFAULT_PAIRS = 5

function git(...args: string[]) {
	const out = Bun.spawnSync(['git', ...args], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
	if (out.exitCode !== 0) throw new Error(`git ${args.join(' ')}: ${out.stderr.toString().trim()}`)
	return out.stdout.toString().trim()
}

export async function compare(ctx: ScenarioContext): Promise<ScenarioOutput> {
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
		for (const { batch, maxRequests } of CONFIGS) {
			const runs: IngestResult[][] = [[], []]
			for (let i = 0; i < pairs; i++)
				for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
					console.log(`  ${sides[k].name}: ${CLIENTS} clients x ${batch} (pair ${i + 1}/${pairs})`)
					const name = `compare-${batch}-${i}-${k}`
					runs[k].push(
						await ingestAgainst(
							'cortex',
							{ dir: ctx.dir, name, root: sides[k].root },
							{ batch, maxRequests },
							name,
						),
					)
				}
			const wins = runs[1].filter((r, i) => r.eventsPerS > runs[0][i].eventsPerS).length
			const each = (k: number, get: (r: IngestResult) => number, digits?: number) =>
				runs[k].map((r) => fmt(get(r), digits)).join(' / ')
			const med = (k: number, get: (r: IngestResult) => number) => median(runs[k].map(get))
			const rate = (r: IngestResult) => r.eventsPerS
			const cpu = (r: IngestResult) => r.serverCpuUsPerEvent
			bodies.push(
				[
					`x${batch}: events/s, median`,
					med(0, rate),
					med(1, rate),
					fmt(med(1, rate) / med(0, rate), 3),
				],
				['  each pair', each(0, rate, 0), each(1, rate, 0), `won ${wins} of ${pairs}`],
				[
					'  server CPU us / event, median',
					med(0, cpu),
					med(1, cpu),
					fmt(med(1, cpu) / med(0, cpu), 3),
				],
				['  each pair', each(0, cpu), each(1, cpu), ''],
			)
			summary.push({ batch, against: runs[0], current: runs[1], wins })
		}
		const text = table(
			`COMPARE: ingest (${CLIENTS} clients, ${MEASURE_S} s after ${WARMUP_S} s warm-up), ${pairs} pairs, alternating which runs first`,
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
