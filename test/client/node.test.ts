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

describe('the client under Node.js', () => {
	it('publishes and follows a stream from a plain Node process, with no Bun APIs', async () => {
		using dir = tempDir()
		const build = Bun.spawnSync(
			[
				process.execPath,
				'build',
				'src/client/index.ts',
				'--target=browser',
				'--outfile',
				join(dir.path, 'client.mjs'),
			],
			{ cwd: ROOT },
		)
		expect(build.exitCode).toBe(0)
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
})
