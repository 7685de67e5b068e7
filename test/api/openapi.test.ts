import { describe, expect, it } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, startServer } from '../helpers.ts'

/** The project's own list of the routes it mounts, `METHOD /path` per line. */
const mountedRoutes = () =>
	readFileSync(join(ROOT, 'docs/routes.txt'), 'utf8')
		.split('\n')
		.filter((line) => /^(GET|POST) \//.test(line))
		.map((line) => line.trim())

describe('/openapi.json', () => {
	it('describes every route the server mounts, without auth', async () => {
		await using server = await startServer()
		const res = await fetch(`${server.url}/openapi.json`)
		expect(res.status).toBe(200)
		const doc = await res.json()
		expect(doc.openapi).toBe('3.1.0')
		const routes = mountedRoutes()
		expect(routes.length).toBeGreaterThan(10)
		for (const route of routes) {
			const [method, path] = route.split(' ')
			if (path === '/') continue
			const openapiPath = path.replace(/:(\w+)/g, '{$1}')
			expect([route, doc.paths[openapiPath]?.[method.toLowerCase()] !== undefined]).toEqual([
				route,
				true,
			])
		}
	})

	it('lists only routes the server answers', async () => {
		await using server = await startServer()
		for (const route of mountedRoutes()) {
			const [method, path] = route.split(' ')
			// A WebSocket route answers upgrades only; test/api/feed.test.ts opens it.
			if (path === '/api/ws') continue
			const res = await fetch(`${server.url}${path.replace(/:\w+/g, 'x')}`, { method })
			const body = await res.text()
			expect([route, body.includes('no route for')]).toEqual([route, false])
		}
	})

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
