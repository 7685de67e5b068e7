import { describe, expect, it } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { auth, publish, RawStream, startServer, tempDir } from '../helpers.ts'

const feedUrl = (url: string, query = '') => `${url}/api/streaming/events${query}`

describe('the dashboard feed', () => {
	it('sends every stream in commit order, numbered by the global cursor, and is not ended by terminal events', async () => {
		await using server = await startServer()
		await publish(server, 'agents/old', { event: 'progress' })
		await using feed = await RawStream.open(feedUrl(server.url), auth())
		await feed.until((f) => f.text.startsWith('retry: 1000\n\n'))
		await publish(server, 'agents/a', [
			{ event: 'progress', data: { progress: 0.5 } },
			{ event: 'complete' },
		])
		await publish(server, 'workflows/wf-1', { event: 'step_start', data: { stepId: 's' } })
		await feed.until((f) => f.events().length === 3)
		expect(feed.text).toBe(
			'retry: 1000\n\n' +
				'id: 2\nevent: progress\ndata: {"stream":"agents/a","id":1,"data":{"progress":0.5}}\n\n' +
				'id: 3\nevent: complete\ndata: {"stream":"agents/a","id":2,"data":{}}\n\n' +
				'id: 4\nevent: step_start\ndata: {"stream":"workflows/wf-1","id":1,"data":{"stepId":"s"}}\n\n',
		)
		expect(feed.done).toBe(false)
	})

	it('sends only the streams the token may read and match asks for', async () => {
		using dir = tempDir()
		const file = join(dir.path, 'tokens.json')
		writeFileSync(
			file,
			JSON.stringify([{ token: 'agents-reader', scopes: ['read'], streams: ['agents/*'] }]),
		)
		await using server = await startServer({ args: ['--tokens-file', file] })
		await using scoped = await RawStream.open(
			feedUrl(server.url, '?match=*&lastEventId=0&access_token=agents-reader'),
		)
		await using matched = await RawStream.open(
			feedUrl(server.url, '?match=workflows/wf-*&match=agents/b'),
			auth(),
		)
		await publish(server, 'workflows/wf-secret', { event: 'step_start', data: { stepId: 'x' } })
		await publish(server, 'agents/a', { event: 'progress' })
		await publish(server, 'agents/b', { event: 'progress' })
		await publish(server, 'workflows/other', { event: 'step_start', data: { stepId: 'y' } })
		await scoped.until((f) => f.events().length === 2)
		await matched.until((f) => f.events().length === 2)
		await Bun.sleep(100)
		const streams = (f: RawStream) => f.events().map((e) => JSON.parse(e.data as string).stream)
		expect(streams(scoped)).toEqual(['agents/a', 'agents/b'])
		expect(streams(matched)).toEqual(['workflows/wf-secret', 'agents/b'])
		expect(scoped.text).not.toContain('wf-secret')
		expect((await fetch(feedUrl(server.url), { headers: auth('nope') })).status).toBe(401)
	})

	it('resumes from a snapshot cursor and across a restart with nothing missed or repeated', async () => {
		await using first = await startServer()
		await publish(first, 'agents/a', { event: 'progress', data: { n: 1 } })
		const { cursor } = await (await fetch(`${first.url}/api/agents`, { headers: auth() })).json()
		expect(cursor).toBe(1)
		await publish(first, 'agents/a', { event: 'progress', data: { n: 2 } })
		await publish(first, 'workflows/w', { event: 'step_start', data: { stepId: 'n3' } })
		const before = await RawStream.open(feedUrl(first.url), {
			...auth(),
			'last-event-id': String(cursor),
		})
		await before.until((f) => f.events().length === 2)
		const last = before.events().at(-1)?.id as string
		await first.kill('SIGKILL')
		await using second = await first.restart()
		await publish(second, 'agents/a', { event: 'progress', data: { n: 4 } })
		await using after = await RawStream.open(feedUrl(second.url), {
			...auth(),
			'last-event-id': last,
		})
		await after.until((f) => f.events().length === 1)
		await Bun.sleep(50)
		expect([...before.events(), ...after.events()].map((e) => e.id)).toEqual(['2', '3', '4'])
		expect(after.events()[0].data).toBe('{"stream":"agents/a","id":3,"data":{"n":4}}')
	}, 30_000)
})

/** A WebSocket client that keeps every message and the close code. */
async function socket(url: string) {
	const ws = new WebSocket(url)
	const messages: Array<Record<string, unknown>> = []
	let closed: number | undefined
	ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)))
	ws.onclose = (e) => {
		closed = e.code
	}
	const opened = await new Promise<boolean>((resolve) => {
		ws.onopen = () => resolve(true)
		ws.onerror = () => resolve(false)
	})
	return { ws, messages, opened, closed: () => closed }
}

describe('the dashboard feed over WebSocket', () => {
	it('sends one JSON message per event of the subscribed streams, from a cursor, then live', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a', { event: 'progress', data: { n: 1 } })
		await publish(server, 'workflows/w', { event: 'step_start', data: { stepId: 's' } })
		const c = await socket(
			`${server.url.replace('http', 'ws')}/api/ws?access_token=${server.token}`,
		)
		expect(c.opened).toBe(true)
		c.ws.send(JSON.stringify({ subscribe: ['agents/*'], after: 0 }))
		await publish(server, 'agents/b', { event: 'complete', data: { result: 'ok' } })
		while (c.messages.length < 2) await Bun.sleep(10)
		expect(c.messages).toEqual([
			{ cursor: 1, stream: 'agents/a', id: 1, event: 'progress', data: { n: 1 } },
			{ cursor: 3, stream: 'agents/b', id: 1, event: 'complete', data: { result: 'ok' } },
		])
		c.ws.close()
	})

	it('answers a bad message with an error and closes; refuses a missing token', async () => {
		await using server = await startServer()
		const base = `${server.url.replace('http', 'ws')}/api/ws`
		const c = await socket(`${base}?access_token=${server.token}`)
		c.ws.send('{"subscribe": "agents/*"}')
		while (c.closed() === undefined) await Bun.sleep(10)
		expect(c.messages[0]).toMatchObject({ error: { code: 'bad_request' } })
		expect(c.closed()).toBe(1008)
		expect((await socket(base)).opened).toBe(false)
		expect((await socket(`${base}?access_token=wrong`)).opened).toBe(false)
	})
})

describe('a feed client that stops reading', () => {
	it('is dropped once a whole tail waits for it, and the other feeds go on', async () => {
		const { eventually, metric, stalledClient, untilStalledDropped } = await import('../helpers.ts')
		await using server = await startServer({ args: ['--heartbeat-ms', '100'] })
		const socket = await stalledClient(server, '/api/streaming/events')
		await using reading = await RawStream.open(feedUrl(server.url), auth())
		await eventually(async () => (await metric(server, 'cortex_open_streams')) === 2)
		const payload = 'z'.repeat(4_000)
		for (let i = 0; i < 30; i++)
			await publish(
				server,
				`agents/f${i % 3}`,
				Array.from({ length: 100 }, () => ({ event: 'progress', data: { message: payload } })),
			)
		await reading.until(
			(s) => s.events().length === 3000,
			20_000,
			'every event on the reading feed',
		)
		await untilStalledDropped(server, 'the stalled feed to close')
		expect(reading.done).toBe(false)
		socket.destroy()
	}, 30_000)
})
