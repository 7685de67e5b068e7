import { describe, expect, it } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
	auth,
	eventually,
	metric,
	openStream,
	publish,
	startServer,
	streamUrl,
	tempDir,
} from '../helpers.ts'

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
})
