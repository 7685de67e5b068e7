import { describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { ROOT, runProcess, startServer, tempDir } from '../helpers.ts'

const SCRIPT = `
import { publish, subscribe, Publisher } from './client.mjs'
const [url, token] = process.argv.slice(2)
const options = { url, token }
const seen = []
const done = (async () => { for await (const e of subscribe('agents/node', options)) seen.push([e.id, e.event, e.data]) })()
await publish('agents/node', { event: 'progress', data: { progress: 0.5, message: 'from node' } }, options)
const p = new Publisher('agents/node', options)
for (let i = 0; i <= 100; i++) p.progress({ progress: i / 100 })
p.send('complete', { result: 'ok' })
await p.close()
await done
console.log(JSON.stringify({ node: process.version, seen, requests: p.requests }))
`

// A failed request, then more events: close() must reject with that failure, not spin.
const REFUSED = `
import { Publisher } from './client.mjs'
const p = new Publisher('agents/refused', { url: process.argv[2], token: process.argv[3] })
p.progress({ progress: 2 })
const first = await p.flush().catch((e) => e)
p.send('complete', { result: 'after the refusal' })
const closed = await p.close().catch((e) => e)
console.log(JSON.stringify({ name: closed?.name, status: closed?.status, same: closed === first, requests: p.requests }))
`

/** Builds the client for browsers into `dir`/client.mjs, as `bun run build` does. */
function buildClient(dir: string) {
	const build = Bun.spawnSync(
		[
			process.execPath,
			'build',
			'client/src/index.ts',
			'--target=browser',
			'--outfile',
			join(dir, 'client.mjs'),
		],
		{ cwd: ROOT },
	)
	expect(build.exitCode).toBe(0)
}

describe('the client under Node.js', () => {
	it('publishes and follows a stream from a plain Node process, with no Bun APIs', async () => {
		using dir = tempDir()
		buildClient(dir.path)
		await Bun.write(join(dir.path, 'run.mjs'), SCRIPT)
		await using server = await startServer()
		const {
			code,
			stdout: out,
			stderr: err,
		} = await runProcess(['node', 'run.mjs', server.url, server.token], { cwd: dir.path })
		expect(err).toBe('')
		expect(code).toBe(0)
		const result = JSON.parse(out)
		expect(result.node).toStartWith('v')
		expect(result.seen[0]).toEqual([1, 'progress', { progress: 0.5, message: 'from node' }])
		expect(result.seen.at(-1)).toEqual([result.seen.length, 'complete', { result: 'ok' }])
		expect(result.seen.at(-2)).toEqual([result.seen.length - 1, 'progress', { progress: 1 }])
		expect(result.requests).toBeLessThan(5)

		// A publisher never closed still sends what it holds before the process exits of itself.
		await Bun.write(
			join(dir.path, 'exit.mjs'),
			`import { Publisher } from './client.mjs'
const p = new Publisher('agents/exit', { url: process.argv[2], token: process.argv[3] })
p.send('progress', { message: 'queued' })
p.send('complete', { result: 'sent at exit' })`,
		)
		const exit = Bun.spawn(['node', 'exit.mjs', server.url, server.token], {
			cwd: dir.path,
			stderr: 'pipe',
		})
		expect(await exit.exited).toBe(0)
		const page = await (
			await fetch(`${server.url}/api/agents/exit/events`, {
				headers: { authorization: `Bearer ${server.token}` },
			})
		).json()
		expect(page.events.map((e: { event: string }) => e.event)).toEqual(['progress', 'complete'])
	}, 30_000)

	it("rejects a publisher's close() with its first failure instead of spinning", async () => {
		using dir = tempDir()
		buildClient(dir.path)
		await Bun.write(join(dir.path, 'refused.mjs'), REFUSED)
		await using server = await startServer()
		// A spinning publisher never exits by itself; SIGKILL after 10 s turns that into a failure.
		const proc = Bun.spawn(['node', 'refused.mjs', server.url, server.token], {
			cwd: dir.path,
			stdout: 'pipe',
			stderr: 'pipe',
			timeout: 10_000,
			killSignal: 'SIGKILL',
		})
		const [code, out, err] = await Promise.all([
			proc.exited,
			new Response(proc.stdout).text(),
			new Response(proc.stderr).text(),
		])
		expect({ code, signal: proc.signalCode, err }).toEqual({ code: 0, signal: null, err: '' })
		expect(JSON.parse(out)).toEqual({
			name: 'CortexRequestError',
			status: 400,
			same: true,
			requests: 1,
		})
	}, 30_000)
})
