import { describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import pkg from '../package.json'
import { MAIN, publish, ROOT, runCli, startServer, tempDir } from './helpers.ts'

/** A port nothing listens on: one the system just gave out and took back. */
function closedPort(): number {
	const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
	const port = listener.port
	listener.stop(true)
	return port
}

/** Reads a process's stream as it arrives, so a test can wait for a line without sleeping. */
function collect(stream: ReadableStream<Uint8Array>) {
	const seen = { text: '' }
	const done = (async () => {
		const decoder = new TextDecoder()
		for await (const chunk of stream) seen.text += decoder.decode(chunk, { stream: true })
	})()
	return {
		get text() {
			return seen.text
		},
		done,
		async until(what: string, ms = 10_000) {
			const deadline = Date.now() + ms
			while (!seen.text.includes(what)) {
				if (Date.now() > deadline) throw new Error(`no "${what}" in:\n${seen.text}`)
				await Bun.sleep(20)
			}
		},
	}
}

describe('a mistake on the command line', () => {
	it('names an unknown flag on every command, wherever it is, points to --help, and exits 2', async () => {
		for (const args of [
			['publish', '--foo', 'agents/a', 'progress'],
			['publish', 'agents/a', 'progress', '--foo'],
			['tail', 'agents/a', '--foo'],
			['backup', '--foo', '/tmp/x.db'],
			['serve', '--foo'],
			['run', '--foo', '--agent', 'a', '--', 'true'],
		]) {
			const out = await runCli(args)
			expect([args.join(' '), out.code]).toEqual([args.join(' '), 2])
			expect(out.stderr).toContain('unknown flag --foo')
			expect(out.stderr).toContain('--help')
		}
		const out = await runCli(['publish', 'agents/a', 'progress', '--foo'])
		expect(out.stderr).toBe(
			'cortex-stream: unknown flag --foo (see cortex-stream publish --help)\n',
		)
	})

	it('says where the data argument stops being JSON', async () => {
		const cut = await runCli(['publish', 'agents/a', 'progress', '{"progress": 0.5'])
		expect(cut).toMatchObject({
			code: 2,
			stderr:
				'cortex-stream: the data argument is not valid JSON: it ends at column 17, before the JSON is complete\n',
		})
		const comma = await runCli(['publish', 'agents/a', 'progress', '{"progress": 0.5,}'])
		expect(comma).toMatchObject({
			code: 2,
			stderr: 'cortex-stream: the data argument is not valid JSON at column 18\n',
		})
		const array = await runCli(['publish', 'agents/a', 'progress', '[0.5]'])
		expect(array.code).toBe(2)
		expect(array.stderr).toContain('must be a JSON object')
	})

	it('says which NDJSON line on stdin is not JSON, after sending the lines before it', async () => {
		await using server = await startServer()
		const env = { CORTEX_URL: server.url, CORTEX_TOKEN: server.token }
		const out = await runCli(
			['publish', 'agents/nd', '-'],
			env,
			'{"event":"progress","data":{"progress":0.1}}\n\n{"event":"progress","data":{"progress":}\n{"event":"complete"}\n',
		)
		expect(out.code).toBe(2)
		expect(out.stderr).toBe('cortex-stream: stdin line 3 is not valid JSON at column 40\n')
		expect(out.stdout).toBe('{"ids":[1]}\n')
		const res = await fetch(`${server.url}/api/agents/nd/events`, {
			headers: { authorization: `Bearer ${server.token}` },
		})
		expect((await res.json()).events.map((e: { event: string }) => e.event)).toEqual(['progress'])
		const noEvent = await runCli(['publish', 'agents/nd', '-'], env, '{"data":{}}\n')
		expect(noEvent.code).toBe(2)
		expect(noEvent.stderr).toContain('stdin line 1 has no "event"')
	})
})

describe('a server that cannot be reached', () => {
	it('is named with the setting that chose it: --url, CORTEX_URL or the default', async () => {
		const port = closedPort()
		const url = `http://127.0.0.1:${port}`
		const fromFlag = await runCli([
			'publish',
			'agents/a',
			'progress',
			'--url',
			url,
			'--retry-for',
			'1s',
		])
		expect(fromFlag.code).toBe(1)
		expect(fromFlag.stderr).toBe(
			`cortex-stream: could not reach ${url} (from --url): connection refused; retrying for up to 1s\n` +
				`cortex-stream: could not reach ${url} (from --url): connection refused\n`,
		)
		using dir = tempDir()
		const fromEnv = await runCli(['backup', join(dir.path, 'copy.db')], { CORTEX_URL: url })
		expect(fromEnv).toMatchObject({
			code: 1,
			stderr: `cortex-stream: could not reach ${url} (from CORTEX_URL): connection refused\n`,
		})
		// The default is a fixed port: only checked when nothing else on this machine holds it.
		const taken = await fetch('http://127.0.0.1:8787/healthz').then(
			() => true,
			() => false,
		)
		if (!taken) {
			const byDefault = await runCli(['backup', join(dir.path, 'copy.db')])
			expect(byDefault).toMatchObject({
				code: 1,
				stderr:
					'cortex-stream: could not reach http://127.0.0.1:8787 (the default; set --url or CORTEX_URL): connection refused\n',
			})
		}
	})

	it('makes tail say it is waiting, follow the stream once the server is up, and exit 0 after complete', async () => {
		const port = closedPort()
		const url = `http://127.0.0.1:${port}`
		const tail = Bun.spawn([process.execPath, MAIN, 'tail', 'agents/late', '--url', url], {
			cwd: ROOT,
			env: { ...process.env, CORTEX_TOKEN: 'test-token-0123456789' },
			stdin: 'ignore',
			stdout: 'pipe',
			stderr: 'pipe',
		})
		const stdout = collect(tail.stdout)
		const stderr = collect(tail.stderr)
		try {
			await stderr.until('waiting for the server')
			expect(stderr.text).toBe(
				`cortex-stream: could not reach ${url} (from --url): connection refused; waiting for the server to come up, retrying until it does\n`,
			)
			await using server = await startServer({ port })
			expect(
				(
					await publish(server, 'agents/late', [
						{ event: 'progress', data: { progress: 0.5 } },
						{ event: 'complete', data: { result: 'ok' } },
					])
				).status,
			).toBe(201)
			const code = await Promise.race([tail.exited, Bun.sleep(15_000).then(() => 'timeout')])
			await stdout.done
			expect(code).toBe(0)
			expect(stdout.text).toBe(
				'{"id":1,"event":"progress","data":{"progress":0.5}}\n{"id":2,"event":"complete","data":{"result":"ok"}}\n',
			)
			expect(stderr.text).toContain(`cortex-stream: connected to ${url}\n`)
		} finally {
			tail.kill()
		}
	}, 30_000)
})

describe('a missing or refused token', () => {
	it('says how to set one and which was tried, never the token', async () => {
		await using server = await startServer()
		using dir = tempDir()
		const none = await runCli(['publish', 'agents/a', 'progress', '--url', server.url])
		expect(none).toMatchObject({
			code: 1,
			stderr: `cortex-stream: the server at ${server.url} needs a token and none was set: set CORTEX_TOKEN or pass --token\n`,
		})
		const wrong = 'wrong-token-4711'
		for (const [args, env, from] of [
			[['tail', 'agents/a', '--url', server.url], { CORTEX_TOKEN: wrong }, 'CORTEX_TOKEN'],
			[['backup', join(dir.path, 'x.db'), '--url', server.url, '--token', wrong], {}, '--token'],
		] as const) {
			const out = await runCli([...args], env)
			expect([args[0], out.code]).toEqual([args[0], 1])
			expect(out.stderr).toContain(
				`the server at ${server.url} did not accept the token from ${from}`,
			)
			expect(out.stderr).toContain('set CORTEX_TOKEN or pass --token')
			expect(out.stderr).not.toContain(wrong)
		}
	})
})

describe('backup and the database', () => {
	it('says that the directory of the copy does not exist, before asking any server', async () => {
		using dir = tempDir()
		const missing = join(dir.path, 'missing')
		// No server listens there: a request would have said "could not reach".
		const out = await runCli(['backup', join(missing, 'copy.db')], {
			CORTEX_URL: `http://127.0.0.1:${closedPort()}`,
		})
		expect(out).toMatchObject({
			code: 2,
			stderr: `cortex-stream: the directory ${missing} does not exist; create it first\n`,
		})
	})
})

describe('tail on a terminal', () => {
	it('keeps every line of its live view within a narrow terminal, and the view within its height', async () => {
		await using server = await startServer()
		await publish(server, 'workflows/wide', [
			...Array.from({ length: 12 }, (_, i) => ({
				event: 'step_start',
				data: {
					stepId: `s${i}`,
					name: `A step with a long name number ${i}`,
					agent: 'agent-with-a-long-name',
				},
			})),
			{
				event: 'step_progress',
				data: { stepId: 's11', progress: 0.5, message: '漢字'.repeat(40) },
			},
			// A newline or an escape sequence in a message would move the cursor: each is a space.
			{ event: 'progress', data: { message: `two\nlines \x1b[31mred ${'m'.repeat(500)}` } },
			{ event: 'complete' },
		])
		await publish(server, 'agents/wide', [
			{ event: 'progress', data: { progress: 0.5, message: `a\nb${'m'.repeat(500)}` } },
			{ event: 'complete' },
		])
		for (const stream of ['workflows/wide', 'agents/wide']) {
			const proc = Bun.spawn(
				[
					'script',
					'-qfec',
					`stty cols 40 rows 8; ${process.execPath} ${MAIN} tail ${stream}`,
					'/dev/null',
				],
				{
					cwd: ROOT,
					env: { ...process.env, CORTEX_URL: server.url, CORTEX_TOKEN: server.token },
					stdin: 'ignore',
					stdout: 'pipe',
				},
			)
			const [code, screen] = await Promise.all([proc.exited, new Response(proc.stdout).text()])
			expect(code).toBe(0)
			// CSI sequences take no columns; the text between them does.
			let plain = ''
			for (let i = 0; i < screen.length; i++) {
				if (screen[i] === '\x1b' && screen[i + 1] === '[') {
					i += 2
					while (i < screen.length && !(screen[i] >= '@' && screen[i] <= '~')) i++
				} else plain += screen[i]
			}
			const lines = plain.split(/\r?\n/)
			for (const line of lines) expect([line, Bun.stringWidth(line) <= 40]).toEqual([line, true])
			expect(plain).toContain('…')
			expect(plain).toContain(`${stream}  complete`)
			if (stream.startsWith('workflows/')) {
				expect(plain).toContain('… 8 earlier steps')
				// The last frame: its first line and what follows it fit in 8 rows.
				const last = plain.slice(plain.lastIndexOf(stream)).trimEnd().split(/\r?\n/)
				expect(last.length).toBeLessThanOrEqual(7)
				expect(plain).toContain('\n  two lines  [31mred mmm')
			} else expect(plain).toContain('50%  a b…')
		}
	})

	it('leaves piped output whole: one JSON event per line', async () => {
		await using server = await startServer()
		const message = 'm'.repeat(500)
		await publish(server, 'agents/piped', [
			{ event: 'progress', data: { message } },
			{ event: 'complete' },
		])
		const out = await runCli(['tail', 'agents/piped'], {
			CORTEX_URL: server.url,
			CORTEX_TOKEN: server.token,
			COLUMNS: '40',
		})
		expect(out.code).toBe(0)
		expect(out.stdout.split('\n')[0]).toBe(
			JSON.stringify({ id: 1, event: 'progress', data: { message } }),
		)
	})
})

describe('--help', () => {
	/** Where each row's description starts: after its last run of two or more spaces. */
	function descriptionColumns(help: string): number[] {
		const columns: number[] = []
		for (const line of help.split('\n')) {
			const row = line.startsWith('  ') && /^ {2}(--|flag |cortex-stream )/.test(line)
			const continued = /^ {10,}\S/.test(line)
			if (!row && !continued) continue
			let at = -1
			for (let i = 1; i < line.length; i++)
				if (line[i] !== ' ' && line[i - 1] === ' ' && line[i - 2] === ' ') at = i
			columns.push(at)
		}
		return columns
	}

	it('starts every description of a command at the same column', async () => {
		for (const args of [
			['--help'],
			['serve', '--help'],
			['publish', '--help'],
			['tail', '--help'],
			['backup', '--help'],
			['run', '--help'],
		]) {
			const { code, stdout } = await runCli(args)
			expect(code).toBe(0)
			const columns = descriptionColumns(stdout)
			expect([args[0], columns.length > 1]).toEqual([args[0], true])
			expect([args[0], new Set(columns).size]).toEqual([args[0], 1])
		}
		// serve's variables line up too.
		const serve = (await runCli(['serve', '--help'])).stdout.split('\n')
		const variables = serve
			.filter((l) => /^ {2}--[a-z-]+ +CORTEX_/.test(l))
			.map((l) => l.indexOf('CORTEX_'))
		expect(variables.length).toBeGreaterThan(10)
		expect(new Set(variables).size).toBe(1)
	})
})

describe('--version', () => {
	it('prints the version on every command, as --version and -v', async () => {
		for (const command of [[], ['serve'], ['publish'], ['tail'], ['run'], ['backup']])
			for (const flag of ['--version', '-v']) {
				const out = await runCli([...command, flag])
				expect([command[0], flag, out.code, out.stdout]).toEqual([
					command[0],
					flag,
					0,
					`${pkg.version}\n`,
				])
			}
	})
})
