/**
 * cortex-stream benchmark suite.
 *
 *   bun run bench [fanout] [ingest] [resume] [soak] [scale] [backup] [stalled] [streams]
 *                 [dashboard] [--profile]
 *   bun run bench compare [--against=<git ref, HEAD by default>] [--pairs=<n, 5 by default>]
 *                         [--load=ingest|fanout]
 *
 * No scenario runs fanout, ingest and resume; soak (ten minutes), scale (SQLite against two
 * instances on Postgres, about two minutes), compare (this tree's ingest against another
 * revision's, in alternating pairs), backup (how long an online backup holds the server),
 * stalled (what subscribers that stop reading cost the server, about a minute), streams
 * (memory per stream, and whether retention gives it back) and dashboard (list pages, counts and
 * executions at 100,000 streams) run only by name. The server (and
 * the floor) run
 * pinned to core 0, every load generator in its own process pinned to core 1. Tables go to
 * stdout, a JSON summary to .bench/results.json (scenarios not run keep their previous entry).
 * `--profile` also writes a CPU profile of each cortex-stream server to .bench/profiles/.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { type Check, checksTable, type ScenarioContext, type ScenarioOutput } from './report.ts'
import { backup } from './scenario-backup.ts'
import { compare } from './scenario-compare.ts'
import { dashboard } from './scenario-dashboard.ts'
import { fanout } from './scenario-fanout.ts'
import { ingest } from './scenario-ingest.ts'
import { resume } from './scenario-resume.ts'
import { scale } from './scenario-scale.ts'
import { soak } from './scenario-soak.ts'
import { stalled } from './scenario-stalled.ts'
import { streams } from './scenario-streams.ts'
import { killAll, pinSelf } from './server.ts'

const SCENARIOS: Record<string, (ctx: ScenarioContext) => Promise<ScenarioOutput>> = {
	fanout,
	ingest,
	resume,
	soak,
	scale,
	compare,
	backup,
	stalled,
	streams,
	dashboard,
}
/**
 * Run by name only: `bun run bench soak` takes ten minutes; `scale` needs Postgres installed and
 * compares store engines rather than checking targets; `compare` measures a change; `backup`
 * has no target; `stalled` holds a thousand connections that never read for a minute, and
 * `streams` fills a server with 100,000 streams: both measure memory on a server of their own;
 * `dashboard` fills a database of 100,000 streams and a million events, twice with Postgres.
 */
const ON_REQUEST = new Set([
	'soak',
	'scale',
	'compare',
	'backup',
	'stalled',
	'streams',
	'dashboard',
])
/** The 5,000-subscriber run holds that many sockets in the server and in the load generator. */
const FDS_NEEDED = 5_000 + 256

const ROOT = join(import.meta.dir, '..')
const OUT = join(ROOT, '.bench')
const RESULTS = join(OUT, 'results.json')

const args = process.argv.slice(2)
const profile = args.includes('--profile')
const option = (name: string) =>
	args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) || undefined
const againstRef = option('against')
const pairs = option('pairs') === undefined ? undefined : Number(option('pairs'))
if (pairs !== undefined && !(Number.isInteger(pairs) && pairs >= 1 && pairs <= 20)) {
	console.error('--pairs must be a whole number from 1 to 20')
	process.exit(2)
}
const load = option('load')
if (load !== undefined && load !== 'ingest' && load !== 'fanout') {
	console.error('--load must be ingest or fanout')
	process.exit(2)
}
const names = args.filter((a) => !a.startsWith('--'))
const unknown = names.filter((n) => !(n in SCENARIOS))
if (unknown.length > 0) {
	console.error(
		`unknown scenario ${unknown.join(', ')}; choose from ${Object.keys(SCENARIOS).join(', ')}`,
	)
	process.exit(2)
}
const selected = names.length > 0 ? names : Object.keys(SCENARIOS).filter((n) => !ON_REQUEST.has(n))

if (Bun.which('taskset') === null) {
	console.error('taskset is missing (util-linux); the bench pins server and load to separate cores')
	process.exit(2)
}
const hardFds = Number(
	Bun.spawnSync(['sh', '-c', 'ulimit -Hn']).stdout.toString().trim().replace('unlimited', '1e9'),
)
if (hardFds < FDS_NEEDED) {
	console.error(`the hard fd limit is ${hardFds}; the fan-out needs ${FDS_NEEDED} per process`)
	process.exit(2)
}
if (os.cpus().length < 2) console.warn('only one CPU: server and load generator will share it')
pinSelf()

const dir = join(OUT, `tmp-${Date.now()}`)
mkdirSync(dir, { recursive: true })
const profileDir = profile ? join(OUT, 'profiles') : undefined
if (profileDir) mkdirSync(profileDir, { recursive: true })

function cleanup() {
	killAll()
	rmSync(dir, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
	process.once(signal, () => {
		cleanup()
		process.exit(130)
	})

const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
console.log(
	`cortex-stream bench: ${selected.join(', ')} | bun ${Bun.version} | ${os.cpus().length} x ${cpu} | ${os.release()}`,
)
console.log(
	'server and floor on core 0, load generators on core 1 (taskset); subscribers are raw Bun.connect sockets',
)

if (profile)
	console.log(
		'--profile: cortex-stream runs under the CPU profiler, slower than normal; read the profiles, not the targets',
	)

const previous = existsSync(RESULTS)
	? (JSON.parse(readFileSync(RESULTS, 'utf8')) as { scenarios?: Record<string, unknown> })
	: {}
const scenarios: Record<string, unknown> = { ...previous.scenarios }
const allChecks: Check[] = []
const started = performance.now()
let failed = false
try {
	for (const name of selected) {
		const t0 = performance.now()
		console.log(`\n== ${name}`)
		const out = await SCENARIOS[name]({ dir, profileDir, against: againstRef, pairs, load })
		const seconds = (performance.now() - t0) / 1000
		console.log(out.text)
		console.log(`(${name}: ${seconds.toFixed(0)} s)`)
		allChecks.push(...out.checks)
		scenarios[name] = {
			at: new Date().toISOString(),
			seconds,
			// A profiled server runs slower: such figures are for reading profiles, not for targets.
			profiled: profile,
			checks: out.checks,
			data: out.data,
		}
	}
} catch (error) {
	failed = true
	console.error(`\nbench failed: ${(error as Error).stack ?? error}`)
} finally {
	cleanup()
}

mkdirSync(OUT, { recursive: true })
writeFileSync(
	RESULTS,
	`${JSON.stringify(
		{
			at: new Date().toISOString(),
			machine: { cpus: os.cpus().length, model: cpu, kernel: os.release(), bun: Bun.version },
			scenarios,
		},
		null,
		'\t',
	)}\n`,
)
if (allChecks.length > 0) {
	console.log(checksTable('ALL TARGETS', allChecks))
	const passed = allChecks.filter((c) => c.pass).length
	console.log(`\n${passed}/${allChecks.length} targets met`)
}
console.log(
	`total ${((performance.now() - started) / 1000).toFixed(0)} s; summary in ${RESULTS}${profileDir ? `; profiles in ${profileDir}` : ''}`,
)
process.exit(failed ? 1 : 0)
