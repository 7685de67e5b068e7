import { describe, expect, it } from 'bun:test'
import pkg from '../package.json'
import { onPostgres, runCli, startServer } from './helpers.ts'

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, env)

describe('cortex-stream command line', () => {
	it('prints its version', async () => {
		expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` })
	})

	it('lists every setting of the contract in serve --help', async () => {
		const { code, stdout } = await cli(['serve', '--help'])
		expect(code).toBe(0)
		for (const [flag, env] of [
			['--port', 'CORTEX_PORT'],
			['--host', 'CORTEX_HOST'],
			['--db', 'CORTEX_DB'],
			['--token', 'CORTEX_TOKEN'],
			['--tokens-file', 'CORTEX_TOKENS_FILE'],
			['--heartbeat-ms', 'CORTEX_HEARTBEAT_MS'],
			['--retry-ms', 'CORTEX_RETRY_MS'],
			['--retention', 'CORTEX_RETENTION'],
			['--max-body', 'CORTEX_MAX_BODY'],
			['--cors-origin', 'CORTEX_CORS_ORIGIN'],
			['--no-auth', ''],
		]) {
			expect(stdout).toContain(flag)
			expect(stdout).toContain(env)
		}
		expect(stdout).toContain('8787')
		expect((await cli(['--help'])).stdout).toContain('serve')
	})

	it('refuses unknown flags and bad values with a one-line reason', async () => {
		for (const args of [
			['serve', '--bogus', '1'],
			['serve', '--port', 'eighty'],
			['serve', '--retention', '30 days'],
			['serve', '--heartbeat-ms', '-5'],
			['serve', '--tokens-file', '/nonexistent/tokens.json'],
			['frobnicate'],
		]) {
			const { code, stderr } = await cli(args, { CORTEX_TOKEN: 'x' })
			expect([args.join(' '), code]).toEqual([args.join(' '), 2])
			expect(stderr.trim().split('\n')[0]).toStartWith('cortex-stream: ')
		}
	})

	it('takes settings from the environment, the flag winning', async () => {
		await using server = await startServer({
			env: { CORTEX_RETRY_MS: '4321', CORTEX_HEARTBEAT_MS: '999999' },
			args: ['--heartbeat-ms', '40'],
		})
		const res = await fetch(`${server.url}/api/streaming/agents/a/stream`, {
			headers: { authorization: `Bearer ${server.token}` },
		})
		const reader = (res.body as ReadableStream<Uint8Array>).getReader()
		let text = ''
		while (!text.includes(': heartbeat'))
			text += new TextDecoder().decode((await reader.read()).value)
		expect(text).toStartWith('retry: 4321\n\n')
		await reader.cancel()
	})

	it('creates the database directory on first start', async () => {
		const { tempDir } = await import('./helpers.ts')
		using dir = tempDir()
		await using server = await startServer({ dbPath: `${dir.path}/nested/deeper/cortex.db` })
		expect(await Bun.file(`${dir.path}/nested/deeper/cortex.db`).exists()).toBe(true)
		expect(server.port).toBeGreaterThan(0)
	})
})

describe('one server per port', () => {
	it('refuses to start on a port another server listens on, naming it, and leaves that one alone', async () => {
		await using first = await startServer()
		const { tempDir } = await import('./helpers.ts')
		using dir = tempDir()
		const second = await cli(
			['serve', '--port', String(first.port), '--db', `${dir.path}/other.db`],
			{ CORTEX_TOKEN: 'x' },
		)
		expect(second.code).toBe(1)
		expect(second.stderr).toContain(`port ${first.port}`)
		expect(second.stderr).toContain('already in use')
		// Every request still reaches the first server and its database: ids go on from 1, 2, 3.
		for (let i = 1; i <= 3; i++) {
			const res = await fetch(`${first.url}/api/agents/a/events`, {
				method: 'POST',
				headers: { authorization: `Bearer ${first.token}` },
				body: '{"event":"progress"}',
			})
			expect(await res.json()).toEqual({ ids: [i] })
		}
	})
})

describe('one server per database file', () => {
	it.skipIf(onPostgres)(
		'refuses to start on a file another server holds, and touches nothing',
		async () => {
			await using first = await startServer()
			const second = await cli(['serve', '--port', '0', '--db', first.dbPath], {
				CORTEX_TOKEN: 'x',
			})
			expect(second.code).toBe(1)
			expect(second.stderr).toContain('cannot start')
			expect(second.stderr).toContain(
				`the database ${first.dbPath} is in use by another cortex-stream server`,
			)
			const res = await fetch(`${first.url}/api/agents/a/events`, {
				method: 'POST',
				headers: { authorization: `Bearer ${first.token}` },
				body: '{"event":"progress"}',
			})
			expect(res.status).toBe(201)
		},
	)

	it('refuses a file that is not a cortex-stream database', async () => {
		const { tempDir } = await import('./helpers.ts')
		using dir = tempDir()
		const { Database } = await import('bun:sqlite')
		const other = new Database(`${dir.path}/other.db`, { create: true })
		other.exec('CREATE TABLE users (id INTEGER PRIMARY KEY)')
		other.close()
		await Bun.write(
			`${dir.path}/garbage.db`,
			'this is not a database, it is text that goes on and on'.repeat(100),
		)
		for (const file of ['other.db', 'garbage.db']) {
			const before = await Bun.file(`${dir.path}/${file}`).bytes()
			const { code, stderr } = await cli(['serve', '--port', '0', '--db', `${dir.path}/${file}`], {
				CORTEX_TOKEN: 'x',
			})
			expect([file, code]).toEqual([file, 1])
			expect(stderr.trim().split('\n')).toHaveLength(1)
			// Refused without a change: the same bytes, and no WAL beside it.
			expect(await Bun.file(`${dir.path}/${file}`).bytes()).toEqual(before)
			expect(await Bun.file(`${dir.path}/${file}-wal`).exists()).toBe(false)
		}
		// A path that cannot be opened as a database at all (here, a directory).
		const unreadable = await cli(['serve', '--port', '0', '--db', dir.path], { CORTEX_TOKEN: 'x' })
		expect(unreadable.code).toBe(1)
		expect(unreadable.stderr.trim().split('\n')).toHaveLength(1)
		expect(unreadable.stderr).toContain('cannot start')
	})

	it('says that a database directory is not writable, not "disk I/O error"', async () => {
		const { tempDir } = await import('./helpers.ts')
		const { chmodSync, mkdirSync, writeFileSync } = await import('node:fs')
		using dir = tempDir()
		const locked = `${dir.path}/locked`
		mkdirSync(locked)
		// An existing database in it, as after a restore by hand, and none.
		writeFileSync(`${locked}/existing.db`, '')
		chmodSync(locked, 0o555)
		chmodSync(dir.path, 0o755)
		// Root writes anywhere: the server runs as nobody then.
		const as =
			process.getuid?.() === 0
				? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
				: []
		for (const db of [`${locked}/new.db`, `${locked}/existing.db`]) {
			const { runProcess, MAIN } = await import('./helpers.ts')
			const out = await runProcess(
				[...as, process.execPath, MAIN, 'serve', '--port', '0', '--db', db],
				{
					env: { ...process.env, CORTEX_TOKEN: 'x' },
				},
			)
			expect([db, out.code]).toEqual([db, 1])
			expect(out.stderr).toContain(`the database directory ${locked} is not writable`)
			expect(out.stderr.trim().split('\n')).toHaveLength(1)
		}
	})

	it('names the line and column of a malformed tokens file, and never its content', async () => {
		const { tempDir } = await import('./helpers.ts')
		using dir = tempDir()
		const file = `${dir.path}/tokens.json`
		await Bun.write(file, '[\n  {"token": "s3cret-admin-token", "scopes": ["admin"],}\n]\n')
		const { code, stderr } = await cli(['serve', '--port', '0', '--tokens-file', file])
		expect(code).toBe(2)
		expect(stderr.trim()).toBe(
			`cortex-stream: tokens file ${file}: not valid JSON at line 2, column 55`,
		)
		await Bun.write(file, '[{"token": "s3cret-admin-token", "scopes": ["root"]}]')
		const wrongScope = await cli(['serve', '--port', '0', '--tokens-file', file])
		expect(wrongScope.code).toBe(2)
		expect(wrongScope.stderr).toContain('entry 0')
		expect(wrongScope.stderr).not.toContain('s3cret')
	})
})
