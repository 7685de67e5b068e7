import { afterAll, beforeAll } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { EventSource } from 'eventsource'
import { startPostgres } from './postgres.ts'

export const ROOT = resolve(import.meta.dir, '..')
export const MAIN = join(ROOT, 'src/main.ts')
export const TOKEN = 'test-token-0123456789'

export interface ServerOptions {
	/** Extra `serve` flags. */
	args?: string[]
	env?: Record<string, string>
	/** Reuse a database file (a restart); a fresh temp dir otherwise. */
	dbPath?: string
	/** Listen on this port (a restart on the same address); 0 otherwise. */
	port?: number
	/** Run this command instead of `bun src/main.ts` (the compiled binary). */
	command?: string[]
	/** Omit the default `--token`. */
	noToken?: boolean
	/** Entries of a tokens file, written for this server and passed as `--tokens-file`. */
	tokens?: Array<{ token: string; scopes: string[]; streams: string[] }>
}

export interface TestServer {
	url: string
	port: number
	token: string
	dbPath: string
	proc: Subprocess<'ignore', 'pipe', 'pipe'>
	/** Everything the process printed on stdout so far. */
	output(): string
	/** Resolves with the exit code. */
	exited: Promise<number>
	kill(signal?: NodeJS.Signals | number): Promise<number>
	/** Starts a new process on the same file and port. */
	restart(options?: ServerOptions): Promise<TestServer>
	[Symbol.asyncDispose](): Promise<void>
}

export function tempDir(prefix = 'cortex-test-') {
	const path = mkdtempSync(join(tmpdir(), prefix))
	return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) }
}

// What the run leaves behind, removed by test/setup.ts after the last test file: `bun test`
// fires no process "exit" event.
const dirs: string[] = []

/** A temp dir that lives until the end of the whole run, for what several test files share. */
export function runTempDir(prefix = 'cortex-test-') {
	const path = mkdtempSync(join(tmpdir(), prefix))
	dirs.push(path)
	return path
}
let sharedPg: Promise<import('./postgres.ts').PgCluster> | undefined

/** Removes every server's temp dir and stops the shared Postgres cluster. */
export async function cleanUpRun() {
	for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
	const pg = sharedPg
	sharedPg = undefined
	if (pg) await (await pg).stop()
}

/**
 * `CORTEX_TEST_ENGINE=postgres bun test test/api` runs the API tests with every server on its
 * own database of one throwaway Postgres cluster instead of a SQLite file. The few tests of what
 * only a file can do (an online backup copy, the file lock, a size cap checked at each commit)
 * skip themselves then.
 */
export const ENGINE = process.env.CORTEX_TEST_ENGINE === 'postgres' ? 'postgres' : 'sqlite'
export const onPostgres = ENGINE === 'postgres'

async function tokensFile(tokens: NonNullable<ServerOptions['tokens']>) {
	const path = join(runTempDir(), 'tokens.json')
	await Bun.write(path, JSON.stringify(tokens))
	return path
}

/**
 * Starts a real server process on a free port with a SQLite file (or a Postgres database) in a
 * temp dir and waits for its "listening" line. `await using` stops it (SIGKILL) when the test ends.
 */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
	let dbPath = options.dbPath
	if (!dbPath && ENGINE === 'postgres') {
		sharedPg ??= startPostgres({ fsync: false })
		dbPath = await (await sharedPg).database()
	}
	dbPath ??= join(runTempDir(), 'cortex.db')
	const cmd = [
		...(options.command ?? [process.execPath, MAIN]),
		'serve',
		'--port',
		String(options.port ?? 0),
		'--db',
		dbPath,
		...(options.noToken ? [] : ['--token', TOKEN]),
		...(options.tokens ? ['--tokens-file', await tokensFile(options.tokens)] : []),
		...(options.args ?? []),
	]
	const proc = Bun.spawn(cmd, {
		cwd: ROOT,
		env: { ...process.env, CORTEX_TOKEN: '', CORTEX_TOKENS_FILE: '', ...options.env },
		stdin: 'ignore',
		stdout: 'pipe',
		stderr: 'pipe',
	})
	let out = ''
	let listening: (value: { url: string; port: number }) => void = () => {}
	const ready = new Promise<{ url: string; port: number }>((r) => {
		listening = r
	})
	;(async () => {
		const decoder = new TextDecoder()
		for await (const chunk of proc.stdout) {
			out += decoder.decode(chunk, { stream: true })
			const line = out.split('\n').find((l) => l.includes('"msg":"listening"'))
			if (line) listening(JSON.parse(line))
		}
	})()
	const stderr = new Response(proc.stderr).text()
	const started = await Promise.race([
		ready,
		proc.exited.then(async (code) => {
			throw new Error(`server exited with ${code}: ${await stderr}\n${out}`)
		}),
		Bun.sleep(15_000).then(() => {
			throw new Error(`server did not start in 15 s: ${out}`)
		}),
	])
	const server: TestServer = {
		url: started.url,
		port: started.port,
		token: TOKEN,
		dbPath,
		proc,
		output: () => out,
		exited: proc.exited,
		async kill(signal = 'SIGKILL') {
			proc.kill(signal)
			return proc.exited
		},
		restart: (more = {}) => startServer({ ...options, dbPath, port: started.port, ...more }),
		async [Symbol.asyncDispose]() {
			if (proc.exitCode === null && proc.signalCode === null) {
				proc.kill('SIGKILL')
				await proc.exited
			}
		},
	}
	return server
}

