import { describe, expect, it } from 'bun:test'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import {
	EVENT_TYPE_PATTERN,
	isStepType,
	MAX_BATCH,
	RESERVED_TYPES,
	STANDARD_EVENTS,
} from '../../src/events.ts'
import { auth, MAIN, ROOT, runProcess, startServer } from '../helpers.ts'

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
	it('types each publish body from the schemas the server validates with', async () => {
		await using server = await startServer()
		const doc = await (await fetch(`${server.url}/openapi.json`)).json()
		const { schemas } = doc.components
		const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
		const types = Object.keys(STANDARD_EVENTS) as (keyof typeof STANDARD_EVENTS)[]
		for (const [path, Event] of [
			['/api/agents/{name}/events', 'AgentEvent'],
			['/api/workflows/{id}/events', 'WorkflowEvent'],
		]) {
			const { schema } = doc.paths[path].post.requestBody.content['application/json']
			expect(schema.oneOf).toEqual([
				ref(Event),
				{ type: 'array', minItems: 1, maxItems: MAX_BATCH, items: ref(Event) },
			])
		}
		// Step types only on workflow runs; any other name a custom event.
		const agentTypes = types.filter((type) => !isStepType(type))
		expect(schemas.AgentEvent.oneOf).toEqual(
			[...agentTypes, 'custom'].map((type) => ref(`${type}Event`)),
		)
		expect(schemas.WorkflowEvent.oneOf).toEqual(
			[...types, 'custom'].map((type) => ref(`${type}Event`)),
		)
		for (const type of types) {
			// The very schema the validator compiles, and `data` required when it requires a field
			// (an absent `data` is validated as {}).
			expect(schemas[`${type}Data`]).toEqual(JSON.parse(JSON.stringify(STANDARD_EVENTS[type])))
			const required = (STANDARD_EVENTS[type].required?.length ?? 0) > 0
			expect(schemas[`${type}Event`]).toMatchObject({
				type: 'object',
				additionalProperties: false,
				properties: { event: { const: type }, data: ref(`${type}Data`) },
				required: required ? ['event', 'data'] : ['event'],
			})
		}
		expect(schemas.customEvent.additionalProperties).toBe(false)
		expect(schemas.customEvent.properties.event).toEqual({
			type: 'string',
			pattern: EVENT_TYPE_PATTERN.source,
			not: { enum: [...types, ...RESERVED_TYPES.keys()] },
		})
		expect(schemas.progressData.properties.progress).toMatchObject({ minimum: 0, maximum: 1 })
		expect(schemas.failedData.required).toEqual(['message'])
	})

	it('names every operation, and asks a credential of all but the public routes', async () => {
		await using server = await startServer()
		const doc = await (await fetch(`${server.url}/openapi.json`)).json()
		expect(doc.servers.length).toBeGreaterThan(0)
		const ids: string[] = []
		const open: string[] = []
		for (const [path, item] of Object.entries<Record<string, Operation>>(doc.paths))
			for (const [method, operation] of Object.entries(item)) {
				ids.push(operation.operationId)
				expect([path, method, Array.isArray(operation.security)]).toEqual([path, method, true])
				if (operation.security.length === 0) open.push(path)
			}
		expect(ids.filter((id) => !/^[a-z][A-Za-z0-9]*$/.test(id))).toEqual([])
		expect(new Set(ids).size).toBe(ids.length)
		expect(ids).toEqual(expect.arrayContaining(['publishAgentEvents', 'streamAgent']))
		expect(open.sort()).toEqual(['/healthz', '/metrics', '/openapi.json'])
	})

	it('documents every status the server answers its routes with', async () => {
		await using server = await startServer({ args: ['--max-body', '1024'] })
		const doc = await (await fetch(`${server.url}/openapi.json`)).json()
		const seen: string[] = []
		const undocumented: string[] = []
		/** Sends a request to `path` (`template` filled in) and notes its status, and whether documented. */
		async function probe(
			method: string,
			template: string,
			path = template,
			init: { headers?: Record<string, string>; body?: string } = {},
		) {
			const res = await fetch(`${server.url}${path}`, {
				method,
				headers: init.headers ?? auth(server.token),
				body: init.body,
			})
			await res.body?.cancel()
			const route = `${method} ${template} ${res.status}`
			seen.push(route)
			if (!(String(res.status) in doc.paths[template][method.toLowerCase()].responses))
				undocumented.push(route)
		}
		const event = (type: string, data = {}) => JSON.stringify({ event: type, data })
		const withBody = (body: string, more: Record<string, string> = {}) => ({
			headers: { ...auth(server.token), 'content-type': 'application/json', ...more },
			body,
		})
		const named = (template: string, name: string) => template.replace(/\{\w+\}/, name)

		for (const [template, item] of Object.entries<Record<string, Operation>>(doc.paths))
			for (const [method, operation] of Object.entries(item)) {
				if (template === '/api/ws') continue // an upgrade: see 'documents only routes the server answers'
				const verb = method.toUpperCase()
				// No credential, and a name that is not one.
				if (operation.security.length > 0)
					await probe(verb, template, named(template, 'x'), { headers: {} })
				if (template.includes('{')) await probe(verb, template, named(template, 'a%20b'))
			}
		const agent = '/api/agents/{name}/events'
		const run = '/api/workflows/{id}/events'
		await probe('GET', '/api/agents/{name}', '/api/agents/a1')
		await probe('GET', agent, '/api/agents/a1/events')
		await probe('POST', agent, '/api/agents/a1/events', withBody('{"event": "Progress"}'))
		await probe('POST', agent, '/api/agents/a1/events', withBody('not json'))
		await probe(
			'POST',
			agent,
			'/api/agents/a1/events',
			withBody(event('x', { pad: 'x'.repeat(2000) })),
		)
		await probe(
			'POST',
			agent,
			'/api/agents/a1/events',
			withBody(event('progress'), { 'idempotency-key': 'k' }),
		)
		await probe(
			'POST',
			agent,
			'/api/agents/a1/events',
			withBody(event('complete'), { 'idempotency-key': 'k' }),
		)
		await probe('POST', run, '/api/workflows/w1/events', withBody(event('complete')))
		await probe('POST', run, '/api/workflows/w1/events', withBody(event('progress')))
		for (const path of [
			'/api/agents',
			'/api/workflows',
			'/api/agents/{name}',
			'/api/workflows/{id}',
		])
			await probe('GET', path, named(path, path.includes('agents') ? 'a1' : 'w1'))
		await probe('GET', '/api/agents', '/api/agents?limit=0')
		await probe('GET', agent, '/api/agents/a1/events?after=x')
		await probe('GET', '/api/streaming/agents/{name}/stream', '/api/streaming/agents/a1/stream')
		await probe(
			'GET',
			'/api/streaming/workflows/{id}/stream',
			'/api/streaming/workflows/w1/stream',
			{ headers: { ...auth(server.token), 'last-event-id': '1' } },
		)
		await probe('GET', '/api/streaming/events', '/api/streaming/events?match=')
		await probe('GET', '/api/streaming/events')
		await probe('GET', '/api/whoami')
		await probe('POST', '/api/tickets', '/api/tickets', withBody('{"streams": []}'))
		const res = await fetch(`${server.url}/api/tickets`, {
			method: 'POST',
			...withBody('{"streams": ["agents/*"]}'),
		})
		expect(res.status).toBe(201)
		const { ticket } = await res.json()
		const byTicket = (body = '') => ({ headers: auth(ticket), body })
		await probe('POST', agent, '/api/agents/a1/events', byTicket(event('progress')))
		await probe('POST', '/api/tickets', '/api/tickets', byTicket('{"streams": ["agents/*"]}'))
		await probe('POST', '/api/admin/prune', '/api/admin/prune', byTicket())
		await probe('POST', '/api/admin/prune')
		await probe('POST', '/api/admin/backup')
		for (const path of ['/healthz', '/metrics', '/openapi.json']) await probe('GET', path)
		expect(undocumented).toEqual([])
		// The probes met the answers they were written for.
		expect(seen).toEqual(
			expect.arrayContaining([
				'GET /api/agents 400',
				'GET /api/agents/{name} 404',
				'POST /api/agents/{name}/events 403',
				'POST /api/agents/{name}/events 413',
				'POST /api/agents/{name}/events 422',
				'POST /api/workflows/{id}/events 409',
				'GET /api/streaming/workflows/{id}/stream 204',
				'POST /api/admin/prune 403',
			]),
		)
	})
})

interface Operation {
	operationId: string
	security: unknown[]
	responses: Record<string, unknown>
}
