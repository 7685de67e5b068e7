import { describe, expect, it } from 'bun:test'
import { HttpConn, postRequest } from '../../bench/http.ts'
import { startServer, type TestServer } from '../helpers.ts'
import { browserForFile, loggedIn, rows, until } from './browser.ts'

const browser = browserForFile()

const STREAMS = 100_000
const CLIENTS = 32

/**
 * One event on each of `count` agents, `load-000000` first, over CLIENTS keep-alive connections
 * (the benchmarks' bare HTTP client: `fetch` would cost this process more than the server).
 */
async function seed(server: TestServer, count: number) {
	const endpoint = { host: '127.0.0.1', port: server.port, token: server.token }
	let next = 0
	await Promise.all(
		Array.from({ length: CLIENTS }, async () => {
			const conn = await HttpConn.open(endpoint)
			for (let i = next++; i < count; i = next++) {
				const name = `load-${String(i).padStart(6, '0')}`
				const body = JSON.stringify({
					event: 'progress',
					data: { message: `run ${i}`, progress: 0.5 },
				})
				const res = await conn.request(postRequest(endpoint, `/api/agents/${name}/events`, body))
				if (res.status !== 201) throw new Error(`seeding ${name}: ${res.status} ${res.body}`)
			}
			conn.close()
		}),
	)
}

describe('the dashboard at scale', () => {
	it(`paints the first page of ${STREAMS.toLocaleString('en')} streams in under a second, and pages and filters them on the server`, async () => {
		await using server = await startServer()
		const seeding = performance.now()
		await seed(server, STREAMS)
		const seeded = performance.now() - seeding
		await using session = await loggedIn(browser(), server)
		const { page } = session
		await page.locator('a.row').first().waitFor()

		// The ticket is in the tab's session: a reload paints without the token prompt. First
		// paint: from the start of the navigation to the first row on screen.
		await page.reload()
		await page.locator('a.row').first().waitFor()
		const firstPaint = await page.evaluate(
			() => performance.getEntriesByName('cortex-first-row')[0]?.startTime ?? -1,
		)
		console.log(
			`${STREAMS.toLocaleString('en')} streams seeded in ${(seeded / 1000).toFixed(1)} s; first row painted ${firstPaint.toFixed(0)} ms after navigation`,
		)
		expect(firstPaint).toBeGreaterThan(0)
		expect(firstPaint).toBeLessThan(1000)
		// One page of 50, from the last seeded (32 at once: the very last one is any of those).
		const names = async () => (await rows(page)).map((r) => r.name ?? '')
		const first = await names()
		expect(first).toHaveLength(50)
		for (const name of first)
			expect(name > `load-${String(STREAMS - 200).padStart(6, '0')}`).toBe(true)

		// The next page comes from the server, and so does the way back.
		await page.getByRole('button', { name: 'Older →' }).click()
		await page.getByText('page 2').waitFor()
		const second = await names()
		expect(second).toHaveLength(50)
		expect(second.filter((name) => first.includes(name))).toEqual([])
		await page.getByRole('button', { name: '← Newer' }).click()
		expect(await until(names, first)).toEqual(first)

		// Filtering by name asks the server too.
		await page.locator('#filter').fill('load-01234')
		const want = Array.from({ length: 10 }, (_, i) => `load-01234${i}`)
		const sorted = async () => (await names()).sort()
		expect(await until(sorted, want)).toEqual(want)
		// The count of each status is the server's, over all the streams.
		await page.locator('#filter').fill('')
		const all = () => page.locator('#status-filter button[data-status=""]').textContent()
		expect(await until(all, 'all 100,000')).toBe('all 100,000')
		expect(session.errors).toEqual([])
	}, 90_000)
})
