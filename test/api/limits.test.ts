import { describe, expect, it } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import {
	auth,
	eventually,
	metric,
	openStream,
	publish,
	RawStream,
	runProcess,
	startServer,
	streamUrl,
	TOKEN,
	tempDir,
} from '../helpers.ts'

/** A WebSocket on the feed, not subscribed; resolves once it opened or failed to. */
async function feedSocket(url: string) {
	const ws = new WebSocket(`${url.replace('http', 'ws')}/api/ws?access_token=${TOKEN}`)
	const closed = new Promise<number>((resolve) =>
		ws.addEventListener('close', (e) => resolve(e.code)),
	)
	const opened = await new Promise<boolean>((resolve) => {
		ws.addEventListener('open', () => resolve(true))
		ws.addEventListener('error', () => resolve(false))
	})
	return { ws, opened, closed }
}

describe('stream limits', () => {
	it('refuses a token past its open streams with 429, and keeps its open streams flowing', async () => {
		await using server = await startServer({ args: ['--max-streams-per-token', '2'] })
		const a = await openStream(server, 'agents/a')
		const b = await openStream(server, 'agents/b')
		const refused = await fetch(streamUrl(server, 'agents/c'), { headers: auth() })
		expect(refused.status).toBe(429)
		expect(refused.headers.get('retry-after')).toBe('5')
		expect((await refused.json()).error.code).toBe('too_many_requests')
		await publish(server, 'agents/a', { event: 'progress' })
		await a.until((s) => s.events().length === 1)
		await b.close()
		await eventually(async () => (await metric(server, 'cortex_open_streams')) === 1)
		const admitted = await openStream(server, 'agents/c')
		expect(admitted.status).toBe(200)
		await a.close()
		await admitted.close()
	})

	it('answers 503 past the open streams of the whole server, whatever the token', async () => {
		using dir = tempDir()
		const file = join(dir.path, 'tokens.json')
		writeFileSync(file, JSON.stringify([{ token: 'other', scopes: ['read'] }]))
		await using server = await startServer({ args: ['--max-streams', '2', '--tokens-file', file] })
		const a = await openStream(server, 'agents/a')
		const b = await openStream(server, 'agents/b', { authorization: 'Bearer other' })
		const refused = await fetch(`${server.url}/api/streaming/events`, { headers: auth('other') })
		expect(refused.status).toBe(503)
		expect(refused.headers.get('retry-after')).toBe('5')
		await a.close()
		await b.close()
	})

	it('answers 429 to too many new streams from one token in a second', async () => {
		await using server = await startServer({ args: ['--max-connects-per-second', '3'] })
		const statuses: number[] = []
		for (let i = 0; i < 10; i++) {
			const res = await fetch(streamUrl(server, `agents/s${i}`), { headers: auth() })
			statuses.push(res.status)
			if (res.status === 429) expect(res.headers.get('retry-after')).toBe('1')
			await res.body?.cancel()
		}
		expect(statuses).toContain(429)
		expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(3)
	})

	it('gives a place back on every way a response ends: HEAD, a client gone before the first byte, a body never read', async () => {
		await using server = await startServer({ args: ['--max-streams-per-token', '5'] })
		const urls = [streamUrl(server, 'agents/a'), `${server.url}/api/streaming/events`]
		for (const url of urls) {
			// HEAD: the answer's headers and no body, ten times a limit of five.
			for (let i = 0; i < 10; i++) {
				const curl = await runProcess([
					'curl',
					'-s',
					'-I',
					'-o',
					'/dev/null',
					'-w',
					'%{http_code} %{content_type}',
					'-H',
					`Authorization: Bearer ${TOKEN}`,
					url,
				])
				expect(curl.stdout).toBe('200 text/event-stream')
			}
			// Gone before the first byte: the request is sent and the socket closed at once.
			for (let i = 0; i < 10; i++) {
				const path = url.slice(server.url.length)
				await new Promise<void>((resolve) => {
					const socket = connect(server.port, '127.0.0.1', () => {
						socket.write(
							`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
						)
						socket.destroy()
						resolve()
					})
				})
			}
			await eventually(
				async () => (await metric(server, 'cortex_open_streams')) === 0,
				5_000,
				'the places of the clients gone before the first byte',
			)
			// A body never read: the headers arrive, and the client drops the body unread.
			for (let i = 0; i < 10; i++) {
				const res = await fetch(url, { headers: auth() })
				expect(res.status).toBe(200)
				await res.body?.cancel()
				await eventually(async () => (await metric(server, 'cortex_open_streams')) === 0)
			}
		}
		await eventually(
			async () => (await metric(server, 'cortex_open_streams')) === 0,
			5_000,
			'every place given back',
		)
		// The token still has all five places, for any kind of stream.
		const open = await Promise.all([
			openStream(server, 'agents/a'),
			openStream(server, 'agents/b'),
			RawStream.open(`${server.url}/api/streaming/events`, auth()),
			openStream(server, 'workflows/w'),
		])
		const socket = await feedSocket(server.url)
		expect(open.map((s) => s.status)).toEqual([200, 200, 200, 200])
		expect(socket.opened).toBe(true)
		expect((await fetch(streamUrl(server, 'agents/c'), { headers: auth() })).status).toBe(429)
		await Promise.all(open.map((s) => s.close()))
		socket.ws.close()
	}, 30_000)

	it('counts a WebSocket from its upgrade, subscribed or not, until it closes', async () => {
		await using server = await startServer({ args: ['--max-streams-per-token', '2'] })
		const first = await feedSocket(server.url)
		const second = await feedSocket(server.url)
		expect([first.opened, second.opened]).toEqual([true, true])
		await eventually(async () => (await metric(server, 'cortex_open_streams')) === 2)
		// Neither has subscribed, yet they hold the token's two places.
		const refused = await fetch(streamUrl(server, 'agents/a'), { headers: auth() })
		expect(refused.status).toBe(429)
		expect((await feedSocket(server.url)).opened).toBe(false)
		first.ws.close()
		await first.closed
		await eventually(async () => (await metric(server, 'cortex_open_streams')) === 1)
		await using admitted = await openStream(server, 'agents/a')
		expect(admitted.status).toBe(200)
		second.ws.close()
	})
})
