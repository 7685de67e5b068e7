import { describe, expect, it } from 'bun:test'
import { publish, type StreamEvent, subscribe } from '../client/src/index.ts'
import { startServer, type TestServer } from './helpers.ts'

const SUBSCRIBERS = 200
const CRASHES = 3

describe('chaos', () => {
	it('delivers every acknowledged event exactly once, in order, to 200 subscribers across repeated kill -9', async () => {
		let server: TestServer = await startServer({ args: ['--retry-ms', '50'] })
		const client = () => ({
			url: server.url,
			token: server.token,
			maxRetryMs: 300,
			retryForMs: 10_000,
		})
		const seen: number[][] = Array.from({ length: SUBSCRIBERS }, () => [])
		const watchers = seen.map(async (ids) => {
			for await (const e of subscribe('agents/chaos', { ...client(), lastEventId: 0 }))
				ids.push((e as StreamEvent).id)
		})

		// Publishers retry through the crashes with one Idempotency-Key per event: no duplicates.
		const acked: number[] = []
		let stop = false
		const publishers = Array.from({ length: 4 }, async (_, p) => {
			for (let i = 0; !stop; i++) {
				try {
					const { ids } = await publish(
						'agents/chaos',
						{ event: 'progress', data: { p, i } },
						client(),
					)
					acked.push(...ids)
				} catch {
					// Out of time to retry while the server was down: this event was never acknowledged.
				}
			}
		})
		for (let crash = 0; crash < CRASHES; crash++) {
			await Bun.sleep(600)
			await server.kill('SIGKILL')
			server = await server.restart()
		}
		await Bun.sleep(300)
		stop = true
		await Promise.all(publishers)
		const { ids: last } = await publish('agents/chaos', { event: 'complete' }, client())
		await Promise.all(watchers)
		await server[Symbol.asyncDispose]()

		const all = Array.from({ length: last[0] }, (_, i) => i + 1)
		expect(acked.length).toBeGreaterThan(100)
		expect(new Set(acked).size).toBe(acked.length)
		for (const id of acked) expect(id).toBeLessThan(last[0])
		for (const ids of seen) expect(ids).toEqual(all)
	}, 60_000)
})
