import { describe, expect, it } from 'bun:test'
import { auth, metric, openStream, publish, startServer } from '../helpers.ts'

describe('operations', () => {
	it('answers /healthz without auth while the store is writable', async () => {
		await using server = await startServer()
		const res = await fetch(`${server.url}/healthz`)
		expect(res.status).toBe(200)
		expect(await res.json()).toEqual({ ok: true })
	})

	it('exposes Prometheus metrics without stream names', async () => {
		await using server = await startServer()
		await publish(server, 'agents/secret-name', [{ event: 'progress' }, { event: 'progress' }])
		await using s = await openStream(server, 'agents/secret-name')
		await s.until((x) => x.events().length === 2)
		const res = await fetch(`${server.url}/metrics`)
		expect(res.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
		const text = await res.text()
		for (const line of text.trim().split('\n'))
			expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{code="\d+"\})? \d+)$/)
		expect(text).not.toContain('secret-name')
		expect(await metric(server, 'cortex_events_appended_total')).toBe(2)
		expect(await metric(server, 'cortex_events_delivered_total')).toBe(2)
		expect(await metric(server, 'cortex_open_streams')).toBe(1)
		expect(await metric(server, 'cortex_store_bytes')).toBeGreaterThan(4096)
		expect(text).toContain('cortex_http_responses_total{code="201"} 1')
	})

	it('sends security headers on every response, errors and streams included', async () => {
		await using server = await startServer()
		const responses = [
			await fetch(`${server.url}/healthz`),
			await fetch(`${server.url}/api/agents`),
			await fetch(`${server.url}/api/agents`, { headers: auth() }),
			await fetch(`${server.url}/nope`),
			await fetch(`${server.url}/api/streaming/agents/a/stream`, {
				headers: auth(),
				signal: AbortSignal.timeout(500),
			}),
		]
		for (const res of responses) {
			expect([res.url, res.headers.get('x-content-type-options')]).toEqual([res.url, 'nosniff'])
			expect(res.headers.get('x-frame-options')).toBe('DENY')
			expect(res.headers.get('referrer-policy')).toBe('no-referrer')
			await res.body?.cancel()
		}
	})

	it('answers unknown routes with a JSON 404', async () => {
		await using server = await startServer()
		const res = await fetch(`${server.url}/api/nothing`, { headers: auth() })
		expect(res.status).toBe(404)
		expect((await res.json()).error.code).toBe('not_found')
	})

	it('logs one JSON line per request, without the query string', async () => {
		await using server = await startServer()
		await fetch(`${server.url}/healthz?x=1`)
		await Bun.sleep(50)
		const line = server
			.output()
			.trim()
			.split('\n')
			.map((l) => JSON.parse(l))
			.find((l) => l.msg === 'request')
		expect(line).toMatchObject({ level: 'info', method: 'GET', path: '/healthz', status: 200 })
		expect(typeof line.ms).toBe('number')
		expect(line.time).toMatch(/Z$/)
	})
})

describe('CORS', () => {
	it('is off unless configured', async () => {
		await using server = await startServer()
		const res = await fetch(`${server.url}/healthz`, { headers: { origin: 'https://app.example' } })
		expect(res.headers.get('access-control-allow-origin')).toBeNull()
		const pre = await fetch(`${server.url}/api/agents`, {
			method: 'OPTIONS',
			headers: { origin: 'https://app.example' },
		})
		expect(pre.headers.get('access-control-allow-origin')).toBeNull()
	})

	it('allows only the configured origins, preflight included', async () => {
		await using server = await startServer({
			args: ['--cors-origin', 'https://app.example,https://b.example'],
		})
		const pre = await fetch(`${server.url}/api/agents/a/events`, {
			method: 'OPTIONS',
			headers: { origin: 'https://b.example', 'access-control-request-method': 'POST' },
		})
		expect(pre.status).toBe(204)
		expect(pre.headers.get('access-control-allow-origin')).toBe('https://b.example')
		expect(pre.headers.get('access-control-allow-headers')).toContain('Last-Event-ID')
		const ok = await fetch(`${server.url}/api/agents`, {
			headers: { ...auth(), origin: 'https://app.example' },
		})
		expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example')
		const denied = await fetch(`${server.url}/api/agents`, {
			headers: { ...auth(), origin: 'https://evil.example' },
		})
		expect(denied.headers.get('access-control-allow-origin')).toBeNull()
	})
})
