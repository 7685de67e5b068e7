import { describe, expect, it } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, startServer } from '../helpers.ts'

/** Routes of the contract that later work adds; each leaves this list when it lands. */
const NOT_YET: string[] = []

const contractRoutes = () => {
	const text = readFileSync(join(ROOT, '../shared/API.md'), 'utf8')
	const found = new Set<string>()
	for (const m of text.matchAll(/`(GET|POST) (\/[^`\s?]*)/g)) found.add(`${m[1]} ${m[2]}`)
	return [...found]
}

describe('/openapi.json', () => {
	it('describes every route of the contract, without auth', async () => {
		await using server = await startServer()
		const res = await fetch(`${server.url}/openapi.json`)
		expect(res.status).toBe(200)
		const doc = await res.json()
		expect(doc.openapi).toBe('3.1.0')
		const routes = contractRoutes()
		expect(routes.length).toBeGreaterThan(10)
		for (const route of routes) {
			if (NOT_YET.includes(route)) continue
			const [method, path] = route.split(' ')
			const openapiPath = path.replace(/:(\w+)/g, '{$1}')
			expect([route, doc.paths[openapiPath]?.[method.toLowerCase()] !== undefined]).toEqual([
				route,
				true,
			])
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
