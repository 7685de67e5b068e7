import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SQL } from 'bun'

/**
 * A throwaway Postgres cluster for tests and benchmarks: initdb into a temp dir, a server on a
 * free loopback port, removed again on dispose. Set CORTEX_TEST_POSTGRES to a server's URL to
 * use that one instead (each caller still gets its own database).
 */
export interface PgCluster {
	/** A URL for a new, empty database of its own. */
	database(): Promise<string>
	/** Stops the server as a crash would, keeping its data: an outage, until `start`. */
	crash(): void
	/** Starts the server again on the same port, after `crash`. */
	start(): void
	stop(): Promise<void>
	[Symbol.asyncDispose](): Promise<void>
}

/** Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<version>/bin. */
function binary(name: string): string {
	for (const dir of (process.env.PATH ?? '').split(':'))
		if (dir && existsSync(join(dir, name))) return join(dir, name)
	const root = '/usr/lib/postgresql'
	const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
	for (const v of versions)
		if (existsSync(join(root, v, 'bin', name))) return join(root, v, 'bin', name)
	throw new Error(
		`${name} not found: install Postgres (bun run test:setup does, with Debian's postgresql) or set CORTEX_TEST_POSTGRES`,
	)
}

async function freePort(): Promise<number> {
	const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
	const port = server.port
	server.stop(true)
	return port
}

/** initdb and postgres refuse to run as root: run them as the `postgres` user then. */
const asOwner = (argv: string[]) =>
	process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...argv] : argv

let databases = 0

export async function startPostgres(options: { fsync?: boolean } = {}): Promise<PgCluster> {
	const external = process.env.CORTEX_TEST_POSTGRES
	const fresh = (admin: string) => async () => {
		const name = `cortex_test_${process.pid}_${++databases}`
		const sql = new SQL(admin, { max: 1 })
		try {
			await sql.unsafe(`CREATE DATABASE ${name}`)
		} finally {
			await sql.close()
		}
		const url = new URL(admin)
		url.pathname = `/${name}`
		return url.toString()
	}
	if (external) {
		const stop = async () => {}
		const unsupported = () => {
			throw new Error('an outage needs a throwaway cluster: unset CORTEX_TEST_POSTGRES')
		}
		return {
			database: fresh(external),
			crash: unsupported,
			start: unsupported,
			stop,
			[Symbol.asyncDispose]: stop,
		}
	}

	const dir = mkdtempSync(join(tmpdir(), 'cortex-pg-'))
	if (process.getuid?.() === 0) {
		const { uid, gid } = await ownerIds()
		chownSync(dir, uid, gid)
	}
	const data = join(dir, 'data')
	const init = Bun.spawnSync(
		asOwner([
			binary('initdb'),
			'-D',
			data,
			'-U',
			'cortex',
			'-A',
			'trust',
			'--no-sync',
			'-E',
			'UTF8',
		]),
		{ stdout: 'pipe', stderr: 'pipe' },
	)
	if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`)
	const port = await freePort()
	const settings = [
		`-p ${port}`,
		`-k ${dir}`,
		'-c listen_addresses=127.0.0.1',
		`-c fsync=${options.fsync === false ? 'off' : 'on'}`,
		'-c max_connections=200',
	].join(' ')
	const pgCtl = (...args: string[]) =>
		Bun.spawnSync(asOwner([binary('pg_ctl'), '-D', data, ...args]), {
			stdout: 'pipe',
			stderr: 'pipe',
		})
	const start = () => {
		const started = pgCtl('-o', settings, '-l', join(dir, 'log'), '-w', '-t', '60', 'start')
		if (started.exitCode !== 0)
			throw new Error(`postgres did not start: ${started.stderr.toString()}`)
	}
	try {
		start()
	} catch (error) {
		rmSync(dir, { recursive: true, force: true })
		throw error
	}
	// pg_ctl leaves the server running on its own: stop it even when the run ends abruptly.
	const stopNow = () => {
		pgCtl('-m', 'immediate', 'stop')
		rmSync(dir, { recursive: true, force: true })
	}
	process.on('exit', stopNow)
	const admin = `postgres://cortex@127.0.0.1:${port}/postgres`
	let stopped = false
	const stop = async () => {
		if (stopped) return
		stopped = true
		process.off('exit', stopNow)
		stopNow()
	}
	return {
		database: fresh(admin),
		crash: () => {
			pgCtl('-m', 'immediate', 'stop')
		},
		start,
		stop,
		[Symbol.asyncDispose]: stop,
	}
}

async function ownerIds() {
	const out = Bun.spawnSync(['id', '-u', 'postgres']).stdout.toString().trim()
	const gid = Bun.spawnSync(['id', '-g', 'postgres']).stdout.toString().trim()
	if (!out) throw new Error('no postgres user: install Debian postgresql (bun run test:setup)')
	return { uid: Number(out), gid: Number(gid) }
}
