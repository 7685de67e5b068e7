// What the dashboard's browser tests share: one Chromium per test file, a logged-in page, and
// questions about what is on screen.

import { afterAll, beforeAll } from 'bun:test'
import { join } from 'node:path'
import type { Browser, BrowserContextOptions, Locator, Page } from 'playwright-core'
import { launchChromium, ROOT, type TestServer } from '../helpers.ts'

/** Chromium for the calling test file: launched before its tests, closed after. */
export function browserForFile(): () => Browser {
	let browser: Browser | undefined
	beforeAll(async () => {
		browser = await launchChromium()
	})
	afterAll(() => browser?.close())
	return () => {
		if (!browser) throw new Error('Chromium starts in beforeAll')
		return browser
	}
}

/**
 * A page at `path` (`/`, `/#/workflows/wf-1`, `/?stale=1`) that has logged in with `token` through
 * the login form, from the keyboard. `errors` has what its script threw.
 */
export async function loggedIn(
	browser: Browser,
	server: TestServer,
	options: { token?: string; path?: string; context?: BrowserContextOptions } = {},
) {
	const context = await browser.newContext({
		viewport: { width: 1000, height: 720 },
		colorScheme: 'light',
		...options.context,
	})
	const page = await context.newPage()
	const errors: string[] = []
	const requests: string[] = []
	page.on('pageerror', (e) => errors.push(e.message))
	page.on('request', (r) => requests.push(r.url()))
	page.on('websocket', (ws) => requests.push(ws.url()))
	await page.goto(`${server.url}${options.path ?? '/'}`)
	await page.getByLabel('Token with the read scope').fill(options.token ?? server.token)
	await page.keyboard.press('Enter')
	await page.locator('#login').waitFor({ state: 'hidden' })
	return {
		context,
		page,
		errors,
		/** Every URL the page asked for, WebSockets included. */
		requests,
		async [Symbol.asyncDispose]() {
			await context.close()
		},
	}
}

/** Whether `locator`'s element is wholly inside the visible part of `box` (a scrolling box). */
export async function shownIn(locator: Locator, box: Locator): Promise<boolean> {
	const [a, b] = await Promise.all([locator.boundingBox(), box.boundingBox()])
	if (!a || !b) return false
	return a.y >= b.y - 1 && a.y + a.height <= b.y + b.height + 1
}

/** Polls `read` until it returns `want` (compared as JSON), or gives what it last read. */
export async function until<T>(read: () => Promise<T>, want: T, ms = 5000): Promise<T> {
	const deadline = Date.now() + ms
	let got = await read()
	while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() < deadline) {
		await Bun.sleep(50)
		got = await read()
	}
	return got
}

/** The rows of the list as drawn: each run's name and status. */
export function rows(page: Page) {
	return page.locator('#rows a.row').evaluateAll((links) =>
		links.map((a) => ({
			name: a.querySelector('.name')?.textContent,
			status: a.querySelector('.status')?.textContent,
		})),
	)
}

/** With `CORTEX_SCREENSHOT=1`, the picture of `page` as docs/<name>.png. */
export async function screenshot(page: Page, name: string) {
	if (process.env.CORTEX_SCREENSHOT !== '1') return
	await page.screenshot({ path: join(ROOT, 'docs', `${name}.png`), fullPage: true })
}
