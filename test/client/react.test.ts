import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { CortexRequestError, subscribe } from '../../client/src/index.ts'
import {
	eventually,
	launchChromium,
	metric,
	publish,
	ROOT,
	startServer,
	type TestServer,
} from '../helpers.ts'
import { linkDevPackages, packedClient } from './packed.ts'
import type { PageRun } from './react-page.ts'

/** Debian's Chromium, as test/page.test.ts launches it. */
const CHROMIUM = '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)

let browser: Browser
/**
 * test/client/react-page.ts bundled with React's development build (so Strict Mode double-mounts)
 * in a project that installed the packed @cortex-stream/client, as a React app would.
 */
let bundle: string

beforeAll(async () => {
	if (!hasChromium) return
	const { project } = await packedClient()
	linkDevPackages(project, ['react', 'react-dom'])
	const entry = join(project, 'react-page.ts')
	await Bun.write(entry, Bun.file(join(ROOT, 'test/client/react-page.ts')))
	const build = await Bun.build({
		entrypoints: [entry],
		target: 'browser',
		define: { 'process.env.NODE_ENV': '"development"' },
	})
	if (!build.success) throw new AggregateError(build.logs, 'the page did not build')
	bundle = await build.outputs[0].text()
	browser = await launchChromium()
}, 120_000)
afterAll(() => browser?.close())

/**
 * Opens the page on the server's own origin (served by the browser from the bundle, so no CORS
 * is needed, as test/page.test.ts does with the client's bundle), drawing `runs`.
 */
async function openPage(server: TestServer, runs: PageRun[]) {
	const context = await browser.newContext()
	const page = await context.newPage()
	const base = `${server.url}/react-test/`
	await page.route(base, (route) =>
		route.fulfill({
			contentType: 'text/html; charset=utf-8',
			body: '<!doctype html><div id="root"></div><script type="module" src="page.js"></script>',
		}),
	)
	await page.route(`${base}page.js`, (route) =>
		route.fulfill({ contentType: 'text/javascript', body: bundle }),
	)
	await page.goto(base)
	await page.waitForFunction(() => typeof window.showRuns === 'function')
	await show(page, runs)
	return { page, context, [Symbol.asyncDispose]: () => context.close() }
}

const show = (page: Page, runs: PageRun[]) => page.evaluate((r) => window.showRuns(r), runs)

/** The text the page draws in field `field` of `stream`, once it equals `want`. */
async function drawn(page: Page, stream: string, field: string, want: string, ms = 10_000) {
	const locator = page.locator(`section[data-stream="${stream}"] .${field}`)
	let text: string | null = null
	const deadline = Date.now() + ms
	while (Date.now() < deadline) {
		text = await locator.textContent({ timeout: ms }).catch(() => null)
		if (text === want) return
		await Bun.sleep(25)
	}
	throw new Error(
		`${stream} .${field}: wanted ${JSON.stringify(want)}, saw ${JSON.stringify(text)}`,
	)
}

const field = (page: Page, stream: string, name: string) =>
	page.locator(`section[data-stream="${stream}"] .${name}`).textContent()

const openStreams = (server: TestServer) => metric(server, 'cortex_open_streams')

/** The stream requests the page's client made, by path. */
const streamRequests = (page: Page) =>
	page.evaluate(() => window.requests.filter((r) => r.includes('/api/streaming/')))

