import { join } from 'node:path'
import { SQL, type Subprocess } from 'bun'
import { type PgCluster, startPostgres } from '../test/postgres.ts'
import type { Endpoint } from './http.ts'
import { processTree } from './proc.ts'

/**
 * Every process the bench starts goes through here, pinned to a core, and is remembered so that
 * `killAll` can end it on any exit path (error, Ctrl-C, time bound).
 */

export const SERVER_CORE = 0
export const LOAD_CORE = 1
export const TOKEN = 'bench-token'
const ROOT = join(import.meta.dir, '..')

const running = new Set<Subprocess>()
const databases = new Set<PgCluster>()

/** Runs `cmd` on one core with the fd limit raised to the hard limit; `exec` keeps the pid. */
function pinned(core: number, cmd: string[]) {
	return [
		'sh',
		'-c',
		'ulimit -n "$(ulimit -Hn)" && exec taskset -c "$0" "$@"',
		String(core),
		...cmd,
	]
}

export function killAll() {
	for (const proc of running) {
		proc.kill('SIGKILL')
		running.delete(proc)
	}
	// The cluster's stop is synchronous underneath (pg_ctl stop -m immediate, then rm).
	for (const db of databases) {
		void db.stop()
		databases.delete(db)
	}
}

export type TargetKind = 'cortex' | 'floor'

export interface Target {
	kind: TargetKind
	pid: number
	endpoint: Endpoint
	stop(): Promise<void>
}

export interface TargetOptions {
	/** Where the database and the server's log go. */
	dir: string
	name: string
	/** Write a CPU profile of the cortex-stream server here when it stops. */
	profileDir?: string
	/** cortex-stream's `--db`, e.g. a `postgres://` URL; a SQLite file in `dir` by default. */
	db?: string
	/** Run cortex-stream from this source tree (another revision's worktree); this one by default. */
	root?: string
	/** More `serve` flags for cortex-stream, e.g. `['--retention', '1s']`. */
	args?: string[]
}

/**
 * Starts cortex-stream (from source) or the floor on the server core and waits for its
 * `listening` line. Its stdout, one JSON line per request, goes to a file: a pipe nobody reads
 * would block the server once full.
 */
export async function startTarget(kind: TargetKind, options: TargetOptions): Promise<Target> {
	const logPath = join(options.dir, `${options.name}.log`)
	const cmd =
		kind === 'cortex'
			? [
					'bun',
					...(options.profileDir
						? [
								'--cpu-prof',
								`--cpu-prof-dir=${options.profileDir}`,
								`--cpu-prof-name=${options.name}.cpuprofile`,
							]
						: []),
					join(options.root ?? ROOT, 'src/main.ts'),
					'serve',
					'--port',
					'0',
					'--db',
					options.db ?? join(options.dir, `${options.name}.db`),
					'--token',
					TOKEN,
					// One token opens every subscriber here: lift the per-token limits out of the way.
					'--max-streams',
					'1000000',
					'--max-streams-per-token',
					'1000000',
					'--max-connects-per-second',
					'1000000',
					...(options.args ?? []),
				]
			: ['bun', join(ROOT, 'bench/floor.ts')]
	const proc = Bun.spawn(pinned(SERVER_CORE, cmd), {
		cwd: ROOT,
		stdout: Bun.file(logPath),
		stderr: 'inherit',
	})
	running.add(proc)
	const deadline = Date.now() + 15_000
	let port = 0
	while (port === 0) {
		if (proc.exitCode !== null) throw new Error(`${kind} exited with ${proc.exitCode} at start`)
		if (Date.now() > deadline) {
			proc.kill('SIGKILL')
			throw new Error(`${kind} did not print its listening line within 15 s`)
		}
		await Bun.sleep(20)
		const text = await Bun.file(logPath).text()
		const line = text.split('\n').find((l) => l.includes('"listening"'))
		if (line) port = (JSON.parse(line) as { port: number }).port
	}
	return {
		kind,
		pid: proc.pid,
		endpoint: { host: '127.0.0.1', port, token: TOKEN },
		async stop() {
			proc.kill('SIGTERM')
			// cortex-stream gives open streams up to 5 s to finish on SIGTERM.
			const exited = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => null)])
			if (exited === null) proc.kill('SIGKILL')
			await proc.exited
			running.delete(proc)
		},
	}
}

