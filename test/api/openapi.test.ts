import { describe, expect, it } from 'bun:test'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { MAIN, ROOT, runProcess, startServer } from '../helpers.ts'

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])

const apiDoc = () => readFileSync(join(ROOT, 'docs/api.md'), 'utf8')

/**
 * The routes docs/api.md documents: one heading `### METHOD /path` each (`:name` for a path
 * parameter). Split on spaces, no pattern: any other heading is prose.
 */
function documentedRoutes(): string[] {
	const routes: string[] = []
	for (const line of apiDoc().split('\n')) {
		const words = line.trimEnd().split(' ')
		if (words.length === 3 && words[0] === '###' && METHODS.has(words[1]) && words[2][0] === '/')
			routes.push(`${words[1]} ${words[2]}`)
	}
	return routes
}

/** Every `METHOD /path` of an OpenAPI document, its `{param}` written `:param`. */
function openApiRoutes(doc: { paths: Record<string, Record<string, unknown>> }): string[] {
	const routes: string[] = []
	for (const [path, item] of Object.entries(doc.paths))
		for (const method of Object.keys(item))
			routes.push(`${method.toUpperCase()} ${path.replaceAll('{', ':').replaceAll('}', '')}`)
	return routes
}

/**
 * The dashboard page is HTML for people, not part of the API that /openapi.json describes;
 * docs/api.md documents it all the same.
 */
const ONLY_IN_THE_DOCS = new Set(['GET /'])

/** The status line a WebSocket upgrade of `path` gets, sent by hand to see the HTTP answer. */
function upgradeStatus(port: number, path: string): Promise<string> {
	return new Promise((resolve, reject) => {
		let got = ''
		const socket = connect(port, '127.0.0.1', () =>
			socket.write(
				`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
					'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
			),
		)
		socket.on('data', (chunk) => {
			got += chunk
			if (got.includes('\r\n\r\n')) {
				socket.destroy()
				resolve(got.slice(0, got.indexOf('\r\n')))
			}
		})
		socket.on('error', reject)
	})
}

describe('docs/api.md', () => {
	it('documents exactly the routes /openapi.json describes, and /openapi.json needs no auth', async () => {
		await using server = await startServer()
		const res = await fetch(`${server.url}/openapi.json`)
		expect(res.status).toBe(200)
		const doc = await res.json()
		expect(doc.openapi).toBe('3.1.0')
		const documented = documentedRoutes()
		expect(documented.length).toBeGreaterThan(10)
		expect(new Set(documented).size).toBe(documented.length)
		const described = openApiRoutes(doc)
		// Both ways, each missing route named.
		expect(documented.filter((r) => !described.includes(r) && !ONLY_IN_THE_DOCS.has(r))).toEqual([])
		expect(described.filter((r) => !documented.includes(r))).toEqual([])
	})

	it('documents only routes the server answers', async () => {
		await using server = await startServer()
		for (const route of documentedRoutes()) {
			const [method, path] = route.split(' ')
			const url = path.replace(/:\w+/g, 'x')
			if (path === '/api/ws') {
				// A WebSocket route answers upgrades only (a plain GET is "no route"). Without a
				// token the upgrade is refused by the route, with a 401; with one, it opens.
				expect([route, await upgradeStatus(server.port, url)]).toEqual([
					route,
					'HTTP/1.1 401 Unauthorized',
				])
				const ws = new WebSocket(
					`${server.url.replace('http', 'ws')}${url}?access_token=${server.token}`,
				)
				const opened = await new Promise<boolean>((resolve) => {
					ws.onopen = () => resolve(true)
					ws.onerror = () => resolve(false)
				})
				ws.close()
				expect([route, opened]).toEqual([route, true])
				continue
			}
			const res = await fetch(`${server.url}${url}`, { method })
			const body = await res.text()
			expect([route, body.includes('no route for')]).toEqual([route, false])
		}
	})

	it('names every metric /metrics exposes and every setting of serve', async () => {
		await using server = await startServer()
		const text = apiDoc()
		const metrics = await (await fetch(`${server.url}/metrics`)).text()
		const names = new Set(
			metrics
				.split('\n')
				.filter((line) => line.startsWith('# TYPE '))
				.map((line) => line.split(' ')[2]),
		)
		expect(names.size).toBeGreaterThan(10)
		// In backquotes, whole, or with its labels: `cortex_http_responses_total{code="..."}`.
		const named = (name: string) => text.includes(`\`${name}\``) || text.includes(`\`${name}{`)
		expect([...names].filter((name) => !named(name))).toEqual([])
		const help = await runProcess([process.execPath, MAIN, 'serve', '--help'])
		const flags = help.stdout
			.split('\n')
			.map((line) => line.trim().split(' ')[0])
			.filter((word) => word.startsWith('--'))
		expect(flags.length).toBeGreaterThan(10)
		expect(flags.filter((flag) => !text.includes(`| \`${flag}\``))).toEqual([])
	})
})

describe('/openapi.json', () => {
	it('carries the schemas the server validates with', async () => {
		await using server = await startServer()
		const doc = await (await fetch(`${server.url}/openapi.json`)).json()
		const post = doc.paths['/api/agents/{name}/events'].post
		const body = post.requestBody.content['application/json'].schema
		expect(JSON.stringify(body)).toContain('^[a-z][a-z0-9_]{0,63}$')
		expect(doc.components.schemas.progressData.properties.progress).toMatchObject({
			minimum: 0,
			maximum: 1,
		})
		expect(doc.components.schemas.failedData.required).toEqual(['message'])
		expect(Object.keys(post.responses)).toEqual(
			expect.arrayContaining(['201', '400', '409', '413', '422']),
		)
	})
})