describe.skipIf(!hasChromium)('useRun in React 19 Strict Mode, in Chromium', () => {
	it('paints the snapshot, then follows live with one connection per hook, and follows an agent into its next execution', async () => {
		await using server = await startServer()
		await publish(server, 'agents/writer', {
			event: 'progress',
			data: { message: 'Reading codebase...', progress: 0.2 },
		})
		await publish(server, 'workflows/wf-1', [
			{ event: 'step_start', data: { stepId: 'review', name: 'Code Review' } },
			{ event: 'step_progress', data: { stepId: 'review', progress: 0.75, message: '3 issues' } },
		])
		await using p = await openPage(server, [
			{ stream: 'agents/writer', token: server.token, pollAfterEndMs: 200 },
			{ stream: 'workflows/wf-1', token: server.token },
		])
		const { page } = p

		// The snapshots, before any event arrives live.
		await drawn(page, 'agents/writer', 'status', 'running')
		expect(await field(page, 'agents/writer', 'progress')).toBe('0.2')
		expect(await field(page, 'agents/writer', 'message')).toBe('Reading codebase...')
		expect(await field(page, 'agents/writer', 'last')).toBe('1')
		await drawn(page, 'workflows/wf-1', 'steps', 'review running 0.75 3 issues')
		expect(await field(page, 'workflows/wf-1', 'status')).toBe('running')
		expect(await field(page, 'workflows/wf-1', 'count')).toBe('0')

		// Strict Mode mounted the effects twice, and yet one stream per hook is open.
		expect(await page.evaluate(() => window.mounts)).toBe(2)
		await eventually(async () => (await openStreams(server)) === 2, 5_000, 'two streams open')
		expect(await metric(server, 'cortex_subscriptions_opened_total')).toBe(2)
		expect((await streamRequests(page)).sort()).toEqual([
			'GET /api/streaming/agents/writer/stream',
			'GET /api/streaming/workflows/wf-1/stream',
		])

		// Live.
		await publish(server, 'agents/writer', {
			event: 'progress',
			data: { message: 'Writing code...', progress: 0.6 },
		})
		await drawn(page, 'agents/writer', 'message', 'Writing code...')
		expect(await field(page, 'agents/writer', 'progress')).toBe('0.6')
		expect(await field(page, 'agents/writer', 'ids')).toBe('2')
		await publish(server, 'workflows/wf-1', [
			{ event: 'step_complete', data: { stepId: 'review', duration: 4200 } },
			{ event: 'step_start', data: { stepId: 'fix', name: 'Fix Issues' } },
			{ event: 'complete', data: { result: 'ok' } },
		])
		await drawn(page, 'workflows/wf-1', 'status', 'complete')
		expect(await field(page, 'workflows/wf-1', 'steps')).toBe(
			'review complete 1 3 issuesfix running  ',
		)
		expect(await field(page, 'workflows/wf-1', 'ids')).toBe('3 4 5')
		// The run is over: its hook closed its stream.
		await eventually(async () => (await openStreams(server)) === 1, 5_000, 'the run closed')

		// An agent's execution ends; the next one resets progress and message, as the fold does.
		await publish(server, 'agents/writer', { event: 'complete', data: { result: 'done' } })
		await drawn(page, 'agents/writer', 'status', 'complete')
		expect(await field(page, 'agents/writer', 'progress')).toBe('1')
		await publish(server, 'agents/writer', { event: 'progress', data: { progress: 0.1 } })
		await drawn(page, 'agents/writer', 'status', 'running')
		expect(await field(page, 'agents/writer', 'progress')).toBe('0.1')
		expect(await field(page, 'agents/writer', 'message')).toBe('')
		expect(await field(page, 'agents/writer', 'ids')).toBe('2 3 4')
		// What the page shows is what the server's snapshot says.
		const snapshot = await (
			await fetch(`${server.url}/api/agents/writer`, {
				headers: { authorization: `Bearer ${server.token}` },
			})
		).json()
		expect(snapshot).toMatchObject({ status: 'running', progress: 0.1, message: null })
	}, 30_000)

	it('resumes across kill -9 and a restart on the same port without repeating or missing an event', async () => {
		await using first = await startServer()
		await publish(first, 'workflows/wf-r', { event: 'step_start', data: { stepId: 's1' } })
		await using p = await openPage(first, [{ stream: 'workflows/wf-r', token: first.token }])
		const { page } = p
		await drawn(page, 'workflows/wf-r', 'last', '1')
		for (let i = 1; i <= 3; i++)
			await publish(first, 'workflows/wf-r', {
				event: 'step_progress',
				data: { stepId: 's1', progress: i / 10 },
			})
		await drawn(page, 'workflows/wf-r', 'ids', '2 3 4')

		await first.kill('SIGKILL')
		await using second = await first.restart()
		await publish(second, 'workflows/wf-r', [
			{ event: 'step_complete', data: { stepId: 's1' } },
			{ event: 'step_start', data: { stepId: 's2', name: 'after the restart' } },
		])
		await publish(second, 'workflows/wf-r', {
			event: 'step_progress',
			data: { stepId: 's2', progress: 0.5 },
		})
		await drawn(page, 'workflows/wf-r', 'last', '7', 15_000)
		const ids = ((await field(page, 'workflows/wf-r', 'ids')) ?? '').split(' ').map(Number)
		expect(ids).toEqual([2, 3, 4, 5, 6, 7])
		expect(await field(page, 'workflows/wf-r', 'steps')).toBe('s1 complete 1 s2 running 0.5 ')
		expect(await field(page, 'workflows/wf-r', 'error')).toBe('')
	}, 30_000)

	it('takes a ticket from a function for each connection, and shows a 401 once a fresh one fails too', async () => {
		await using server = await startServer()
		await publish(server, 'workflows/wf-t', { event: 'step_start', data: { stepId: 'a' } })
		let minted = 0
		let bad = 0
		await using p = await openPage(server, [])
		const { page } = p
		// The page's "backend": a read ticket for just this run, minted with the token the page
		// never sees.
		await page.exposeFunction('mintTicket', async () => {
			minted++
			const res = await fetch(`${server.url}/api/tickets`, {
				method: 'POST',
				headers: {
					authorization: `Bearer ${server.token}`,
					'content-type': 'application/json',
				},
				body: JSON.stringify({ streams: ['workflows/wf-t'], ttlSeconds: 60 }),
			})
			return ((await res.json()) as { ticket: string }).ticket
		})
		await page.exposeFunction('badTicket', () => {
			bad++
			return 'ct1.not-a-ticket'
		})
		const urls: string[] = []
		page.on('request', (r) => urls.push(r.url()))
		await show(page, [
			{ stream: 'workflows/wf-t', tokenFrom: 'mintTicket' },
			{ stream: 'workflows/wf-x', tokenFrom: 'badTicket' },
		])
		await drawn(page, 'workflows/wf-t', 'steps', 'a running  ')
		await publish(server, 'workflows/wf-t', {
			event: 'step_progress',
			data: { stepId: 'a', progress: 0.3 },
		})
		await drawn(page, 'workflows/wf-t', 'steps', 'a running 0.3 ')
		// One ticket for the snapshot, one for the stream.
		expect(minted).toBe(2)
		expect(urls.some((u) => u.includes(server.token) || u.includes('ct1.'))).toBe(false)

		await drawn(page, 'workflows/wf-x', 'error', '401 unauthorized', 10_000)
		expect(await field(page, 'workflows/wf-x', 'status')).toBe('loading')
		// Asked once, and once more after the first 401, then it gave up.
		expect(bad).toBe(2)
	}, 30_000)

	it('closes its connection when the stream changes and when it unmounts', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a', { event: 'progress', data: { message: 'I am a' } })
		await publish(server, 'agents/b', { event: 'progress', data: { message: 'I am b' } })
		await using p = await openPage(server, [{ stream: 'agents/a', token: server.token }])
		const { page } = p
		await drawn(page, 'agents/a', 'message', 'I am a')
		await eventually(async () => (await openStreams(server)) === 1, 5_000, 'a open')

		await show(page, [{ stream: 'agents/b', token: server.token }])
		await drawn(page, 'agents/b', 'message', 'I am b')
		await eventually(
			async () =>
				(await metric(server, 'cortex_subscriptions_closed_total')) === 1 &&
				(await openStreams(server)) === 1,
			5_000,
			'b open, a closed',
		)
		expect(await streamRequests(page)).toEqual([
			'GET /api/streaming/agents/a/stream',
			'GET /api/streaming/agents/b/stream',
		])

		await show(page, [])
		await eventually(async () => (await openStreams(server)) === 0, 5_000, 'all closed')
		expect(await page.locator('section').count()).toBe(0)
	}, 30_000)
})

