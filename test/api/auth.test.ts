import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
	auth,
	eventually,
	openStream,
	publish,
	RawStream,
	startServer,
	streamUrl,
	type TestServer,
	tempDir,
} from '../helpers.ts'

const READER = 'reader-agents-only'
const PUBLISHER = 'publisher-wf'
const HASHED = 'hashed-secret-token'
const ADMIN = 'admin-token'

let server: TestServer
const dir = tempDir()
beforeAll(async () => {
	const file = join(dir.path, 'tokens.json')
	const hashed = new Bun.CryptoHasher('sha256').update(HASHED).digest('hex')
	writeFileSync(
		file,
		JSON.stringify([
			{ token: READER, scopes: ['read'], streams: ['agents/*'] },
			{ token: PUBLISHER, scopes: ['publish'], streams: ['workflows/wf-*'] },
			{ sha256: hashed, scopes: ['read', 'publish'], streams: ['agents/hashed'] },
			{ token: ADMIN, scopes: ['admin'] },
		]),
	)
	server = await startServer({ args: ['--tokens-file', file] })
})
afterAll(async () => {
	await server[Symbol.asyncDispose]()
	dir[Symbol.dispose]()
})

const get = (path: string, headers: Record<string, string> = {}) =>
	fetch(`${server.url}${path}`, { headers })