export const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` })

/** POSTs events to `agents/x` or `workflows/y`; returns status and parsed body. */
export async function publish(
	server: { url: string; token?: string },
	stream: string,
	body: unknown,
	headers: Record<string, string> = {},
) {
	const res = await fetch(`${server.url}/api/${stream}/events`, {
		method: 'POST',
		headers: { ...auth(server.token), 'content-type': 'application/json', ...headers },
		body: typeof body === 'string' ? body : JSON.stringify(body),
	})
	const text = await res.text()
	return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined }
}

export interface SseFrame {
	id?: string
	event?: string
	data?: string
	comment?: string
	retry?: string
}

/** Parses raw SSE text into frames, keeping comments, as a strict client would see them. */
export function parseFrames(text: string): SseFrame[] {
	const frames: SseFrame[] = []
	for (const block of text.split('\n\n')) {
		if (block === '') continue
		const frame: SseFrame = {}
		for (const line of block.split('\n')) {
			const colon = line.indexOf(':')
			const field = colon < 0 ? line : line.slice(0, colon)
			let value = colon < 0 ? '' : line.slice(colon + 1)
			if (value.startsWith(' ')) value = value.slice(1)
			if (field === '') frame.comment = value
			else if (field === 'data')
				frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`
			else (frame as Record<string, string>)[field] = value
		}
		frames.push(frame)
	}
	return frames
}

/**
 * A raw SSE connection over `fetch`: keeps every byte received, so tests can check the wire
 * format exactly, and waits for conditions instead of sleeping.
 */
export class RawStream {
	text = ''
	status = 0
	headers = new Headers()
	done = false
	private readonly controller = new AbortController()
	private waiters: Array<() => void> = []
	private reading?: Promise<void>

	static async open(url: string, headers: Record<string, string> = {}) {
		const stream = new RawStream()
		const res = await fetch(url, {
			headers: { accept: 'text/event-stream', ...headers },
			signal: stream.controller.signal,
		})
		stream.status = res.status
		stream.headers = res.headers
		stream.reading = stream.pump(res)
		return stream
	}

	private async pump(res: Response) {
		const decoder = new TextDecoder()
		try {
			if (res.body)
				for await (const chunk of res.body) {
					this.text += decoder.decode(chunk, { stream: true })
					this.notify()
				}
		} catch {}
		this.done = true
		this.notify()
	}

	private notify() {
		const waiters = this.waiters
		this.waiters = []
		for (const w of waiters) w()
	}

	frames() {
		return parseFrames(this.text)
	}

	events() {
		return this.frames().filter((f) => f.id !== undefined || f.event !== undefined)
	}

	/** Waits until `condition` holds (checked on each chunk) or throws after `ms`. */
	async until(condition: (s: RawStream) => boolean, ms = 10_000, what = 'condition') {
		const deadline = Date.now() + ms
		while (!condition(this)) {
			if (this.done) throw new Error(`stream ended before ${what}; got:\n${this.text}`)
			const left = deadline - Date.now()
			if (left <= 0) throw new Error(`timed out waiting for ${what}; got:\n${this.text}`)
			await Promise.race([
				new Promise<void>((r) => this.waiters.push(r)),
				Bun.sleep(Math.min(left, 250)),
			])
		}
	}

	async untilEnded(ms = 10_000) {
		const deadline = Date.now() + ms
		while (!this.done) {
			if (Date.now() > deadline) throw new Error(`stream did not end; got:\n${this.text}`)
			await Promise.race([new Promise<void>((r) => this.waiters.push(r)), Bun.sleep(100)])
		}
	}

	close() {
		this.controller.abort()
		return this.reading
	}

	async [Symbol.asyncDispose]() {
		await this.close()
	}
}

export const streamUrl = (server: { url: string }, stream: string, query = '') =>
	`${server.url}/api/streaming/${stream}/stream${query}`

/** Opens a stream with the Authorization header. */
export const openStream = (
	server: TestServer,
	stream: string,
	headers: Record<string, string> = {},
	query = '',
) => RawStream.open(streamUrl(server, stream, query), { ...auth(server.token), ...headers })

/** Reads a numeric sample from `/metrics`. */
export async function metric(server: { url: string }, name: string): Promise<number> {
	const text = await (await fetch(`${server.url}/metrics`)).text()
	const line = text.split('\n').find((l) => l.startsWith(`${name} `))
	if (!line) throw new Error(`no metric ${name}`)
	return Number(line.split(' ')[1])
}

