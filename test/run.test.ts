import { afterEach, describe, expect, it } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
	auth,
	eventually,
	MAIN,
	ROOT,
	runCli,
	startServer,
	type TestServer,
	TOKEN,
	tempDir,
} from './helpers.ts'

/** `cortex-stream run` as a subprocess, its output read as it comes; SIGKILLed after 30 s. */
function startRun(url: string, args: string[], token = TOKEN) {
	const proc = Bun.spawn([process.execPath, MAIN, 'run', ...args], {
		cwd: ROOT,
		env: { ...process.env, CORTEX_URL: url, CORTEX_TOKEN: token },
		stdin: 'ignore',
		stdout: 'pipe',
		stderr: 'pipe',
		timeout: 30_000,
		killSignal: 'SIGKILL',
	})
	const out = { stdout: '', stderr: '' }
	const read = async (from: ReadableStream<Uint8Array>, to: 'stdout' | 'stderr') => {
		const decoder = new TextDecoder()
		for await (const chunk of from) out[to] += decoder.decode(chunk, { stream: true })
	}
	const reading = Promise.all([read(proc.stdout, 'stdout'), read(proc.stderr, 'stderr')])
	return {
		proc,
		out,
		/** Waits for `pattern` on stdout and gives its match. */
		async printed(pattern: RegExp) {
			await eventually(() => pattern.test(out.stdout), 10_000, `${pattern} on stdout`)
			return pattern.exec(out.stdout) as RegExpExecArray
		},
		async done() {
			const code = await proc.exited
			await reading
			return { code, ...out }
		},
	}
}

/** Live (not zombie) processes: pid, parent, process group. */
function processes() {
	const found: Array<{ pid: number; ppid: number; pgrp: number }> = []
	for (const entry of readdirSync('/proc')) {
		if (!/^[0-9]+$/.test(entry)) continue
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
			const [state, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
			if (state !== 'Z' && state !== 'X')
				found.push({ pid: Number(entry), ppid: Number(ppid), pgrp: Number(pgrp) })
		} catch {}
	}
	return found
}
const groupMembers = (pgid: number) => processes().filter((p) => p.pgrp === pgid)

// A test that fails half-way must not leave its sleeps behind.
const groups = new Set<number>()
afterEach(() => {
	for (const pgid of groups)
		try {
			process.kill(-pgid, 'SIGKILL')
		} catch {}
	groups.clear()
})
async function pgidOf(run: ReturnType<typeof startRun>) {
	const pgid = Number((await run.printed(/pgid (\d+)\n/))[1])
	groups.add(pgid)
	return pgid
}

async function events(server: TestServer, stream: string) {
	const res = await fetch(`${server.url}/api/${stream}/events?limit=1000`, {
		headers: auth(server.token),
	})
	if (res.status === 404) return []
	return (
		(await res.json()).events as Array<{ id: number; event: string; data: Record<string, unknown> }>
	).map(({ id, event, data }) => ({ id, event, data }))
}
const shapes = (stored: Awaited<ReturnType<typeof events>>) =>
	stored.map(({ event, data }) => ({ event, data }))
const line = (message: string) => ({ event: 'progress', data: { message } })

function freePort() {
	const socket = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
	const port = socket.port
	socket.stop(true)
	return port
}

