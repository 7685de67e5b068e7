import { describe, expect, it } from 'bun:test'
import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import {
	auth,
	eventually,
	metric,
	openStream,
	publish,
	stalledClient,
	startServer,
	type TestServer,
} from '../helpers.ts'

const rssKiB = (pid: number) =>
	Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])

/** Appends `mib` MiB to `stream` in events of about 1 KiB, no terminal one. */
async function backlog(server: TestServer, stream: string, mib: number) {
	const events = Array.from({ length: 256 }, () => ({
		event: 'progress',
		data: { message: 'b'.repeat(1000) },
	}))
	for (let i = 0; i < mib * 4; i++) expect((await publish(server, stream, events)).status).toBe(201)
}

/** Waits until the server has stopped handing events to its subscribers' sockets. */
async function untilBlocked(server: TestServer) {
	let last = -1
	await eventually(
		async () => {
			const now = await metric(server, 'cortex_events_delivered_total')
			const same = now === last
			last = now
			if (!same) await Bun.sleep(300)
			return same
		},
		60_000,
		'the stalled subscribers to fill their sockets',
	)
}

describe('subscribers that stop reading', () => {
	it('cost the server at most 256 KiB each, however far behind they are', async () => {
		await using server = await startServer()
		// More than a loopback socket's buffers hold, so every subscriber ends up blocked.
		await backlog(server, 'agents/big', 24)
		await Bun.sleep(500)
		const before = rssKiB(server.proc.pid)
		const stalled: Socket[] = []
		for (let i = 0; i < 200; i++)
			stalled.push(await stalledClient(server, '/api/streaming/agents/big/stream?lastEventId=0'))
		await eventually(async () => (await metric(server, 'cortex_open_streams')) === 200, 20_000)
		await untilBlocked(server)
		const perSubscriber = (rssKiB(server.proc.pid) - before) / stalled.length
		expect(perSubscriber).toBeLessThan(256)

		// A subscriber that reads is served at once meanwhile.
		await using reader = await openStream(server, 'agents/big', {
			'last-event-id': String(24 * 1024),
		})
		const t0 = performance.now()
		await publish(server, 'agents/big', { event: 'progress', data: { message: 'now' } })
		await reader.until((s) => s.text.includes('"now"'))
		expect(performance.now() - t0).toBeLessThan(1_000)
		for (const s of stalled) s.destroy()
	}, 90_000)

	it('are dropped after two heartbeat intervals without taking a chunk, even on a stream that went quiet', async () => {
		await using server = await startServer({ args: ['--heartbeat-ms', '200'] })
		await backlog(server, 'agents/quiet', 16)
		const stalled = await Promise.all(
			Array.from({ length: 5 }, () =>
				stalledClient(server, '/api/streaming/agents/quiet/stream?lastEventId=0'),
			),
		)
		// A reader at the head of the same stream, which has nothing to take: it stays.
		await using reader = await openStream(server, 'agents/quiet', {
			'last-event-id': String(16 * 1024),
		})
		await eventually(
			async () => (await metric(server, 'cortex_slow_subscribers_dropped_total')) === 5,
			10_000,
			'the five stalled subscribers to be dropped',
		)
		await eventually(async () => (await metric(server, 'cortex_open_streams')) === 1)
		await reader.until((s) => s.text.includes(': heartbeat'))
		expect(reader.done).toBe(false)
		const res = await fetch(`${server.url}/api/agents/quiet`, { headers: auth() })
		expect((await res.json()).lastEventId).toBe(16 * 1024)
		for (const s of stalled) s.destroy()
	}, 60_000)
})
