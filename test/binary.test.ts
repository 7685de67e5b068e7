import { describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import pkg from '../package.json'
import { openStream, publish, ROOT, startServer } from './helpers.ts'
import { startPostgres } from './postgres.ts'

const BINARY = join(ROOT, 'dist/cortex-stream')

describe('the compiled binary', () => {
	it('builds with `bun run build`, then serves, takes events and streams them', async () => {
		const build = Bun.spawn([process.execPath, 'run', 'build'], {
			cwd: ROOT,
			stdout: 'pipe',
			stderr: 'pipe',
		})
		expect(await build.exited).toBe(0)
		const version = Bun.spawnSync([BINARY, '--version'])
		expect(version.stdout.toString()).toBe(`${pkg.version}\n`)

		await using server = await startServer({ command: [BINARY] })
		// The dashboard page travels inside the binary, as the build bundled it: its script, from
		// src/page/dashboard.ts, inline and allowed by its hash, so the browser runs it.
		const res = await fetch(server.url)
		const page = await res.text()
		expect(page).toContain('<title>cortex-stream</title>')
		expect(page).toBe(await Bun.file(join(ROOT, 'dist/page.html')).text())
		const scripts = [...page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
		expect(scripts.map((m) => m[1])).toEqual([' type="module"'])
		const script = scripts[0]?.[2] ?? ''
		expect(script).toContain('/api/ws?access_token=')
		const hash = new Bun.CryptoHasher('sha256').update(script).digest('base64')
		expect(res.headers.get('content-security-policy')).toContain(`script-src 'sha256-${hash}';`)
		await using stream = await openStream(server, 'agents/bin')
		expect(
			(await publish(server, 'agents/bin', { event: 'progress', data: { progress: 0.5 } })).status,
		).toBe(201)
		expect(
			(await publish(server, 'agents/bin', { event: 'complete', data: { result: 'ok' } })).status,
		).toBe(201)
		await stream.untilEnded()
		expect(stream.text).toBe(
			'retry: 1000\n\nid: 1\nevent: progress\ndata: {"progress":0.5}\n\nid: 2\nevent: complete\ndata: {"result":"ok"}\n\n',
		)
	}, 120_000)

	// The binary is the one the test above built.
	it('refuses to start on a port in use, with a reason and a non-zero exit', async () => {
		await using first = await startServer({ command: [BINARY] })
		const second = Bun.spawnSync(
			[BINARY, 'serve', '--port', String(first.port), '--db', `${first.dbPath}-other`],
			{ env: { ...process.env, CORTEX_TOKEN: 'x' } },
		)
		expect(second.exitCode).toBe(1)
		expect(second.stderr.toString()).toContain(`port ${first.port} on 127.0.0.1 is already in use`)
	})

	it('runs on Postgres too: the SQL client is part of the runtime, not a dependency', async () => {
		await using pg = await startPostgres({ fsync: false })
		const db = await pg.database()
		await using a = await startServer({ command: [BINARY], dbPath: db })
		await using b = await startServer({ command: [BINARY], dbPath: db })
		await using stream = await openStream(b, 'agents/bin')
		expect(
			(await publish(a, 'agents/bin', { event: 'complete', data: { result: 'ok' } })).status,
		).toBe(201)
		await stream.untilEnded()
		expect(stream.text).toBe('retry: 1000\n\nid: 1\nevent: complete\ndata: {"result":"ok"}\n\n')
	}, 60_000)
})