describe('cortex-stream run', () => {
	it('publishes every line of a failing script, its progress and the exit code, and exits with it', async () => {
		await using server = await startServer()
		using dir = tempDir()
		const script = join(dir.path, 'job.sh')
		await Bun.write(
			script,
			'echo "starting"\necho "::progress 0.4 Writing code"\necho "a warning" >&2\nfor i in 1 2 3; do echo "line $i"; done\nexit 1\n',
		)
		const out = await runCli(['run', '--agent', 'job', '--', 'sh', script], {
			CORTEX_URL: server.url,
			CORTEX_TOKEN: server.token,
		})
		expect(out.code).toBe(1)
		expect(out.stdout).toBe('starting\n::progress 0.4 Writing code\nline 1\nline 2\nline 3\n')
		expect(out.stderr).toBe('a warning\n')
		const stored = await events(server, 'agents/job')
		expect(stored.map((e) => e.id)).toEqual(stored.map((_, i) => i + 1))
		// stdout and stderr are two pipes: where the warning falls among the lines is not fixed.
		const progress = shapes(stored).slice(0, -1)
		expect(progress.filter((e) => e.data.message !== 'a warning')).toEqual([
			line('started sh'),
			line('starting'),
			{ event: 'progress', data: { progress: 0.4, message: 'Writing code' } },
			line('line 1'),
			line('line 2'),
			line('line 3'),
		])
		expect(progress).toContainEqual(line('a warning'))
		expect(stored.at(-1)).toMatchObject({
			event: 'failed',
			data: { message: 'sh exited with code 1', code: '1' },
		})
	}, 20_000)

	it('publishes complete with the duration when the command succeeds', async () => {
		await using server = await startServer()
		const run = startRun(server.url, ['--agent', 'ok', '--', 'sh', '-c', 'sleep 0.2; echo done'])
		expect((await run.done()).code).toBe(0)
		const stored = shapes(await events(server, 'agents/ok'))
		expect(stored.slice(0, 2)).toEqual([line('started sh'), line('done')])
		expect(stored[2].event).toBe('complete')
		expect(stored[2].data.duration).toBeGreaterThanOrEqual(200)
		expect(stored).toHaveLength(3)
	}, 20_000)

	it('cuts output at \\r too, and a line longer than 8192 characters into pieces', async () => {
		await using server = await startServer()
		const run = startRun(server.url, [
			'--agent',
			'bars',
			'--',
			'sh',
			'-c',
			"printf '10%%\\r20%%\\r30%%\\r\\n'; head -c 20000 /dev/zero | tr '\\0' x; echo; echo after",
		])
		expect((await run.done()).code).toBe(0)
		expect(run.out.stdout).toStartWith('10%\r20%\r30%\r\nxxx')
		const stored = shapes(await events(server, 'agents/bars'))
		expect(stored.slice(0, -1)).toEqual([
			line('started sh'),
			line('10%'),
			line('20%'),
			line('30%'),
			line('x'.repeat(8192)),
			line('x'.repeat(8192)),
			line('x'.repeat(20000 - 2 * 8192)),
			line('after'),
		])
		expect(stored.at(-1)?.event).toBe('complete')
	}, 20_000)

	it('sends a ::progress outside 0..1 or not a number as a message, and says so on stderr', async () => {
		await using server = await startServer()
		const run = startRun(server.url, [
			'--agent',
			'bad',
			'--',
			'sh',
			'-c',
			"echo '::progress 1.5 too far'; echo '::progress 0.25 a quarter'; echo '::progress abc'",
		])
		const { code, stderr } = await run.done()
		expect(code).toBe(0)
		expect(stderr).toBe(
			'cortex-stream run: ::progress 1.5 is outside 0..1; sent as a message\n' +
				'cortex-stream run: ::progress abc is not a number; sent as a message\n',
		)
		expect(shapes(await events(server, 'agents/bad')).slice(0, -1)).toEqual([
			line('started sh'),
			line('::progress 1.5 too far'),
			{ event: 'progress', data: { progress: 0.25, message: 'a quarter' } },
			line('::progress abc'),
		])
	}, 20_000)

	it('keeps every line of a command that prints faster than the server takes them', async () => {
		await using server = await startServer()
		const run = startRun(server.url, ['--agent', 'fast', '--', 'seq', '1', '50000'])
		const { code, stderr } = await run.done()
		expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
		const snapshot = await (
			await fetch(`${server.url}/api/agents/fast`, { headers: auth(server.token) })
		).json()
		expect(snapshot).toMatchObject({ status: 'complete', lastEventId: 50_002, message: '50000' })
		const page = await fetch(`${server.url}/api/agents/fast/events?after=25000&limit=3`, {
			headers: auth(server.token),
		})
		expect(shapes((await page.json()).events)).toEqual([
			line('25000'),
			line('25001'),
			line('25002'),
		])
	}, 30_000)

	it('does not wait for a process the command left behind holding its output', async () => {
		await using server = await startServer()
		const started = performance.now()
		const run = startRun(server.url, [
			'--agent',
			'left',
			'--',
			'sh',
			'-c',
			'echo pgid $$; sleep 30 & echo done',
		])
		const pgid = await pgidOf(run)
		expect((await run.done()).code).toBe(0)
		expect(performance.now() - started).toBeLessThan(5_000)
		// Not run's to stop: the command ended by itself, and the sleep goes on.
		expect(groupMembers(pgid)).toHaveLength(1)
		expect(shapes(await events(server, 'agents/left')).map((e) => e.event)).toEqual([
			'progress',
			'progress',
			'progress',
			'complete',
		])
	}, 20_000)
})

