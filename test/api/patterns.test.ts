import { describe, expect, it } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
	auth,
	eventually,
	MAIN,
	metric,
	publish,
	RawStream,
	runProcess,
	startServer,
	tempDir,
} from '../helpers.ts'

/** The slowest pattern there is for a backtracking matcher: 299 stars, then a letter no name ends with. */
const WORST = `${'*'.repeat(299)}Q`
const WORST_LIST = Array.from({ length: 64 }, () => WORST)
/** The longest name, which every star could stretch over. */
const NAME = 'a'.repeat(128)

describe('stream patterns from every source', () => {
	it('never stall the server: the worst ones, while publishing, leave /healthz under 50 ms', async () => {
		using dir = tempDir()
		const file = join(dir.path, 'tokens.json')
		writeFileSync(
			file,
			JSON.stringify([{ token: 'narrow-token', scopes: ['read', 'publish'], streams: WORST_LIST }]),
		)
		await using server = await startServer({ args: ['--tokens-file', file] })
		// As many as a request line may carry (Bun answers 431 past 16 KiB of them).
		const match = WORST_LIST.slice(0, 40)
			.map((p) => `match=${p}`)
			.join('&')
		await using feed = await RawStream.open(`${server.url}/api/streaming/events?${match}`, auth())
		const issued = await fetch(`${server.url}/api/tickets`, {
			method: 'POST',
			headers: { ...auth(), 'content-type': 'application/json' },
			// A ticket carries its patterns, and is at most 4096 characters: nine of them fit.
			body: JSON.stringify({ streams: WORST_LIST.slice(0, 9) }),
		})
		expect(issued.status).toBe(201)
		const { ticket } = await issued.json()
		await using ticketFeed = await RawStream.open(
			`${server.url}/api/streaming/events?access_token=${ticket}`,
		)
		await using narrowFeed = await RawStream.open(`${server.url}/api/streaming/events`, {
			authorization: 'Bearer narrow-token',
		})
		const ws = new WebSocket(
			`${server.url.replace('http', 'ws')}/api/ws?access_token=${server.token}`,
		)
		await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }))
		ws.send(JSON.stringify({ subscribe: WORST_LIST }))
		for (const s of [feed, ticketFeed, narrowFeed]) expect(s.status).toBe(200)
		await eventually(
			async () => (await metric(server, 'cortex_open_streams')) === 4,
			5_000,
			'four feeds to open',
		)

		const probes: number[] = []
		let publishing = true
		const publisher = (async () => {
			for (let i = 0; i < 40; i++) {
				expect((await publish(server, `agents/${NAME}`, { event: 'progress' })).status).toBe(201)
				// The narrow token's patterns are matched against the name on every request, too.
				const denied = await publish({ url: server.url, token: 'narrow-token' }, `agents/${NAME}`, {
					event: 'progress',
				})
				expect(denied.status).toBe(403)
			}
			publishing = false
		})()
		while (publishing) {
			const t0 = performance.now()
			expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
			probes.push(performance.now() - t0)
			await Bun.sleep(5)
		}
		await publisher
		probes.sort((a, b) => a - b)
		expect(probes.length).toBeGreaterThan(5)
		expect(probes[probes.length - 1]).toBeLessThan(50)
		// No pattern matched the name, so no feed got an event.
		for (const s of [feed, ticketFeed, narrowFeed]) expect(s.events()).toEqual([])
		ws.close()
	}, 30_000)

	it('are bounded in count and length, with a 400 that names the field', async () => {
		await using server = await startServer()
		const tooMany = Array.from({ length: 65 }, () => 'agents/*')
		const feed = await fetch(
			`${server.url}/api/streaming/events?${tooMany.map((p) => `match=${p}`).join('&')}`,
			{ headers: auth() },
		)
		expect(feed.status).toBe(400)
		expect((await feed.json()).error.field).toBe('match')
		const long = await fetch(
			`${server.url}/api/streaming/events?match=agents/*&match=${'x'.repeat(301)}`,
			{ headers: auth() },
		)
		expect(long.status).toBe(400)
		expect((await long.json()).error.field).toBe('match/1')

		const ticket = await fetch(`${server.url}/api/tickets`, {
			method: 'POST',
			headers: { ...auth(), 'content-type': 'application/json' },
			body: JSON.stringify({ streams: ['agents/*', `agents/${'*'.repeat(300)}`] }),
		})
		expect(ticket.status).toBe(400)
		expect((await ticket.json()).error.field).toBe('/streams/1')
		const tooLong = await fetch(`${server.url}/api/tickets`, {
			method: 'POST',
			headers: { ...auth(), 'content-type': 'application/json' },
			body: JSON.stringify({ streams: WORST_LIST.slice(0, 10) }),
		})
		expect(tooLong.status).toBe(400)
		expect((await tooLong.json()).error.field).toBe('/streams')

		const ws = new WebSocket(
			`${server.url.replace('http', 'ws')}/api/ws?access_token=${server.token}`,
		)
		const messages: unknown[] = []
		ws.addEventListener('message', (e) => messages.push(JSON.parse(String(e.data))))
		const closed = new Promise<number>((resolve) =>
			ws.addEventListener('close', (e) => resolve(e.code)),
		)
		await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }))
		ws.send(JSON.stringify({ subscribe: ['agents/*', 'agents/a b'] }))
		expect(await closed).toBe(1008)
		expect(messages[0]).toMatchObject({ error: { code: 'bad_request', field: '/subscribe/1' } })
	})

	it('are bounded in a tokens file, which names the entry and not the token', async () => {
		using dir = tempDir()
		const file = join(dir.path, 'tokens.json')
		writeFileSync(
			file,
			JSON.stringify([
				{ token: 'secret-token-value', scopes: ['read'], streams: [...WORST_LIST, 'x'] },
			]),
		)
		const { code, stderr } = await runProcess(
			[process.execPath, MAIN, 'serve', '--port', '0', '--tokens-file', file],
			{
				env: { ...process.env, CORTEX_TOKEN: '' },
			},
		)
		expect(code).toBe(2)
		expect(stderr).toContain('entry 0')
		expect(stderr).toContain('"streams"')
		expect(stderr).not.toContain('secret-token-value')
	})
})