/** Polls until `check` returns true, for state that has no event to wait on. */
export async function eventually(
	check: () => Promise<boolean> | boolean,
	ms = 5_000,
	what = 'condition',
) {
	const deadline = Date.now() + ms
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
		await Bun.sleep(20)
	}
}

/** Sends a request exactly as written (no URL normalisation) and returns the status line's code and body. */
export async function rawHttp(
	port: number,
	request: string,
): Promise<{ status: number; text: string }> {
	const { connect } = await import('node:net')
	return new Promise((resolve, reject) => {
		let text = ''
		const socket = connect(port, '127.0.0.1', () => socket.write(request))
		socket.setEncoding('utf8')
		socket.on('data', (chunk) => {
			text += chunk
		})
		socket.on('error', reject)
		socket.on('end', () => resolve({ status: Number(text.slice(9, 12)), text }))
	})
}

/** Runs the CLI from source; resolves with its exit code and output. */
export const runCli = (args: string[], env: Record<string, string> = {}, stdin?: string) =>
	runProcess([process.execPath, MAIN, ...args], {
		env: { ...process.env, CORTEX_TOKEN: '', ...env },
		stdin,
	})

/** Runs a command to its end; returns its exit code and everything it printed. */
export async function runProcess(
	argv: string[],
	options: {
		cwd?: string
		env?: Record<string, string | undefined>
		stdin?: string
		/** SIGKILL after this many ms. */
		timeout?: number
	} = {},
) {
	const proc = Bun.spawn(argv, {
		cwd: options.cwd ?? ROOT,
		env: options.env ?? process.env,
		stdin: options.stdin === undefined ? 'ignore' : new Blob([options.stdin]),
		stdout: 'pipe',
		stderr: 'pipe',
		timeout: options.timeout,
		killSignal: 'SIGKILL',
	})
	const [code, stdout, stderr] = await Promise.all([
		proc.exited,
		new Response(proc.stdout).text(),
		new Response(proc.stderr).text(),
	])
	return { code, stdout, stderr }
}

/** A client that opens a stream and then never reads: the socket is paused before the GET. */
export async function stalledClient(server: TestServer, path: string) {
	const { connect } = await import('node:net')
	const socket = connect(server.port, '127.0.0.1')
	socket.pause()
	socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.token}\r\n\r\n`)
	return socket
}

/** Waits until the server dropped the one stalled client and closed its stream, one left open. */
export async function untilStalledDropped(server: TestServer, what: string) {
	await eventually(
		async () => (await metric(server, 'cortex_slow_subscribers_dropped_total')) === 1,
		10_000,
		'the drop',
	)
	await eventually(async () => (await metric(server, 'cortex_open_streams')) === 1, 10_000, what)
}

/** An EventSource from the `eventsource` package, sending the token as a header. */
export function watch(server: TestServer, stream: string) {
	const seen: Array<{ id: string; type: string; data: string }> = []
	const source = new EventSource(`${server.url}/api/streaming/${stream}/stream`, {
		fetch: (input, init) =>
			fetch(input, { ...init, headers: { ...init?.headers, ...auth(server.token) } }),
	})
	for (const type of ['progress', 'complete', 'step_start'])
		source.addEventListener(type, (e) => seen.push({ id: e.lastEventId, type, data: e.data }))
	return { source, seen }
}

/**
 * Publishes single events from several concurrent clients until stopped or the server dies;
 * returns the messages that were acknowledged with 201, by id.
 */
export function publishUntilStopped(server: TestServer, stream: string, clients: number) {
	const acked = new Map<number, string>()
	let stop = false
	const done = Promise.all(
		Array.from({ length: clients }, async (_, c) => {
			for (let i = 0; !stop; i++) {
				const message = `c${c}-${i}`
				try {
					const res = await publish(server, stream, { event: 'progress', data: { message } })
					if (res.status !== 201) throw new Error(`unexpected ${res.status}`)
					acked.set(res.body.ids[0], message)
				} catch {
					return
				}
			}
		}),
	)
	return {
		acked,
		async stop() {
			stop = true
			await done
		},
		done,
	}
}

/** One throwaway Postgres cluster for the calling test file: started before its tests, stopped after. */
export function clusterForFile(): Pick<import('./postgres.ts').PgCluster, 'database'> {
	let cluster: import('./postgres.ts').PgCluster | undefined
	beforeAll(async () => {
		cluster = await startPostgres({ fsync: false })
	}, 60_000)
	afterAll(() => cluster?.stop())
	return {
		database() {
			if (!cluster) throw new Error('the cluster starts in beforeAll; call database() from a test')
			return cluster.database()
		},
	}
}

/** Debian's Chromium, which .ci/run installs, with flags that keep it off the (closed) network. */
export function launchChromium() {
	return import('playwright-core').then(({ chromium }) =>
		chromium.launch({
			executablePath: '/usr/bin/chromium',
			headless: true,
			args: [
				'--no-sandbox',
				'--disable-gpu',
				'--disable-quic',
				'--no-first-run',
				'--disable-background-networking',
				'--disable-component-update',
				'--disable-sync',
			],
		}),
	)
}