describe('cortex-stream run: stopping', () => {
	it('sends SIGINT to the whole process group, leaves no process behind and publishes cancelled', async () => {
		await using server = await startServer()
		// A shell without job control starts `&` commands with SIGINT ignored: that sleep is left
		// for the SIGKILL at the end of the grace period.
		const run = startRun(server.url, [
			'--agent',
			'group',
			'--grace',
			'1s',
			'--',
			'sh',
			'-c',
			'echo pgid $$; sleep 100 & sleep 100; wait',
		])
		const pgid = await pgidOf(run)
		// The shell and its two sleeps, in the group the shell leads, which run is not in.
		await eventually(() => groupMembers(pgid).length === 3, 5_000, 'the two sleeps')
		expect(groupMembers(run.proc.pid)).toEqual([])
		run.proc.kill('SIGINT')
		expect((await run.done()).code).toBe(130)
		expect(groupMembers(pgid)).toEqual([])
		expect(shapes(await events(server, 'agents/group'))).toEqual([
			line('started sh'),
			line(`pgid ${pgid}`),
			{ event: 'cancelled', data: { reason: 'SIGINT' } },
		])
	}, 20_000)

	it('publishes what the command prints after SIGTERM, then cancelled, and exits 143', async () => {
		await using server = await startServer()
		const run = startRun(server.url, [
			'--agent',
			'sig',
			'--',
			'sh',
			'-c',
			'trap "echo got TERM; exit 0" TERM; echo pgid $$; while :; do sleep 0.05; done',
		])
		await pgidOf(run)
		run.proc.kill('SIGTERM')
		const { code, stdout } = await run.done()
		expect(code).toBe(143)
		expect(stdout).toEndWith('got TERM\n')
		const stored = shapes(await events(server, 'agents/sig'))
		// The shell may also say "Terminated" on stderr, in either order with the trap's line.
		expect(stored.slice(-3, -1)).toContainEqual(line('got TERM'))
		expect(stored.at(-1)).toEqual({ event: 'cancelled', data: { reason: 'SIGTERM' } })
	}, 20_000)

	it('kills a group that ignores SIGTERM after the grace period, or at a second signal', async () => {
		await using server = await startServer()
		const command = ['sh', '-c', 'trap "" TERM; echo pgid $$; sleep 100 & sleep 100; wait']
		const run = startRun(server.url, ['--agent', 'stubborn', '--grace', '1s', '--', ...command])
		const pgid = await pgidOf(run)
		await eventually(() => groupMembers(pgid).length === 3, 5_000, 'the two sleeps')
		const sent = performance.now()
		run.proc.kill('SIGTERM')
		await Bun.sleep(500)
		// SIGTERM is ignored: all three are still there during the grace period.
		expect(groupMembers(pgid)).toHaveLength(3)
		expect((await run.done()).code).toBe(143)
		expect(performance.now() - sent).toBeGreaterThanOrEqual(1_000)
		expect(performance.now() - sent).toBeLessThan(3_000)
		expect(groupMembers(pgid)).toEqual([])
		expect(shapes(await events(server, 'agents/stubborn')).at(-1)).toEqual({
			event: 'cancelled',
			data: { reason: 'SIGTERM' },
		})

		const again = startRun(server.url, ['--agent', 'twice', '--grace', '1m', '--', ...command])
		const second = await pgidOf(again)
		await eventually(() => groupMembers(second).length === 3, 5_000, 'the two sleeps')
		const first = performance.now()
		again.proc.kill('SIGTERM')
		await Bun.sleep(200)
		again.proc.kill('SIGINT')
		expect((await again.done()).code).toBe(143)
		expect(performance.now() - first).toBeLessThan(3_000)
		expect(groupMembers(second)).toEqual([])
		expect(shapes(await events(server, 'agents/twice')).at(-1)).toEqual({
			event: 'cancelled',
			data: { reason: 'SIGTERM' },
		})
	}, 20_000)

	it('stops at a cancel request on its stream: SIGTERM to the group, then cancelled with the reason', async () => {
		await using server = await startServer()
		const run = startRun(server.url, [
			'--agent',
			'a',
			'--',
			'sh',
			'-c',
			'echo pgid $$; while true; do echo tick; sleep 0.2; done',
		])
		const pgid = await pgidOf(run)
		await eventually(
			async () => (await events(server, 'agents/a')).some((e) => e.data.message === 'tick'),
			10_000,
			'a tick on the stream',
		)
		const res = await fetch(`${server.url}/api/agents/a/cancel`, {
			method: 'POST',
			headers: { ...auth(server.token), 'content-type': 'application/json' },
			body: JSON.stringify({ reason: 'stopped from the dashboard' }),
		})
		expect(res.status).toBe(202)
		const { id } = await res.json()
		const asked = performance.now()
		expect((await run.done()).code).toBe(143)
		expect(performance.now() - asked).toBeLessThan(2_000)
		expect(groupMembers(pgid)).toEqual([])
		const stored = await events(server, 'agents/a')
		expect(stored.find((e) => e.id === id)).toEqual({
			id,
			event: 'cancel_requested',
			data: { reason: 'stopped from the dashboard' },
		})
		expect(stored.at(-1)).toEqual({
			id: stored.length,
			event: 'cancelled',
			data: { reason: 'stopped from the dashboard' },
		})
		// A tick printed before the SIGTERM landed may follow the request.
		const lines = shapes(stored.filter((e) => e.id !== id).slice(0, -1))
		expect(lines.slice(0, 2)).toEqual([line('started sh'), line(`pgid ${pgid}`)])
		expect(lines.slice(2)).toEqual(lines.slice(2).map(() => line('tick')))
	}, 20_000)

	it('hears a cancel request while the command prints nothing', async () => {
		await using server = await startServer()
		const run = startRun(server.url, ['--agent', 'quiet', '--', 'sleep', '100'])
		await eventually(
			async () => (await events(server, 'agents/quiet')).length === 1,
			10_000,
			'the execution to start',
		)
		const sleep = processes().find((p) => p.ppid === run.proc.pid)
		expect(sleep).toBeDefined()
		groups.add(sleep?.pgrp ?? 0)
		const res = await fetch(`${server.url}/api/agents/quiet/cancel`, {
			method: 'POST',
			headers: auth(server.token),
		})
		expect(res.status).toBe(202)
		expect((await run.done()).code).toBe(143)
		expect(groupMembers(sleep?.pgrp ?? 0)).toEqual([])
		expect(shapes(await events(server, 'agents/quiet'))).toEqual([
			line('started sleep'),
			{ event: 'cancel_requested', data: {} },
			{ event: 'cancelled', data: { reason: 'cancel requested' } },
		])
	}, 20_000)
	it('learns of a cancel request from the answers to its publishes when its token may not read', async () => {
		await using server = await startServer({
			tokens: [{ token: 'publish-only-token', scopes: ['publish'], streams: ['agents/*'] }],
		})
		const run = startRun(
			server.url,
			['--agent', 'w', '--', 'sh', '-c', 'echo pgid $$; while true; do echo tick; sleep 0.1; done'],
			'publish-only-token',
		)
		const pgid = await pgidOf(run)
		await eventually(() => run.out.stderr !== '', 10_000, 'the warning')
		expect(run.out.stderr).toMatch(
			/^cortex-stream run: cannot follow agents\/w \(.+\); a cancel request is seen only in the answers to publishes\n$/,
		)
		const res = await fetch(`${server.url}/api/agents/w/cancel`, {
			method: 'POST',
			headers: auth(server.token),
			body: '{"reason":"enough"}',
		})
		expect(res.status).toBe(202)
		expect((await run.done()).code).toBe(143)
		expect(groupMembers(pgid)).toEqual([])
		expect(shapes(await events(server, 'agents/w')).at(-1)).toEqual({
			event: 'cancelled',
			data: { reason: 'enough' },
		})
	}, 20_000)
})