describe('bearer tokens', () => {
	it('answers 401 with WWW-Authenticate to a missing, malformed or unknown token', async () => {
		for (const headers of [
			{} as Record<string, string>,
			{ authorization: 'Basic abc' },
			{ authorization: 'Bearer' },
			{ authorization: 'Bearer  two-spaces' },
			{ authorization: `Bearer ${ADMIN}x` },
			{ authorization: `Bearer ${ADMIN.slice(0, -1)}` },
		]) {
			for (const path of [
				'/api/agents',
				'/api/streaming/agents/a/stream',
				'/api/agents/a/events',
			]) {
				const res = await get(path, headers)
				expect(res.status).toBe(401)
				expect(res.headers.get('www-authenticate')).toStartWith('Bearer')
				const text = await res.text()
				expect(JSON.parse(text).error.code).toBe('unauthorized')
				// The answer never repeats what was sent as a token.
				for (const secret of [ADMIN, 'abc', 'two-spaces']) expect(text).not.toContain(secret)
			}
			const post = await fetch(`${server.url}/api/agents/a/events`, {
				method: 'POST',
				headers,
				body: '{"event":"progress"}',
			})
			expect(post.status).toBe(401)
		}
	})

	it('takes the scheme in any case and the CORTEX_TOKEN beside the tokens file', async () => {
		expect((await get('/api/agents', { authorization: `bEaReR ${ADMIN}` })).status).toBe(200)
		expect((await get('/api/agents', { authorization: `Bearer ${server.token}` })).status).toBe(200)
	})

	it('answers 403 to a valid token without the scope or the stream', async () => {
		const cases: Array<[string, string, string, number]> = [
			[READER, 'agents/x', 'publish', 403],
			[READER, 'workflows/wf-1', 'read', 403],
			[PUBLISHER, 'workflows/wf-1', 'read', 403],
			[PUBLISHER, 'workflows/other', 'publish', 403],
			[PUBLISHER, 'agents/x', 'publish', 403],
			[PUBLISHER, 'workflows/wf-1', 'publish', 201],
			[HASHED, 'agents/hashed', 'publish', 201],
			[HASHED, 'agents/hashed2', 'publish', 403],
			[ADMIN, 'agents/any', 'publish', 201],
		]
		for (const [token, stream, action, status] of cases) {
			if (action === 'publish') {
				const res = await publish({ url: server.url, token }, stream, { event: 'progress' })
				expect([token, stream, res.status]).toEqual([token, stream, status])
				if (status === 403) expect(res.body.error.code).toBe('forbidden')
			} else {
				const res = await fetch(streamUrl(server, stream), { headers: auth(token) })
				expect([token, stream, res.status]).toEqual([token, stream, status])
			}
		}
	})

	it('takes ?access_token= on the streaming GETs only', async () => {
		await publish(server, 'agents/q', { event: 'progress' })
		await using s = await RawStream.open(streamUrl(server, 'agents/q', `?access_token=${READER}`))
		expect(s.status).toBe(200)
		await s.until((x) => x.events().length === 1)
		const wf = await fetch(streamUrl(server, 'workflows/wf-1', `?access_token=${ADMIN}`))
		expect(wf.status).toBe(200)
		await wf.body?.cancel()
		expect((await get(`/api/agents?access_token=${ADMIN}`)).status).toBe(401)
		expect((await get(`/api/agents/q?access_token=${ADMIN}`)).status).toBe(401)
		const post = await fetch(`${server.url}/api/agents/q/events?access_token=${ADMIN}`, {
			method: 'POST',
			body: '{"event":"progress"}',
		})
		expect(post.status).toBe(401)
	})

	it('lists and shows only the streams a token may read, 404 for the others', async () => {
		await publish(server, 'workflows/wf-secret', { event: 'step_start', data: { stepId: 'a' } })
		await publish(server, 'agents/visible', { event: 'progress' })
		const agents = await (await get('/api/agents', auth(READER))).json()
		expect(agents.agents.map((a: { name: string }) => a.name)).toContain('visible')
		const workflows = await (await get('/api/workflows', auth(READER))).json()
		expect(workflows.workflows).toEqual([])
		expect((await get('/api/workflows/wf-secret', auth(READER))).status).toBe(404)
		expect((await get('/api/workflows/wf-secret/events', auth(READER))).status).toBe(404)
		expect((await get('/api/workflows/wf-never', auth(READER))).status).toBe(404)
		expect((await get('/api/workflows/wf-secret', auth(ADMIN))).status).toBe(200)
		expect((await get('/api/agents', auth(PUBLISHER))).status).toBe(403)
	})

	it('never writes a token to the log, from the header or the query', async () => {
		await using _s = await openStream(server, 'agents/q', {}, `?access_token=${READER}`)
		await fetch(streamUrl(server, 'agents/q', `?access_token=${HASHED}x`))
		await get('/api/agents', auth(`${ADMIN}-wrong`))
		await Bun.sleep(50)
		const log = server.output()
		expect(log).toContain('/api/streaming/agents/q/stream')
		for (const secret of [READER, HASHED, ADMIN, PUBLISHER, server.token])
			expect(log).not.toContain(secret)
		for (const line of log.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow()
	})
})

describe('starting without a token', () => {
	it('refuses to start and says how to set one', async () => {
		const proc = Bun.spawn(
			[process.execPath, 'src/main.ts', 'serve', '--port', '0', '--db', join(dir.path, 'x.db')],
			{
				cwd: `${import.meta.dir}/../..`,
				env: { ...process.env, CORTEX_TOKEN: '', CORTEX_TOKENS_FILE: '' },
				stderr: 'pipe',
				stdout: 'pipe',
			},
		)
		expect(await proc.exited).toBe(2)
		expect(await new Response(proc.stderr).text()).toContain('CORTEX_TOKEN')
	})

	it('serves without auth under --no-auth, and says so loudly', async () => {
		await using open = await startServer({ noToken: true, args: ['--no-auth'] })
		expect(open.output()).toContain('AUTHENTICATION IS OFF')
		expect(
			(await publish({ url: open.url, token: 'anything' }, 'agents/a', { event: 'progress' }))
				.status,
		).toBe(201)
		expect((await fetch(`${open.url}/api/agents`)).status).toBe(200)
	})
})

describe('the tokens file on SIGHUP', () => {
	it('is read again: removed or changed tokens lose their open streams, the others keep theirs', async () => {
		using files = tempDir()
		const file = join(files.path, 'tokens.json')
		const write = (entries: unknown) => writeFileSync(file, JSON.stringify(entries))
		write([
			{ token: 'gone', scopes: ['read'] },
			{ token: 'stays', scopes: ['read'] },
			{ token: 'narrowed', scopes: ['read'], streams: ['agents/*'] },
		])
		await using s = await startServer({ args: ['--tokens-file', file, '--heartbeat-ms', '600000'] })
		const open = (token: string) => RawStream.open(streamUrl(s, 'agents/a'), auth(token))
		await using gone = await open('gone')
		await using stays = await open('stays')
		await using narrowed = await open('narrowed')
		const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/ws?access_token=gone`)
		const closed = new Promise<number>((resolve) =>
			ws.addEventListener('close', (e) => resolve(e.code)),
		)
		await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }))

		write([
			{ token: 'stays', scopes: ['read'] },
			{ token: 'narrowed', scopes: ['read'], streams: ['agents/b'] },
			{ token: 'new', scopes: ['read'] },
		])
		s.proc.kill('SIGHUP')
		await gone.untilEnded(5_000)
		await narrowed.untilEnded(5_000)
		expect(await closed).toBe(1000)
		await eventually(() => s.output().includes('"msg":"tokens reloaded"'))
		const line = s
			.output()
			.split('\n')
			.find((l) => l.includes('"msg":"tokens reloaded"')) as string
		expect(JSON.parse(line)).toMatchObject({ tokens: 4, endedStreams: 3 })
		// The stream of the token that stayed goes on; the removed one is unknown now.
		await publish(s, 'agents/a', { event: 'progress' })
		await stays.until((x) => x.events().length === 1)
		expect(stays.done).toBe(false)
		expect((await fetch(streamUrl(s, 'agents/a'), { headers: auth('gone') })).status).toBe(401)
		expect((await fetch(streamUrl(s, 'agents/a'), { headers: auth('narrowed') })).status).toBe(403)
		await using added = await open('new')
		expect(added.status).toBe(200)

		// A file with a mistake in it changes nothing, and says so.
		writeFileSync(file, '[{"token": "stays", "scopes": ["read"],}]')
		s.proc.kill('SIGHUP')
		await eventually(() => s.output().includes('tokens file not reloaded'))
		expect(s.output()).toContain('line 1, column 40')
		await using still = await open('new')
		expect(still.status).toBe(200)
		expect(stays.done).toBe(false)
	}, 30_000)
})

describe('GET /api/whoami', () => {
	it('tells a credential what it may do: its kind, scopes spelled out, streams and expiry', async () => {
		const who = async (token: string) => {
			const res = await get('/api/whoami', auth(token))
			return { status: res.status, body: await res.json() }
		}
		expect(await who(READER)).toEqual({
			status: 200,
			body: { kind: 'token', scopes: ['read'], streams: ['agents/*'], expiresAt: null },
		})
		expect((await who(ADMIN)).body).toEqual({
			kind: 'token',
			scopes: ['read', 'publish', 'admin'],
			streams: ['*'],
			expiresAt: null,
		})
		const made = await (
			await fetch(`${server.url}/api/tickets`, {
				method: 'POST',
				headers: auth(READER),
				body: JSON.stringify({ streams: ['agents/team-*'], ttlSeconds: 60 }),
			})
		).json()
		expect(await who(made.ticket)).toEqual({
			status: 200,
			body: {
				kind: 'ticket',
				scopes: ['read'],
				streams: ['agents/team-*'],
				expiresAt: made.expiresAt,
			},
		})
		expect((await who('unknown')).status).toBe(401)
		// Like every route but the streams, it takes the credential in a header only.
		expect((await get(`/api/whoami?access_token=${READER}`)).status).toBe(401)
	})
})
