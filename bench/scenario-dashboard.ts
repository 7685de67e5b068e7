/**
 * Dashboard: what a dashboard's first paint asks of a large server, and how long each answer
 * takes. A database of 100,000 agent streams (plus one agent with 10,000 executions and
 * 1,000,000 events) is filled through the store, then a server on it is asked for list pages
 * (the first page of 50, filtered by status and name prefix, each with its counts; for a token
 * that may read everything and for one whose patterns take a fifth of the agents) and for pages
 * of the busy agent's executions. Then the same after `--retention 1s` has pruned every ended
 * run, so that the lists read the runs retention emptied from the table. SQLite, then Postgres
 * (fsync on) when it is installed.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { DashboardFill, DashboardJob, PathTiming } from './dashboard.ts'
import {
	type Cell,
	type Check,
	checksTable,
	fmt,
	type ScenarioContext,
	type ScenarioOutput,
	table,
} from './report.ts'
import { type Database, runLoad, startDatabase, startTarget, type Target, TOKEN } from './server.ts'

const STREAMS = 100_000
const EXECUTIONS = 10_000
const NARROW_TOKEN = 'bench-narrow-token'
const FILL_BOUND_S = 600
const MEASURE_BOUND_S = 180
/** A list page, filters and counts included: the dashboard's whole first paint has 1 s. */
const LIST_TARGET_MS = 100
const EXECUTIONS_TARGET_MS = 20

const PATHS = [
	'/api/agents?limit=50',
	'/api/agents?limit=50&status=running',
	'/api/agents?limit=50&status=cancelled',
	'/api/agents?limit=50&prefix=build-',
	'/api/agents?limit=50&prefix=build-&status=failed',
	// Nothing matches: the page walks every stream.
	'/api/agents?limit=50&prefix=nobody-',
	'/api/agents/busy/executions?limit=50',
	'/api/agents/busy/executions',
	'/api/agents/busy/executions?before=500000',
	'/api/agents/busy/executions?limit=1000',
]

interface EngineRun {
	engine: 'sqlite' | 'postgres'
	fill: DashboardFill
	before: PathTiming[]
	/** After --retention 1s pruned every ended run. */
	after: PathTiming[]
	prunedStreams: number
	pruneS: number
}

/** The tokens file: everything, and the agents of two of the eight name groups. */
function tokensFile(dir: string) {
	const file = join(dir, 'dashboard-tokens.json')
	writeFileSync(
		file,
		JSON.stringify([
			{ token: TOKEN, scopes: ['admin'] },
			{ token: NARROW_TOKEN, scopes: ['read'], streams: ['agents/build-*', 'agents/deploy-*'] },
		]),
	)
	return file
}

const metric = async (target: Target, name: string) => {
	const { host, port } = target.endpoint
	const text = await (await fetch(`http://${host}:${port}/metrics`)).text()
	const line = text.split('\n').find((l) => l.startsWith(`${name} `))
	return Number(line?.split(' ')[1] ?? Number.NaN)
}

async function measure(target: Target) {
	return runLoad<PathTiming[]>(
		'dashboard.ts',
		{
			phase: 'measure',
			endpoint: target.endpoint,
			narrowToken: NARROW_TOKEN,
			paths: PATHS,
		} satisfies DashboardJob,
		MEASURE_BOUND_S,
	)
}

async function run(
	ctx: ScenarioContext,
	engine: EngineRun['engine'],
	db: string,
): Promise<EngineRun> {
	console.log(
		`  ${engine}: filling ${STREAMS.toLocaleString('en-US')} agents and busy's ${EXECUTIONS.toLocaleString('en-US')} executions`,
	)
	const fill = await runLoad<DashboardFill>(
		'dashboard.ts',
		{ phase: 'fill', db, streams: STREAMS, executions: EXECUTIONS } satisfies DashboardJob,
		FILL_BOUND_S,
	)
	const tokens = tokensFile(ctx.dir)
	const options = { dir: ctx.dir, name: `dashboard-${engine}`, db, profileDir: ctx.profileDir }
	let target = await startTarget('cortex', { ...options, args: ['--tokens-file', tokens] })
	let before: PathTiming[]
	try {
		before = await measure(target)
	} finally {
		await target.stop()
	}
	// Retention prunes at start: wait for it, then ask again.
	const t0 = performance.now()
	target = await startTarget('cortex', {
		...options,
		// A log of its own: startTarget reads the port from the first `listening` line.
		name: `${options.name}-retention`,
		args: ['--tokens-file', tokens, '--retention', '1s'],
	})
	try {
		let pruned = 0
		for (const deadline = Date.now() + FILL_BOUND_S * 1000; Date.now() < deadline; ) {
			pruned = await metric(target, 'cortex_pruned_streams_total')
			if (pruned >= STREAMS * 0.95) break
			await Bun.sleep(500)
		}
		const pruneS = (performance.now() - t0) / 1000
		const after = await measure(target)
		return { engine, fill, before, after, prunedStreams: pruned, pruneS }
	} finally {
		await target.stop()
	}
}

