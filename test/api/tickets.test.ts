import { describe, expect, it } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
	auth,
	openStream,
	publish,
	RawStream,
	startServer,
	streamUrl,
	type TestServer,
	tempDir,
} from '../helpers.ts'

async function ticket(server: TestServer, body: unknown, token = server.token) {
	const res = await fetch(`${server.url}/api/tickets`, {
		method: 'POST',
		headers: auth(token),
		body: JSON.stringify(body),
	})
	return { status: res.status, body: await res.json() }
}

describe('tickets', () => {
	it('grant read-only access to their streams, as ?access_token= or as a Bearer token', async () => {
		await using server = await startServer()
		await publish(server, 'workflows/wf-123', { event: 'step_start', data: { stepId: 'a' } })
		await publish(server, 'workflows/wf-other', { event: 'step_start', data: { stepId: 'b' } })
		const made = await ticket(server, { streams: ['workflows/wf-123'], ttlSeconds: 600 })
		expect(made.status).toBe(201)
		const expires = Date.parse(made.body.expiresAt)
		expect(expires - Date.now()).toBeGreaterThan(590_000)
		expect(expires - Date.now()).toBeLessThan(610_000)
		const t = made.body.ticket as string

		await using s = await RawStream.open(
			streamUrl(server, 'workflows/wf-123', `?access_token=${t}`),
		)
		expect(s.status).toBe(200)
		await s.until((x) => x.events().length === 1)
		expect((await fetch(`${server.url}/api/workflows/wf-123`, { headers: auth(t) })).status).toBe(
			200,
		)
		expect((await fetch(`${server.url}/api/workflows/wf-other`, { headers: auth(t) })).status).toBe(
			404,
		)
		expect(
			(await fetch(streamUrl(server, 'workflows/wf-other', `?access_token=${t}`))).status,
		).toBe(403)
		expect(
			(
				await publish({ url: server.url, token: t }, 'workflows/wf-123', {
					event: 'step_start',
					data: { stepId: 'x' },
				})
			).status,
		).toBe(403)
		const list = await (await fetch(`${server.url}/api/workflows`, { headers: auth(t) })).json()
		expect(list.workflows.map((w: { id: string }) => w.id)).toEqual(['wf-123'])
		// A ticket cannot mint another one.
		expect((await ticket(server, { streams: ['workflows/wf-123'] }, t)).status).toBe(403)
	})

	it('answers 401 to a tampered or expired ticket', async () => {
		await using server = await startServer()
		const { ticket: t } = (await ticket(server, { streams: ['agents/*'], ttlSeconds: 1 })).body
		const [prefix, payload, signature] = (t as string).split('.')
		const forged = Buffer.from(JSON.stringify({ s: ['*'], e: 9_999_999_999 })).toString('base64url')
		for (const bad of [
			`${prefix}.${forged}.${signature}`,
			`${prefix}.${payload}.${signature.slice(0, -2)}AA`,
			`${t}x`,
		]) {
			const res = await fetch(`${server.url}/api/agents`, { headers: auth(bad) })
			expect(res.status).toBe(401)
		}
		expect((await fetch(`${server.url}/api/agents`, { headers: auth(t) })).status).toBe(200)
		await Bun.sleep(2_100)
		const expired = await fetch(`${server.url}/api/agents`, { headers: auth(t) })
		expect(expired.status).toBe(401)
		expect(expired.headers.get('www-authenticate')).toStartWith('Bearer')
	})

	it('keep working across a server restart', async () => {
		await using first = await startServer()
		const { ticket: t } = (await ticket(first, { streams: ['agents/*'] })).body
		await first.kill('SIGKILL')
		await using second = await first.restart()
		expect((await fetch(`${second.url}/api/agents`, { headers: auth(t) })).status).toBe(200)
	})

	it('stay within what the caller may read, and check their body', async () => {
		using dir = tempDir()
		const file = join(dir.path, 'tokens.json')
		writeFileSync(
			file,
			JSON.stringify([
				{ token: 'agents-reader', scopes: ['read'], streams: ['agents/*'] },
				{ token: 'publisher', scopes: ['publish'], streams: ['*'] },
			]),
		)
		await using server = await startServer({ args: ['--tokens-file', file] })
		expect(
			(await ticket(server, { streams: ['agents/build-*', 'agents/x'] }, 'agents-reader')).status,
		).toBe(201)
		const beyond = await ticket(server, { streams: ['agents/x', 'workflows/*'] }, 'agents-reader')
		expect(beyond).toMatchObject({ status: 403, body: { error: { field: '/streams/1' } } })
		expect((await ticket(server, { streams: ['*'] }, 'agents-reader')).status).toBe(403)
		expect((await ticket(server, { streams: ['agents/*'] }, 'publisher')).status).toBe(403)
		for (const [body, field] of [
			[{ streams: [] }, '/streams'],
			[{ streams: ['agents/a b'] }, '/streams/0'],
			[{ streams: ['agents/a'], ttlSeconds: 86_401 }, '/ttlSeconds'],
			[{ streams: ['agents/a'], ttlSeconds: 1.5 }, '/ttlSeconds'],
		] as const) {
			const res = await ticket(server, body, 'agents-reader')
			expect([res.status, res.body.error.field]).toEqual([400, field])
		}
		expect((await ticket(server, { streams: ['agents/a'] }, 'wrong')).status).toBe(401)
	})

	it('are accepted only as the server wrote them: any other spelling of the same bytes is 401', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a', { event: 'progress' })
		// A signature with a character of each alphabet's own, so the other alphabet differs.
		let t = ''
		for (let ttl = 600; !/[-_]/.test(t.slice(t.lastIndexOf('.') + 1)); ttl++)
			t = (await ticket(server, { streams: ['agents/*'], ttlSeconds: ttl })).body.ticket
		const dot = t.lastIndexOf('.')
		const [payload, sig] = [t.slice(0, dot), t.slice(dot + 1)]
		const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
		// The last of 43 characters carries 4 bits of the signature and 2 unused ones.
		const last = ALPHABET.indexOf(sig[42])
		const variants = {
			'a stray character first': `${payload}.~${sig}`,
			padded: `${payload}.${sig}=`,
			'padded twice': `${payload}.${sig}==`,
			'the other alphabet': `${payload}.${sig.replaceAll('-', '+').replaceAll('_', '/')}`,
			'another value of the unused bits': `${payload}.${sig.slice(0, 42)}${ALPHABET[last ^ 1]}`,
			'padded claims': `${payload}=.${sig}`,
		}
		const read = (token: string) =>
			fetch(`${server.url}/api/agents/a`, { headers: auth(token) }).then((r) => r.status)
		expect(await read(t)).toBe(200)
		for (const [what, variant] of Object.entries(variants)) {
			expect(variant).not.toBe(t)
			expect([what, await read(variant)]).toEqual([what, 401])
			const stream = await fetch(
				streamUrl(server, 'agents/a', `?access_token=${encodeURIComponent(variant)}`),
			)
			expect([what, stream.status]).toEqual([what, 401])
		}
	})

	it('hold stream limits of their own, each ticket apart from the token that made it', async () => {
		await using server = await startServer({ args: ['--max-streams-per-token', '2'] })
		const a = (await ticket(server, { streams: ['agents/*'] })).body.ticket
		const b = (await ticket(server, { streams: ['agents/a'] })).body.ticket
		const open = (token: string) =>
			RawStream.open(streamUrl(server, 'agents/a', `?access_token=${token}`))
		const held = [await open(a), await open(a)]
		expect(held.map((s) => s.status)).toEqual([200, 200])
		expect((await open(a)).status).toBe(429)
		await using other = await open(b)
		expect(other.status).toBe(200)
		await using own = await openStream(server, 'agents/a')
		expect(own.status).toBe(200)
		await Promise.all(held.map((s) => s.close()))
	})

	it('end what they opened, cleanly, when they expire: a stream, a feed and a WebSocket', async () => {
		// No heartbeat in the test's time: the end comes from the expiry, not from a wake-up.
		await using server = await startServer({ args: ['--heartbeat-ms', '600000'] })
		const made = await ticket(server, { streams: ['agents/*'], ttlSeconds: 2 })
		const t = made.body.ticket as string
		const expires = Date.parse(made.body.expiresAt)
		await using stream = await RawStream.open(streamUrl(server, 'agents/a', `?access_token=${t}`))
		await using feed = await RawStream.open(`${server.url}/api/streaming/events?access_token=${t}`)
		const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/ws?access_token=${t}`)
		const closed = new Promise<number>((resolve) =>
			ws.addEventListener('close', (e) => resolve(e.code)),
		)
		await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }))
		ws.send(JSON.stringify({ subscribe: ['agents/*'] }))
		await publish(server, 'agents/a', { event: 'progress' })
		await stream.until((s) => s.events().length === 1)
		await feed.until((s) => s.events().length === 1)

		await stream.untilEnded(5_000)
		await feed.untilEnded(5_000)
		expect(await closed).toBe(1000)
		expect(Date.now()).toBeGreaterThanOrEqual(expires - 50)
		expect(Date.now()).toBeLessThan(expires + 2_000)
		// Ended at a frame's end: the client resumes where it was, with a fresh credential.
		expect(stream.text.endsWith('\n\n')).toBe(true)
		expect((await fetch(streamUrl(server, 'agents/a', `?access_token=${t}`))).status).toBe(401)
		const fresh = (await ticket(server, { streams: ['agents/*'] })).body.ticket
		await using again = await RawStream.open(
			streamUrl(server, 'agents/a', `?access_token=${fresh}&lastEventId=1`),
		)
		await publish(server, 'agents/a', { event: 'complete' })
		await again.untilEnded()
		expect(again.events().map((e) => e.id)).toEqual(['2'])
	}, 20_000)
})
