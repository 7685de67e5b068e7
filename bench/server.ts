import { join } from 'node:path'
import type { Subprocess } from 'bun'
import type { Endpoint } from './http.ts'

/**
 * Every process the bench starts goes through here, pinned to a core, and is remembered so that
 * `killAll` can end it on any exit path (error, Ctrl-C, time bound).
 */

export const SERVER_CORE = 0
export const LOAD_CORE = 1
export const TOKEN = 'bench-token'
const ROOT = join(import.meta.dir, '..')

const running = new Set<Subprocess>()

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
					join(ROOT, 'src/main.ts'),
					'serve',
					'--port',
					'0',
					'--db',
					join(options.dir, `${options.name}.db`),
					'--token',
					TOKEN,
					// One token opens every subscriber here: lift the per-token limits out of the way.
					'--max-streams',
					'1000000',
					'--max-streams-per-token',
					'1000000',
					'--max-connects-per-second',
					'1000000',
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
