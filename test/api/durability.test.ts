import { describe, expect, it } from 'bun:test'
import { EventSource } from 'eventsource'
import {
	eventually,
	openStream,
	publish,
	publishUntilStopped,
	startServer,
	watch,
} from '../helpers.ts'

describe('durability across a crash', () => {
	it('delivers every acknowledged event exactly once after kill -9 and a restart on the same file', async () => {
		await using first = await startServer({ args: ['--retry-ms', '100'] })
		const watcher = watch(first, 'agents/crash')
		const load = publishUntilStopped(first, 'agents/crash', 6)
		await eventually(() => load.acked.size >= 300, 20_000, '300 acknowledged events')
		await first.kill('SIGKILL')
		await load.done
		const acked = new Map(load.acked)

		await using second = await first.restart()
		// The store lost nothing it acknowledged: the log is gapless from 1 and holds each message.
		const end = await publish(second, 'agents/crash', { event: 'complete', data: { result: 'ok' } })
		expect(end.status).toBe(201)
		const lastId = end.body.ids[0] as number
		expect(lastId).toBeGreaterThan(Math.max(...acked.keys()))

		await using replay = await openStream(second, 'agents/crash')
		await replay.untilEnded(20_000)
		const frames = replay.events()
		expect(frames.map((f) => Number(f.id))).toEqual(Array.from({ length: lastId }, (_, i) => i + 1))
		const byId = new Map(frames.map((f) => [Number(f.id), f]))
		for (const [id, message] of acked)
			expect(JSON.parse(byId.get(id)?.data as string).message).toBe(message)
		const messages = frames.slice(0, -1).map((f) => JSON.parse(f.data as string).message)
		expect(new Set(messages).size).toBe(messages.length)

		// The EventSource that watched the crash reconnected by itself with Last-Event-ID.
		await eventually(
			() => watcher.seen.at(-1)?.type === 'complete',
			20_000,
			'the watcher to see complete',
		)
		expect(watcher.seen.map((e) => Number(e.id))).toEqual(
			Array.from({ length: lastId }, (_, i) => i + 1),
		)
		// After the terminal event its reconnect gets 204 and it stops for good.
		await eventually(
			() => watcher.source.readyState === EventSource.CLOSED,
			10_000,
			'the watcher to close',
		)
		watcher.source.close()
	}, 60_000)

	it('keeps a workflow watcher going across a clean restart, missing nothing', async () => {
		await using first = await startServer({ args: ['--retry-ms', '100'] })
		const watcher = watch(first, 'workflows/wf-restart')
		for (let i = 1; i <= 5; i++)
			await publish(first, 'workflows/wf-restart', {
				event: 'step_start',
				data: { stepId: `s${i}` },
			})
		await eventually(() => watcher.seen.length === 5, 10_000, '5 events before the restart')
		first.proc.kill('SIGTERM')
		expect(await first.exited).toBe(0)
		await using second = await first.restart()
		for (let i = 6; i <= 10; i++)
			await publish(second, 'workflows/wf-restart', {
				event: 'step_start',
				data: { stepId: `s${i}` },
			})
		await publish(second, 'workflows/wf-restart', { event: 'complete' })
		await eventually(() => watcher.seen.length === 11, 15_000, '11 events in all')
		expect(watcher.seen.map((e) => e.id)).toEqual(
			Array.from({ length: 11 }, (_, i) => String(i + 1)),
		)
		expect(watcher.seen.slice(0, 10).map((e) => JSON.parse(e.data).stepId)).toEqual(
			Array.from({ length: 10 }, (_, i) => `s${i + 1}`),
		)
		watcher.source.close()
	}, 60_000)
})

describe('shutdown', () => {
	it('ends open streams cleanly on SIGTERM, closes the store and exits 0', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a', { event: 'progress' })
		await using s = await openStream(server, 'agents/a')
		await s.until((x) => x.events().length === 1)
		server.proc.kill('SIGTERM')
		await s.untilEnded(10_000)
		expect(s.text).toBe('retry: 1000\n\nid: 1\nevent: progress\ndata: {}\n\n')
		expect(await server.exited).toBe(0)
		expect(server.output()).toContain('"msg":"stopped"')
	})
})
