import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { launchChromium, publish, ROOT, startServer, tempDir } from './helpers.ts'

const SCREENSHOT =
	process.env.CORTEX_SCREENSHOT === '1' ? join(ROOT, 'docs/dashboard.png') : undefined

let browser: Browser
beforeAll(async () => {
	browser = await launchChromium()
})
afterAll(() => browser?.close())

describe('the dashboard in a real browser', () => {
	it('shows live progress and steps, and catches up after a server restart with nothing repeated', async () => {
		await using first = await startServer()
		await publish(first, 'agents/writer', {
			event: 'progress',
			data: { message: 'Reading codebase...', progress: 0.2 },
		})
		await publish(first, 'workflows/wf-123', [
			{
				event: 'step_start',
				data: { stepId: 'step-1', name: 'Code Review', agent: 'reviewer-agent' },
			},
			{
				event: 'step_progress',
				data: { stepId: 'step-1', progress: 0.75, message: 'Found 3 issues' },
			},
		])
		const context = await browser.newContext({ viewport: { width: 1000, height: 700 } })
		const page = await context.newPage()
		const urls: string[] = []
		page.on('request', (r) => urls.push(r.url()))
		page.on('websocket', (ws) => urls.push(ws.url()))
		await page.goto(first.url)

		// The token goes in once, by keyboard, and is exchanged for a ticket.
		await page.getByLabel('Token with the read scope').fill(first.token)
		await page.keyboard.press('Enter')
		const writer = page.locator('li[data-stream="agents/writer"]')
		await writer.waitFor()
		expect(await page.locator('#login').isVisible()).toBe(false)
		await writer.getByText('Reading codebase...').waitFor()
		expect(await writer.locator('progress').getAttribute('value')).toBe('0.2')

		// Live: the bar moves, the message changes.
		await publish(first, 'agents/writer', {
			event: 'progress',
			data: { message: 'Writing code...', progress: 0.6 },
		})
		await writer.getByText('Writing code...').waitFor()
		expect(await writer.locator('progress').getAttribute('value')).toBe('0.6')

		// A workflow opens to its steps and its event log, from the keyboard.
		const run = page.locator('details[data-stream="workflows/wf-123"]')
		await run.locator('summary').focus()
		await page.keyboard.press('Enter')
		await run.locator('.log').getByText('2 step_progress').waitFor()
		await publish(first, 'workflows/wf-123', {
			event: 'step_complete',
			data: { stepId: 'step-1', duration: 8000 },
		})
		await run.locator('.steps .status.complete').waitFor()

		// The server dies and comes back on the same file; the page resumes from its cursor.
		await first.kill('SIGKILL')
		await page.getByText('reconnecting…').waitFor()
		await using second = await first.restart()
		await publish(second, 'workflows/wf-123', [
			{ event: 'step_start', data: { stepId: 'step-2', name: 'Fix Issues', agent: 'coder-agent' } },
			{
				event: 'step_progress',
				data: { stepId: 'step-2', progress: 0.4, message: 'Editing 2 files' },
			},
		])
		await publish(second, 'agents/writer', {
			event: 'progress',
			data: { message: 'Running tests...', progress: 0.9 },
		})
		await writer.getByText('Running tests...').waitFor({ timeout: 15_000 })
		await run.locator('.steps .name').getByText('Fix Issues').waitFor()
		await page.getByText('live').waitFor()
		const log = (await run.locator('.log').textContent()) ?? ''
		const ids = log.split('\n').map((line) => line.split(' ')[0])
		expect(ids).toEqual(['1', '2', '3', '4', '5'])

		// The long-lived token never appeared in a URL; the feed went through a ticket.
		expect(urls.some((u) => u.includes(first.token))).toBe(false)
		expect(urls.some((u) => u.includes('/api/ws?access_token=ct1.'))).toBe(true)

		if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true })
		await context.close()
	}, 60_000)

	it('shows each run live as the snapshot of the API shows it, whatever the events', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a', { event: 'progress', data: { message: 'start' } })
		const context = await browser.newContext()
		const page = await context.newPage()
		await page.goto(server.url)
		await page.getByLabel('Token with the read scope').fill(server.token)
		await page.keyboard.press('Enter')
		const row = page.locator('li[data-stream="agents/a"]')
		await row.getByText('start').waitFor()
		/** The row as the page draws it: status, bar and message. */
		const drawn = async () => ({
			status: await row.locator('.status').textContent(),
			progress: Number(await row.locator('progress').getAttribute('value')),
			message: await row.locator('.message').textContent(),
		})
		/** The same fields of the API's snapshot of `agents/a`. */
		const snapshot = async () => {
			const res = await fetch(`${server.url}/api/agents/a`, {
				headers: { authorization: `Bearer ${server.token}` },
			})
			const a = (await res.json()) as {
				status: string
				progress: number | null
				message: string | null
			}
			return { status: a.status, progress: a.progress ?? 0, message: a.message ?? '' }
		}
		// Each step is a case where a fold of its own could differ from the server's: a message
		// on an event that is not progress, a failure, a new execution after it, a cancel's reason.
		const steps: Array<[string, Record<string, unknown>]> = [
			['custom_note', { message: 'not a progress message', progress: 0.9 }],
			['progress', { progress: 0.3 }],
			['failed', { message: 'boom' }],
			['progress', { progress: 0.1 }],
			['cancelled', { reason: 'by user' }],
		]
		for (const [event, data] of steps) {
			await publish(server, 'agents/a', { event, data })
			const want = await snapshot()
			// The page gets the event through its feed a moment later: wait for it to agree.
			let got = await drawn()
			for (let i = 0; i < 50 && JSON.stringify(got) !== JSON.stringify(want); i++) {
				await Bun.sleep(50)
				got = await drawn()
			}
			expect({ event, ...got }).toEqual({ event, ...want })
		}
		await context.close()
	}, 30_000)

	it('logs a narrow read token in with a ticket within what it may read, and shows just its runs', async () => {
		using dir = tempDir()
		const file = join(dir.path, 'tokens.json')
		await Bun.write(
			file,
			JSON.stringify([{ token: 'team-a-reader', scopes: ['read'], streams: ['agents/team-a*'] }]),
		)
		await using server = await startServer({ args: ['--tokens-file', file] })
		await publish(server, 'agents/team-a-1', { event: 'progress', data: { message: 'mine' } })
		await publish(server, 'agents/other', { event: 'progress', data: { message: 'not mine' } })
		await publish(server, 'workflows/wf-1', { event: 'step_start', data: { stepId: 's' } })
		const context = await browser.newContext()
		const page = await context.newPage()
		await page.goto(server.url)
		await page.getByLabel('Token with the read scope').fill('team-a-reader')
		await page.keyboard.press('Enter')
		await page.locator('li[data-stream="agents/team-a-1"]').getByText('mine').waitFor()
		// Live, through the feed of the ticket: a new run of the team appears, others never do.
		await publish(server, 'agents/other', { event: 'progress', data: { message: 'still not' } })
		await publish(server, 'agents/team-a-2', { event: 'progress', data: { message: 'new one' } })
		await page.locator('li[data-stream="agents/team-a-2"]').getByText('new one').waitFor()
		expect(await page.locator('li[data-stream="agents/other"]').count()).toBe(0)
		expect(await page.locator('#workflows').textContent()).toContain('no workflow runs yet')
		expect(await page.locator('#login-error').textContent()).toBe('')
		await context.close()
	}, 30_000)

	it('is readable on a phone and loads nothing from elsewhere', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a-long-agent-name-that-wraps', {
			event: 'progress',
			data: { progress: 0.5, message: 'x'.repeat(200) },
		})
		const context = await browser.newContext({
			viewport: { width: 375, height: 700 },
			isMobile: true,
		})
		const page = await context.newPage()
		const outside: string[] = []
		page.on('request', (r) => {
			if (!r.url().startsWith(server.url) && !r.url().startsWith(server.url.replace('http', 'ws')))
				outside.push(r.url())
		})
		await page.goto(server.url)
		await page.getByLabel('Token with the read scope').fill(server.token)
		await page.getByRole('button', { name: 'Open dashboard' }).click()
		await page.getByText('a-long-agent-name-that-wraps').waitFor()
		const width = await page.evaluate(() => document.documentElement.scrollWidth)
		expect(width).toBeLessThanOrEqual(375)
		expect(outside).toEqual([])
		await context.close()
	}, 30_000)
})

describe('the page without a browser', () => {
	it('is served with a strict content security policy', async () => {
		using dir = tempDir()
		await using server = await startServer({ dbPath: join(dir.path, 'p.db') })
		const res = await fetch(server.url)
		expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
		expect(res.headers.get('content-security-policy')).toContain("default-src 'none'")
		const html = await res.text()
		expect(html).not.toMatch(/https?:\/\//)
		// src/page/dashboard.ts, bundled in as the one script, inline, and allowed by its hash.
		const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
		expect(scripts.map((m) => m[1])).toEqual([' type="module"'])
		const hash = new Bun.CryptoHasher('sha256').update(scripts[0]?.[2] ?? '').digest('base64')
		expect(res.headers.get('content-security-policy')).toContain(`script-src 'sha256-${hash}';`)
	})
})
