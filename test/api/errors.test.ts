import { describe, expect, it } from 'bun:test'
import { connect } from 'node:net'
import { auth, eventually, metric, publish, startServer, TOKEN } from '../helpers.ts'

/** Sends the head of a publish and part of its body, then goes away. */
function abandon(port: number, head: string, part: string) {
	return new Promise<void>((resolve) => {
		const socket = connect(port, '127.0.0.1', () => {
			socket.write(
				`POST /api/agents/a/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n${head}\r\n\r\n${part}`,
			)
			setTimeout(() => {
				socket.destroy()
				resolve()
			}, 100)
		})
	})
}

const responses = async (server: { url: string }, code: number) =>
	metric(server, `cortex_http_responses_total{code="${code}"}`).catch(() => 0)

describe('error shapes', () => {
	it('counts a client gone mid-body apart from server errors, and logs it at debug only', async () => {
		await using server = await startServer({ args: ['--log-level', 'debug'] })
		await abandon(server.port, 'Content-Length: 1000', '{"event":"progress","data":{"message":"')
		await abandon(server.port, 'Transfer-Encoding: chunked', '10\r\n{"event":"progre\r\n')
		await eventually(async () => (await responses(server, 499)) === 2, 5_000, 'two 499s')
		expect(await responses(server, 500)).toBe(0)
		const lines = server
			.output()
			.trim()
			.split('\n')
			.map((l) => JSON.parse(l))
		expect(lines.filter((l) => l.level === 'error')).toEqual([])
		expect(lines.filter((l) => l.msg === 'client closed the request')).toHaveLength(2)
		expect(lines.filter((l) => l.msg === 'client closed the request')[0].level).toBe('debug')
		// Nothing was appended: the next event is the stream's first.
		expect((await publish(server, 'agents/a', { event: 'progress' })).body).toEqual({ ids: [1] })
	})

	it('logs nothing at the default level for a client gone mid-body', async () => {
		await using server = await startServer()
		await abandon(server.port, 'Content-Length: 1000', '{"event":')
		await eventually(async () => (await responses(server, 499)) === 1)
		expect(server.output()).not.toContain('client closed the request')
		expect(server.output()).not.toContain('"level":"error"')
	})

	it('answers data nested too deep with a 400 that names the field, at any depth', async () => {
		await using server = await startServer()
		for (const depth of [65, 1_000, 40_000, 500_000]) {
			const body = `{"event":"complete","data":{"result":${'['.repeat(depth)}${']'.repeat(depth)}}}`
			const res = await publish(server, 'agents/deep', body)
			expect([depth, res.status, res.body.error.code]).toEqual([depth, 400, 'invalid_event'])
			// The first container past the limit: data is depth 1, its result 2, and so on.
			expect(res.body.error.field).toBe(`/data/result${'/0'.repeat(63)}`)
		}
		// 64 levels are taken, and come back as they were sent.
		const deepest = `${'['.repeat(63)}${']'.repeat(63)}`
		const ok = await publish(
			server,
			'agents/deep',
			`{"event":"complete","data":{"result":${deepest}}}`,
		)
		expect(ok.status).toBe(201)
		const page = await (
			await fetch(`${server.url}/api/agents/deep/events`, { headers: auth() })
		).json()
		expect(JSON.stringify(page.events[0].data.result)).toBe(deepest)
		expect(await responses(server, 500)).toBe(0)
	})

	it('answers a body over any limit, its own or the runtime’s, with a JSON 413', async () => {
		await using server = await startServer({ args: ['--max-body', '2048'] })
		// Past --max-body, past the runtime's own cap, and past any size at all.
		for (const length of [4_096, 10 * 1024 * 1024, 1024 ** 4]) {
			const text = await new Promise<string>((resolve) => {
				let got = ''
				const socket = connect(server.port, '127.0.0.1', () =>
					socket.write(
						`POST /api/agents/a/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n{"event":`,
					),
				)
				socket.on('data', (chunk) => {
					got += chunk
				})
				socket.on('close', () => resolve(got))
				socket.on('error', () => resolve(got))
			})
			expect([length, text.slice(9, 12)]).toEqual([length, '413'])
			expect(text).toContain('"code":"payload_too_large"')
		}
		// A chunked body is counted as it arrives, and refused once past the limit.
		const chunked = await fetch(`${server.url}/api/agents/a/events`, {
			method: 'POST',
			headers: auth(),
			body: new ReadableStream({
				pull(controller) {
					controller.enqueue(new TextEncoder().encode('x'.repeat(1024)))
				},
			}),
			duplex: 'half',
		} as RequestInit)
		expect(chunked.status).toBe(413)
		expect((await chunked.json()).error.code).toBe('payload_too_large')
		expect((await publish(server, 'agents/a', { event: 'progress' })).body).toEqual({ ids: [1] })
	})
})
