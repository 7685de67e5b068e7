import { describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import {
	auth,
	MAIN,
	onPostgres,
	publish,
	ROOT,
	runCli,
	startServer,
	type TestServer,
	tempDir,
} from './helpers.ts'

const cli = (server: TestServer, args: string[], stdin?: string) =>
	runCli(args, { CORTEX_URL: server.url, CORTEX_TOKEN: server.token }, stdin)

async function events(server: TestServer, stream: string) {
	const res = await fetch(`${server.url}/api/${stream}/events?limit=1000`, {
		headers: auth(server.token),
	})
	return (
		(await res.json()).events as Array<{ id: number; event: string; data: Record<string, unknown> }>
	).map(({ id, event, data }) => ({ id, event, data }))
}

describe('help', () => {
	it('explains every command and its --url and --token', async () => {
		await using server = await startServer()
		for (const command of ['publish', 'tail', 'run']) {
			const out = await cli(server, [command, '--help'])
			expect([command, out.code]).toEqual([command, 0])
			expect(out.stdout).toContain(`cortex-stream ${command}`)
			expect(out.stdout).toContain('CORTEX_URL')
			expect(out.stdout).toContain('CORTEX_TOKEN')
		}
	})
})

describe('cortex-stream publish', () => {
	it('publishes one event and prints its ids', async () => {
		await using server = await startServer()
		const out = await cli(server, [
			'publish',
			'agents/cli',
			'progress',
			'{"progress":0.3,"message":"hi"}',
		])
		expect(out).toMatchObject({ code: 0, stdout: '{"ids":[1]}\n' })
		expect(await events(server, 'agents/cli')).toEqual([
			{ id: 1, event: 'progress', data: { progress: 0.3, message: 'hi' } },
		])
	})

	it('reports a refused event with its field and exits 1', async () => {
		await using server = await startServer()
		const out = await cli(server, ['publish', 'agents/cli', 'progress', '{"progress":7}'])
		expect(out.code).toBe(1)
		expect(out.stderr).toContain('/data/progress')
	})

	it('reads NDJSON from stdin and keeps every line in order', async () => {
		await using server = await startServer()
		const lines = Array.from({ length: 250 }, (_, i) =>
			JSON.stringify({ event: 'step_progress', data: { stepId: 's', message: `${i}` } }),
		)
		const out = await cli(
			server,
			['publish', 'workflows/wf-cli', '-'],
			`${lines.join('\n')}\n{"event":"complete"}\n`,
		)
		expect(out.code).toBe(0)
		const printed = out.stdout
			.trim()
			.split('\n')
			.flatMap((l) => JSON.parse(l).ids)
		expect(printed).toEqual(Array.from({ length: 251 }, (_, i) => i + 1))
		const stored = await events(server, 'workflows/wf-cli')
		expect(stored.slice(0, 250).map((e) => e.data.message)).toEqual(
			Array.from({ length: 250 }, (_, i) => `${i}`),
		)
		expect(stored.at(-1)?.event).toBe('complete')
	})
})

describe('cortex-stream tail', () => {
	it('prints one JSON event per line when piped and exits 0 after complete', async () => {
		await using server = await startServer()
		await publish(server, 'agents/t', [{ event: 'progress', data: { progress: 0.5 } }])
		const tail = cli(server, ['tail', 'agents/t'])
		await Bun.sleep(200)
		await publish(server, 'agents/t', [
			{ event: 'progress', data: { progress: 0.9 } },
			{ event: 'complete', data: { result: 'ok' } },
		])
		const out = await tail
		expect(out.code).toBe(0)
		expect(
			out.stdout
				.trim()
				.split('\n')
				.map((l) => JSON.parse(l)),
		).toEqual([
			{ id: 1, event: 'progress', data: { progress: 0.5 } },
			{ id: 2, event: 'progress', data: { progress: 0.9 } },
			{ id: 3, event: 'complete', data: { result: 'ok' } },
		])
	})

	it('draws a live view with a bar per step on a terminal', async () => {
		await using server = await startServer()
		await publish(server, 'workflows/wf-tty', [
			{ event: 'step_start', data: { stepId: 's1', name: 'Code Review', agent: 'reviewer-agent' } },
			{ event: 'step_progress', data: { stepId: 's1', progress: 0.75, message: 'Found 3 issues' } },
			{ event: 'step_start', data: { stepId: 's2', name: 'Fix Issues' } },
			{ event: 'complete' },
		])
		// `script` gives the command a pseudo-terminal, as a person's shell would.
		const proc = Bun.spawn(
			['script', '-qec', `${process.execPath} ${MAIN} tail workflows/wf-tty`, '/dev/null'],
			{
				cwd: ROOT,
				env: { ...process.env, CORTEX_URL: server.url, CORTEX_TOKEN: server.token },
				stdin: 'ignore',
				stdout: 'pipe',
			},
		)
		const [code, screen] = await Promise.all([proc.exited, new Response(proc.stdout).text()])
		expect(code).toBe(0)
		const last = screen.split('workflows/wf-tty').at(-1) ?? ''
		expect(last).toContain('complete  (event 4)')
		expect(last).toMatch(
			/running +\[#{12}-{4}\] {2}75% {2}Code Review \(reviewer-agent\) {2}Found 3 issues/,
		)
		expect(last).toMatch(/running +\[-{16}\] {3}0% {2}Fix Issues/)
		expect(screen).toContain('\x1b[2K')
	})

	it('exits non-zero after failed or cancelled', async () => {
		await using server = await startServer()
		await publish(server, 'workflows/f', { event: 'failed', data: { message: 'no' } })
		await publish(server, 'workflows/c', { event: 'cancelled' })
		expect((await cli(server, ['tail', 'workflows/f'])).code).toBe(1)
		expect((await cli(server, ['tail', 'workflows/c'])).code).toBe(3)
	})
})

describe('cortex-stream backup', () => {
	it.skipIf(onPostgres)(
		'copies a server that is being published to; a server on the copy resumes every stream',
		async () => {
			await using server = await startServer()
			using dir = tempDir()
			const copy = join(dir.path, 'copy.db')
			let stop = false
			const acked: number[] = []
			const load = (async () => {
				for (let i = 0; !stop; i++) {
					const res = await publish(server, `agents/a${i % 3}`, { event: 'progress', data: { i } })
					if (res.status === 201) acked.push(i)
				}
			})()
			while (acked.length < 50) await Bun.sleep(10)
			const atStart = acked.length
			const out = await cli(server, ['backup', copy])
			stop = true
			await load
			expect(out.code).toBe(0)
			expect(JSON.parse(out.stdout).bytes).toBeGreaterThan(4096)

			await using restored = await startServer({ dbPath: copy })
			let total = 0
			for (const agent of ['a0', 'a1', 'a2']) {
				const page = await (
					await fetch(`${restored.url}/api/agents/${agent}/events?limit=1000`, {
						headers: auth(restored.token),
					})
				).json()
				const ids = page.events.map((e: { id: number }) => e.id)
				expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1))
				total += ids.length
				const next = await publish(restored, `agents/${agent}`, { event: 'progress' })
				expect(next.body.ids).toEqual([ids.length + 1])
			}
			expect(total).toBeGreaterThanOrEqual(atStart)
			expect(total).toBeLessThanOrEqual(acked.length)
		},
		30_000,
	)

	it.skipIf(onPostgres)(
		'sends two backups asked for at once whole, from disk, and checkpoints again after them',
		async () => {
			await using server = await startServer()
			using dir = tempDir()
			const first = await publish(
				server,
				'agents/kept',
				Array.from({ length: 500 }, (_, i) => ({ event: 'progress', data: { i } })),
			)
			expect(first.status).toBe(201)
			const ask = () =>
				fetch(`${server.url}/api/admin/backup`, { method: 'POST', headers: auth(server.token) })
			const answers = await Promise.all([ask(), ask()])
			for (const [i, res] of answers.entries()) {
				expect(res.status).toBe(200)
				const bytes = new Uint8Array(await res.arrayBuffer())
				expect(res.headers.get('content-type')).toBe('application/vnd.sqlite3')
				const copy = join(dir.path, `copy-${i}.db`)
				await Bun.write(copy, bytes)
				await using restored = await startServer({ dbPath: copy })
				const page = await (
					await fetch(`${restored.url}/api/agents/kept/events?limit=1000`, {
						headers: auth(restored.token),
					})
				).json()
				expect(page.events.map((e: { id: number }) => e.id)).toEqual(
					Array.from({ length: 500 }, (_, k) => k + 1),
				)
			}
			// A backup holds checkpoints off while it copies; after it they run again, so the WAL
			// stays near its 16 MB of pages however much is written (32 MB here).
			const message = 'z'.repeat(1000)
			for (let i = 0; i < 32; i++)
				expect(
					(
						await publish(
							server,
							'agents/after',
							Array.from({ length: 1000 }, () => ({ event: 'progress', data: { message } })),
						)
					).status,
				).toBe(201)
			expect(Bun.file(`${server.dbPath}-wal`).size).toBeLessThan(24 << 20)
			// The copies were read from files that are gone: nothing is left beside the database.
			const left = [
				...new Bun.Glob('.backup-*').scanSync({ cwd: join(server.dbPath, '..'), dot: true }),
			]
			expect(left).toEqual([])
		},
		30_000,
	)

	it.skipIf(onPostgres)(
		'answers 507 when the copy finds no room, leaves nothing behind, and the server goes on',
		async () => {
			const message = 'r'.repeat(1000)
			const seeded = await startServer()
			for (let i = 0; i < 3; i++)
				await publish(
					seeded,
					'agents/big',
					Array.from({ length: 1000 }, () => ({ event: 'progress', data: { message } })),
				)
			// A clean stop checkpoints everything into the file: about 3 MB.
			await seeded.kill('SIGTERM')
			expect(Bun.file(seeded.dbPath).size).toBeGreaterThan(2_500_000)
			// No file of this server may pass 2 MB now: the copy of a 3 MB database cannot be made.
			await using server = await seeded.restart({
				command: ['prlimit', '--fsize=2000000', process.execPath, MAIN],
			})
			const res = await fetch(`${server.url}/api/admin/backup`, {
				method: 'POST',
				headers: auth(server.token),
			})
			expect(res.status).toBe(507)
			expect((await res.json()).error.code).toBe('storage_full')
			using dir = tempDir()
			const out = await cli(server, ['backup', join(dir.path, 'copy.db')])
			expect(out.code).toBe(1)
			expect(out.stderr).toContain('room')
			expect(await Bun.file(join(dir.path, 'copy.db')).exists()).toBe(false)
			const left = [
				...new Bun.Glob('.backup-*').scanSync({ cwd: join(server.dbPath, '..'), dot: true }),
			]
			expect(left).toEqual([])
			expect((await publish(server, 'agents/big', { event: 'progress' })).body.ids).toEqual([3001])
		},
		30_000,
	)

	it('needs an admin token', async () => {
		await using server = await startServer()
		using dir = tempDir()
		const ticket = await (
			await fetch(`${server.url}/api/tickets`, {
				method: 'POST',
				headers: auth(server.token),
				body: '{"streams":["*"]}',
			})
		).json()
		const proc = Bun.spawn(
			[
				process.execPath,
				MAIN,
				'backup',
				join(dir.path, 'x.db'),
				'--token',
				ticket.ticket,
				'--url',
				server.url,
			],
			{ cwd: ROOT, stdout: 'pipe', stderr: 'pipe' },
		)
		expect(await proc.exited).toBe(1)
		expect(await new Response(proc.stderr).text()).toContain('admin')
		expect(await Bun.file(join(dir.path, 'x.db')).exists()).toBe(false)
	})
})