const label = (t: PathTiming) => `${t.narrow ? '(narrow) ' : ''}GET ${t.path}`

function timings(title: string, list: PathTiming[]) {
	return table(
		title,
		['request', 'status', 'rows', 'KB', 'first ms', 'p50 ms', 'p90 ms', 'max ms'],
		list.map((t): Cell[] => [
			label(t),
			String(t.status),
			String(t.items),
			fmt(t.bytes / 1000, 1),
			fmt(t.firstMs, 1),
			fmt(t.ms.p50, 1),
			fmt(t.ms.p90, 1),
			fmt(t.ms.max, 1),
		]),
	)
}

function checksOf(r: EngineRun): Check[] {
	const worst = (list: PathTiming[], lists: boolean) => {
		const picked = list.filter((t) => t.path.includes('/executions') !== lists)
		const slowest = picked.reduce((a, b) => (b.ms.p90 > a.ms.p90 ? b : a))
		const refused = picked.filter((t) => t.status !== 200)
		return { slowest, refused }
	}
	const checks: Check[] = []
	for (const [phase, list] of [
		['', r.before],
		[' after the prune', r.after],
	] as const) {
		const lists = worst(list, true)
		checks.push({
			target: `${r.engine}: a list page${phase}, p90 < ${LIST_TARGET_MS} ms`,
			measured: `${fmt(lists.slowest.ms.p90, 1)} ms (${label(lists.slowest)})`,
			pass: lists.slowest.ms.p90 < LIST_TARGET_MS && lists.refused.length === 0,
		})
	}
	const executions = worst(r.before, false)
	checks.push({
		target: `${r.engine}: a page of 1,000,000 events' executions, p90 < ${EXECUTIONS_TARGET_MS} ms (limit 1000 aside)`,
		measured: (() => {
			const paged = r.before.filter(
				(t) => t.path.includes('/executions') && !t.path.includes('limit=1000'),
			)
			const slowest = paged.reduce((a, b) => (b.ms.p90 > a.ms.p90 ? b : a))
			return `${fmt(slowest.ms.p90, 1)} ms (${label(slowest)})`
		})(),
		pass:
			executions.refused.length === 0 &&
			r.before
				.filter((t) => t.path.includes('/executions') && !t.path.includes('limit=1000'))
				.every((t) => t.ms.p90 < EXECUTIONS_TARGET_MS),
	})
	return checks
}

export async function dashboard(ctx: ScenarioContext): Promise<ScenarioOutput> {
	const runs: EngineRun[] = [await run(ctx, 'sqlite', join(ctx.dir, 'dashboard.db'))]
	let pg: Database | undefined
	let skipped: string | undefined
	try {
		console.log('  starting a Postgres cluster (fsync on), pinned to core 0')
		pg = await startDatabase()
	} catch (error) {
		skipped = `postgres skipped: ${(error as Error).message.split('\n')[0]}`
		console.log(`  ${skipped}`)
	}
	if (pg)
		try {
			runs.push(await run(ctx, 'postgres', await pg.database()))
		} finally {
			await pg.stop()
		}
	const text: string[] = []
	const checks: Check[] = []
	for (const r of runs) {
		text.push(
			table(
				`DASHBOARD, ${r.engine}: ${r.fill.streams.toLocaleString('en-US')} agents, ${r.fill.events.toLocaleString('en-US')} events`,
				['figure', 'value'],
				[
					['filled through the store, s', fmt(r.fill.fillS, 1)],
					[
						'streams pruned by --retention 1s at start, in s',
						`${r.prunedStreams.toLocaleString('en-US')}, ${fmt(r.pruneS, 1)}`,
					],
				],
			),
			timings(`${r.engine}: each request once cold, then 30 times`, r.before),
			timings(`${r.engine}: the same after retention pruned every ended run`, r.after),
		)
		checks.push(...checksOf(r))
	}
	if (skipped) text.push(`\n${skipped}`)
	text.push(checksTable('dashboard targets', checks))
	return { text: text.join('\n'), checks, data: { runs, skipped } }
}
