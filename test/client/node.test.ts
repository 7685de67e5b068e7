import { beforeAll, describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { runProcess, startServer } from '../helpers.ts'
import { packedClient } from './packed.ts'

const SCRIPT = `
import { publish, subscribe, Publisher } from '@cortex-stream/client'
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
console.log(JSON.stringify({ versions: process.versions, seen, requests: p.requests }))
`

// A failed request, then more events: close() must reject with that failure, not spin.
const REFUSED = `
import { Publisher } from '@cortex-stream/client'
const p = new Publisher('agents/refused', { url: process.argv[2], token: process.argv[3] })
p.progress({ progress: 2 })
const first = await p.flush().catch((e) => e)
p.send('complete', { result: 'after the refusal' })
const closed = await p.close().catch((e) => e)
console.log(JSON.stringify({ name: closed?.name, status: closed?.status, same: closed === first, requests: p.requests }))
`

// The package as a user installs it (npm pack, then npm install of the tarball), run by Node.js
// (the machine's, 20 on CI) and by Bun.
let project: string
beforeAll(async () => {
	project = (await packedClient()).project
}, 120_000)

const RUNTIMES = [
	['Node.js', 'node'],
	['Bun', process.execPath],
] as const

describe.each(RUNTIMES)('the packed client under %s', (_, runtime) => {
	it('publishes and follows a stream, importing @cortex-stream/client', async () => {
		const script = join(project, `run-${runtime === 'node' ? 'node' : 'bun'}.mjs`)
		await Bun.write(script, SCRIPT)
		await using server = await startServer()
		const {
			code,
			stdout: out,
			stderr: err,
		} = await runProcess([runtime, script, server.url, server.token], { cwd: project })
		expect(err).toBe('')
		expect(code).toBe(0)
		const result = JSON.parse(out)
		// Under Node.js, the Node the machine has (20 on a fresh machine and in CI), not Bun.
		if (runtime === 'node') expect(result.versions.bun).toBeUndefined()
		expect(Number(result.versions.node.split('.')[0])).toBeGreaterThanOrEqual(20)
		expect(result.seen[0]).toEqual([1, 'progress', { progress: 0.5, message: 'from node' }])
		expect(result.seen.at(-1)).toEqual([result.seen.length, 'complete', { result: 'ok' }])
		expect(result.seen.at(-2)).toEqual([result.seen.length - 1, 'progress', { progress: 1 }])
		expect(result.requests).toBeLessThan(5)

		// A publisher never closed still sends what it holds before the process exits of itself.
		const exitScript = join(project, `exit-${runtime === 'node' ? 'node' : 'bun'}.mjs`)
		await Bun.write(
			exitScript,
			`import { Publisher } from '@cortex-stream/client'
const p = new Publisher('agents/exit', { url: process.argv[2], token: process.argv[3] })
p.send('progress', { message: 'queued' })
p.send('complete', { result: 'sent at exit' })`,
		)
		const exit = Bun.spawn([runtime, exitScript, server.url, server.token], {
			cwd: project,
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
		const script = join(project, `refused-${runtime === 'node' ? 'node' : 'bun'}.mjs`)
		await Bun.write(script, REFUSED)
		await using server = await startServer()
		// A spinning publisher never exits by itself; SIGKILL after 10 s turns that into a failure.
		const proc = Bun.spawn([runtime, script, server.url, server.token], {
			cwd: project,
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