/**
 * Runs a load generator script on the load core and returns the JSON it prints last. Its
 * progress lines (stderr) are shown as they come.
 */
export async function runLoad<T>(script: string, job: unknown, timeoutS: number): Promise<T> {
	const proc = Bun.spawn(
		pinned(LOAD_CORE, ['bun', join(ROOT, 'bench', script), JSON.stringify(job)]),
		{
			cwd: ROOT,
			stdout: 'pipe',
			stderr: 'inherit',
		},
	)
	running.add(proc)
	const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutS * 1000)
	const out = await new Response(proc.stdout).text()
	const code = await proc.exited
	clearTimeout(timer)
	running.delete(proc)
	if (code !== 0)
		throw new Error(
			`${script} failed (exit ${code}${proc.signalCode ? `, ${proc.signalCode}` : ''}; time bound ${timeoutS} s)`,
		)
	const last = out.trim().split('\n').pop() ?? ''
	return JSON.parse(last) as T
}

/** Keeps the orchestrator off the server's core too; it mostly sleeps, but it reads pipes. */
export function pinSelf() {
	Bun.spawnSync(['taskset', '-a', '-cp', String(LOAD_CORE), String(process.pid)], {
		stdout: 'ignore',
	})
}

/** Starts a fresh target, runs one load generator job against it, and always stops it. */
export async function against<T>(
	kind: TargetKind,
	options: TargetOptions,
	script: string,
	job: (pid: number, endpoint: Endpoint) => unknown,
	timeoutS: number,
): Promise<T> {
	const target = await startTarget(kind, options)
	try {
		return await runLoad<T>(script, job(target.pid, target.endpoint), timeoutS)
	} finally {
		await target.stop()
	}
}

/** cortex-stream instances on one database; more than one needs a Postgres URL in `options.db`. */
export interface Cluster {
	targets: Target[]
	stop(): Promise<void>
}

/**
 * Starts `instances` cortex-stream servers one after the other (the first creates the schema),
 * all on the server core, named `<name>-0`, `<name>-1`, ...
 */
export async function startCluster(instances: number, options: TargetOptions): Promise<Cluster> {
	const targets: Target[] = []
	const stop = async () => {
		await Promise.all(targets.map((t) => t.stop()))
	}
	try {
		for (let i = 0; i < instances; i++)
			targets.push(await startTarget('cortex', { ...options, name: `${options.name}-${i}` }))
	} catch (error) {
		await stop()
		throw error
	}
	return { targets, stop }
}

export interface Database {
	/** The postmaster: the root of every Postgres process, for CPU accounting. */
	pid: number
	/** A URL for a new, empty database. */
	database(): Promise<string>
	stop(): Promise<void>
}

/**
 * A throwaway Postgres cluster (fsync on), pinned with all its processes to the server core:
 * the server side keeps one core in every configuration, and the load generator's core stays its
 * own. Backends forked later inherit the postmaster's affinity.
 */
export async function startDatabase(): Promise<Database> {
	const cluster = await startPostgres({ fsync: true })
	databases.add(cluster)
	const stop = async () => {
		databases.delete(cluster)
		await cluster.stop()
	}
	try {
		const pid = await postmasterPid(await cluster.database())
		for (const p of processTree(pid))
			Bun.spawnSync(['taskset', '-a', '-cp', String(SERVER_CORE), String(p)], { stdout: 'ignore' })
		return { pid, database: () => cluster.database(), stop }
	} catch (error) {
		await stop()
		throw error
	}
}

/** Every backend is a child of the postmaster; ask one for its pid and read its parent. */
async function postmasterPid(url: string): Promise<number> {
	const sql = new SQL(url, { max: 1 })
	try {
		const [{ pid }] = await sql`SELECT pg_backend_pid() AS pid`
		const status = await Bun.file(`/proc/${pid}/status`).text()
		const match = /PPid:\s+(\d+)/.exec(status)
		if (!match) throw new Error(`no parent for Postgres backend ${pid}`)
		return Number(match[1])
	} finally {
		await sql.close()
	}
}