describe('subscribe() with a token function', () => {
	it('asks it for each connection: again after a 401, and for a fresh ticket when one expires', async () => {
		await using server = await startServer()
		const tickets: string[] = []
		const token = async () => {
			// The first answer is refused; every later one is a ticket that lives 1 s.
			if (tickets.push('') === 1) return 'ct1.refused'
			const res = await fetch(`${server.url}/api/tickets`, {
				method: 'POST',
				headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
				body: JSON.stringify({ streams: ['agents/t'], ttlSeconds: 1 }),
			})
			return ((await res.json()) as { ticket: string }).ticket
		}
		const seen: number[] = []
		const done = (async () => {
			for await (const e of subscribe('agents/t', { url: server.url, token, maxRetryMs: 200 }))
				if (e.id !== undefined) seen.push(e.id)
		})()
		await publish(server, 'agents/t', { event: 'progress', data: { progress: 0.1 } })
		await eventually(() => seen.length === 1, 5_000, 'the first event')
		expect(tickets.length).toBe(2)
		// The ticket expires, the server ends the stream, the client comes back with a new one.
		await eventually(() => tickets.length >= 3, 5_000, 'a fresh ticket')
		await publish(server, 'agents/t', { event: 'complete' })
		await done
		expect(seen).toEqual([1, 2])
	}, 15_000)

	it('throws the second 401 in a row', async () => {
		await using server = await startServer()
		let calls = 0
		const stream = subscribe('agents/t', { url: server.url, token: () => `wrong-${++calls}` })
		const error = await stream.next().catch((e) => e)
		expect(error).toBeInstanceOf(CortexRequestError)
		expect(error).toMatchObject({ status: 401 })
		expect(calls).toBe(2)
	})
})