describe('cortex-stream run: the server away', () => {
	it('keeps the events while the server is down and sends each once, in order, when it comes', async () => {
		const port = freePort()
		const url = `http://127.0.0.1:${port}`
		const run = startRun(url, [
			'--agent',
			'late',
			'--',
			'sh',
			'-c',
			'for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 0.2; done',
		])
		await run.printed(/line 3\n/)
		await using server = await startServer({ port })
		const { code, stderr } = await run.done()
		expect(code).toBe(0)
		expect(stderr).toContain(`cortex-stream run: could not reach ${url} (from CORTEX_URL): `)
		expect(stderr).toContain(`cortex-stream run: ${url} answers again\n`)
		const stored = await events(server, 'agents/late')
		expect(stored.map((e) => e.id)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
		expect(shapes(stored).slice(0, -1)).toEqual([
			line('started sh'),
			...Array.from({ length: 8 }, (_, i) => line(`line ${i + 1}`)),
		])
		expect(stored.at(-1)?.event).toBe('complete')
	}, 30_000)

	it('gives up after --flush-timeout, says what it could not send, and exits with the command', async () => {
		const url = `http://127.0.0.1:${freePort()}`
		const started = performance.now()
		const run = startRun(url, [
			'--agent',
			'never',
			'--flush-timeout',
			'1s',
			'--',
			'sh',
			'-c',
			'echo a; echo b; exit 3',
		])
		const { code, stderr } = await run.done()
		const took = performance.now() - started
		expect(code).toBe(3)
		expect(took).toBeGreaterThanOrEqual(1_000)
		expect(took).toBeLessThan(4_000)
		expect(stderr).toMatch(
			new RegExp(
				`^cortex-stream run: could not reach ${url} \\(from CORTEX_URL\\): .+; the events wait until it answers\n` +
					`cortex-stream run: could not reach ${url} \\(from CORTEX_URL\\): .+; 4 events not sent \\(the last: failed\\)\n$`,
			),
		)
	}, 20_000)
})
