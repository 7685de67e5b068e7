import { describe, expect, it } from 'bun:test'
import { publish, startServer } from '../helpers.ts'
import { browserForFile, loggedIn, rows, screenshot, until } from './browser.ts'

const browser = browserForFile()

/** The light scheme's colours of index.html: --bad, --run, --stale. */
const RED = 'rgb(198, 40, 40)'
const BLUE = 'rgb(11, 98, 196)'
const AMBER = 'rgb(154, 103, 0)'

describe('the runs list', () => {
	it('lists runs newest first, each in the colour of its status, with progress that agrees with its steps, its message and its time', async () => {
		await using server = await startServer()
		// Published in this order: the last one comes first.
		await publish(server, 'agents/reader', {
			event: 'progress',
			data: { message: 'Reading codebase...', progress: 0.2 },
		})
		await publish(server, 'agents/crasher', [
			{ event: 'progress', data: { message: 'halfway', progress: 0.5 } },
			{ event: 'failed', data: { message: 'boom' } },
		])
		await publish(server, 'agents/finisher', [
			{ event: 'progress', data: { progress: 0.3 } },
			{ event: 'complete', data: { result: 'ok' } },
		])
		await publish(server, 'agents/stopper', [
			{ event: 'progress', data: { message: 'working' } },
			{ event: 'cancelled', data: { reason: 'by user' } },
		])
		await publish(server, 'workflows/wf-600', [
			{ event: 'step_start', data: { stepId: 'fetch', name: 'Fetch' } },
			{ event: 'step_complete', data: { stepId: 'fetch', duration: 1200 } },
			{ event: 'step_start', data: { stepId: 'index', name: 'Index' } },
			{ event: 'step_progress', data: { stepId: 'index', progress: 1, message: '600 of 600' } },
			{ event: 'step_start', data: { stepId: 'lint', name: 'Lint' } },
		])
		await using session = await loggedIn(browser(), server)
		const { page } = session
		await page.locator('a.row').first().waitFor()
		expect(await rows(page)).toEqual([
			{ name: 'stopper', status: 'cancelled' },
			{ name: 'finisher', status: 'complete' },
			{ name: 'crasher', status: 'failed' },
			{ name: 'reader', status: 'running' },
		])

		// A failure is red: its word, its bar and the row's edge; a running one is blue.
		const crasher = page.locator('a.row[data-stream="agents/crasher"]')
		const colours = (row: typeof crasher) =>
			row.evaluate((a) => ({
				status: getComputedStyle(a.querySelector('.status') as Element).color,
				bar: getComputedStyle(a.querySelector('.bar > span') as Element).backgroundColor,
				edge: getComputedStyle(a).borderLeftColor,
			}))
		expect(await colours(crasher)).toEqual({ status: RED, bar: RED, edge: RED })
		const reader = page.locator('a.row[data-stream="agents/reader"]')
		expect(await colours(reader)).toEqual({ status: BLUE, bar: BLUE, edge: BLUE })
		expect(await crasher.locator('.message').textContent()).toBe('boom')
		expect(await page.locator('a.row[data-stream="agents/stopper"] .message').textContent()).toBe(
			'by user',
		)
		// Times: the elapsed time of a running run, the total of an ended one.
		for (const time of await page.locator('a.row .time').allTextContents())
			expect(time).toMatch(/^\d+(\.\d)?s$/)

		// Live: a run with a new event comes first, its bar and message change.
		await publish(server, 'agents/reader', {
			event: 'progress',
			data: { message: 'Writing code...', progress: 0.6 },
		})
		await reader.getByText('Writing code...').waitFor()
		expect((await rows(page))[0]).toEqual({ name: 'reader', status: 'running' })
		expect(await reader.locator('.bar').getAttribute('aria-valuenow')).toBe('60')

		// The count of each status, from the server.
		const counts = () =>
			page
				.locator('#status-filter button')
				.evaluateAll((buttons) => buttons.map((b) => b.textContent))
		expect(
			await until(counts, ['all 4', 'running 1', 'complete 1', 'failed 1', 'cancelled 1']),
		).toEqual(['all 4', 'running 1', 'complete 1', 'failed 1', 'cancelled 1'])
		await screenshot(page, 'dashboard-list')

		// A workflow's bar is what its steps say: one complete, one at 600 of 600, one just begun.
		await page.getByRole('link', { name: 'Workflow runs' }).click()
		const wf = page.locator('a.row[data-stream="workflows/wf-600"]')
		await wf.waitFor()
		expect(await wf.locator('.bar').getAttribute('aria-valuetext')).toBe('66%')
		// The step that is going has no message: its name alone, no dangling colon.
		expect(await wf.locator('.message').textContent()).toBe('Lint')
		expect(session.errors).toEqual([])
	}, 30_000)

	it('narrows the list by name as it is typed and by status, and moves, opens and goes back by keyboard', async () => {
		await using server = await startServer()
		for (const name of ['build-api', 'build-web', 'deploy-api', 'deploy-web'])
			await publish(server, `agents/${name}`, { event: 'progress', data: { message: name } })
		await publish(server, 'agents/build-web', { event: 'failed', data: { message: 'tests' } })
		await using session = await loggedIn(browser(), server)
		const { page } = session
		const names = async () => (await rows(page)).map((r) => r.name)
		expect(await until(names, ['build-web', 'deploy-web', 'deploy-api', 'build-api'])).toEqual([
			'build-web',
			'deploy-web',
			'deploy-api',
			'build-api',
		])

		// `/` goes to the filter; the list narrows to the names that start with what is typed.
		await page.keyboard.press('/')
		expect(await page.evaluate(() => document.activeElement?.id)).toBe('filter')
		await page.keyboard.type('build')
		expect(await until(names, ['build-web', 'build-api'])).toEqual(['build-web', 'build-api'])
		expect(page.url()).toEndWith('#/agents?q=build')
		// And by status, with the filter by name kept.
		await page.locator('#status-filter button[data-status="failed"]').focus()
		await page.keyboard.press('Enter')
		expect(await until(names, ['build-web'])).toEqual(['build-web'])
		// The page redrawn, the keyboard is where it was.
		const status = () => page.evaluate(() => (document.activeElement as HTMLElement).dataset.status)
		expect(await status()).toBe('failed')
		expect(
			await page.locator('#status-filter button[aria-pressed="true"]').getAttribute('data-status'),
		).toBe('failed')
		await page.locator('#status-filter button[data-status=""]').click()
		expect(await until(names, ['build-web', 'build-api'])).toEqual(['build-web', 'build-api'])
		// A character no name has says so, and shows nothing.
		await page.locator('#filter').fill('build/')
		await page.getByText('A name holds only').waitFor()
		expect(await names()).toEqual([])
		await page.locator('#filter').focus()
		await page.keyboard.press('Escape')
		expect(await until(names, ['build-web', 'deploy-web', 'deploy-api', 'build-api'])).toHaveLength(
			4,
		)

		// Arrows move from row to row, Enter opens one, Escape comes back to it.
		await page.locator('#filter').focus()
		await page.keyboard.press('ArrowDown')
		await page.keyboard.press('ArrowDown')
		const focused = () =>
			page.evaluate(() => (document.activeElement as HTMLElement).dataset.stream)
		expect(await focused()).toBe('agents/deploy-web')
		await page.keyboard.press('Enter')
		await page.locator('#run-title').getByText('deploy-web').waitFor()
		expect(page.url()).toEndWith('#/agents/deploy-web')
		await page.keyboard.press('Escape')
		await page.locator('#rows').waitFor()
		expect(await until(focused, 'agents/deploy-web')).toBe('agents/deploy-web')
		expect(session.errors).toEqual([])
	}, 30_000)

	it('shows a running run with no event for longer than the threshold as stale, until its next event', async () => {
		await using server = await startServer()
		await publish(server, 'agents/quiet', { event: 'progress', data: { message: 'thinking' } })
		// ?stale=3: three seconds instead of five minutes, so the test sees it happen.
		await using session = await loggedIn(browser(), server, { path: '/?stale=3' })
		const { page } = session
		const row = page.locator('a.row[data-stream="agents/quiet"]')
		expect(await row.locator('.status').textContent()).toBe('running')
		expect(await page.locator('#stale-note').textContent()).toBe(
			'stale: running, no event for 3.0s',
		)
		await row.locator('.status.stale').waitFor({ timeout: 6000 })
		expect(await row.locator('.time').textContent()).toMatch(/ · last event \ds ago$/)
		expect(
			await row.locator('.bar > span').evaluate((el) => getComputedStyle(el).backgroundColor),
		).toBe(AMBER)
		await publish(server, 'agents/quiet', { event: 'progress', data: { message: 'awake' } })
		await row.locator('.status.running').waitFor()
		expect(await row.locator('.message').textContent()).toBe('awake')
	}, 30_000)

	it('shows each run live as the snapshot of the API shows it, whatever the events', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a', { event: 'progress', data: { message: 'start' } })
		await using session = await loggedIn(browser(), server)
		const row = session.page.locator('a.row[data-stream="agents/a"]')
		await row.getByText('start').waitFor()
		/** The row as the page draws it: status, bar and message. */
		const drawn = async () => ({
			status: await row.locator('.status').textContent(),
			progress: Number(await row.locator('.bar').getAttribute('data-value')),
			message: (await row.locator('.message:not(.none)').count())
				? await row.locator('.message').textContent()
				: '',
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
			expect({ event, ...(await until(drawn, want)) }).toEqual({ event, ...want })
		}
	}, 30_000)

	it('logs a narrow read token in with a ticket within what it may read, and shows just its runs', async () => {
		await using server = await startServer({
			tokens: [{ token: 'team-a-reader', scopes: ['read'], streams: ['agents/team-a*'] }],
		})
		await publish(server, 'agents/team-a-1', { event: 'progress', data: { message: 'mine' } })
		await publish(server, 'agents/other', { event: 'progress', data: { message: 'not mine' } })
		await publish(server, 'workflows/wf-1', { event: 'step_start', data: { stepId: 's' } })
		await using session = await loggedIn(browser(), server, { token: 'team-a-reader' })
		const { page } = session
		await page.locator('a.row[data-stream="agents/team-a-1"]').getByText('mine').waitFor()
		// Live, through the feed of the ticket: a new run of the team appears, others never do.
		await publish(server, 'agents/other', { event: 'progress', data: { message: 'still not' } })
		await publish(server, 'agents/team-a-2', { event: 'progress', data: { message: 'new one' } })
		await page.locator('a.row[data-stream="agents/team-a-2"]').getByText('new one').waitFor()
		expect((await rows(page)).map((r) => r.name)).toEqual(['team-a-2', 'team-a-1'])
		const all = () => page.locator('#status-filter button[data-status=""]').textContent()
		expect(await until(all, 'all 2')).toBe('all 2')
		await page.getByRole('link', { name: 'Workflow runs' }).click()
		await page.getByText('no workflow runs yet').waitFor()
		// The ticket the page holds is for the token's own patterns, and for reading only.
		const who = await page.evaluate(async () => {
			const saved = JSON.parse(sessionStorage.getItem('cortex-stream-session') ?? '{}')
			const res = await fetch('/api/whoami', {
				headers: { authorization: `Bearer ${saved.ticket}` },
			})
			return res.json()
		})
		expect(who).toMatchObject({ kind: 'ticket', scopes: ['read'], streams: ['agents/team-a*'] })
		expect(await page.locator('#login-error').textContent()).toBe('')
	}, 30_000)

	it('keeps the session over a reload, and renews a refused ticket with the token without asking again', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a', { event: 'progress', data: { message: 'here' } })
		await using session = await loggedIn(browser(), server)
		const { page } = session
		await page.locator('a.row[data-stream="agents/a"]').waitFor()
		const stored = () =>
			page.evaluate(() => JSON.parse(sessionStorage.getItem('cortex-stream-session') ?? '{}'))
		const before = await stored()
		// A ticket the server refuses (altered: 401), as an expired one would be.
		const altered = `${before.ticket.slice(0, -4)}AAAA`
		await page.evaluate((ticket) => {
			const saved = JSON.parse(sessionStorage.getItem('cortex-stream-session') ?? '{}')
			sessionStorage.setItem('cortex-stream-session', JSON.stringify({ ...saved, ticket }))
		}, altered)
		await page.reload()
		await page.locator('a.row[data-stream="agents/a"]').getByText('here').waitFor()
		expect(await page.locator('#login').isVisible()).toBe(false)
		const after = await stored()
		expect(after.ticket).toStartWith('ct1.')
		// A fresh one (the same as the first when made within the same second: tickets are signed
		// over their patterns and expiry).
		expect(after.ticket).not.toBe(altered)
		await page.getByText('live').waitFor()
		expect(session.errors).toEqual([])
	}, 30_000)

	it('fits a 360 px screen, in the dark too, and loads nothing from elsewhere', async () => {
		await using server = await startServer()
		await publish(server, 'agents/a-long-agent-name-that-wraps-across-the-screen', {
			event: 'progress',
			data: { progress: 0.5, message: 'x'.repeat(200) },
		})
		await publish(server, 'workflows/wf-narrow', [
			{ event: 'step_start', data: { stepId: 'a-step-with-a-long-name', agent: 'agent-x' } },
			{
				event: 'step_progress',
				data: { stepId: 'a-step-with-a-long-name', message: 'y'.repeat(120) },
			},
		])
		const context = {
			viewport: { width: 360, height: 700 },
			isMobile: true,
			colorScheme: 'dark' as const,
		}
		await using session = await loggedIn(browser(), server, { context })
		const { page } = session
		const width = () => page.evaluate(() => document.documentElement.scrollWidth)
		await page.getByText('a-long-agent-name-that-wraps').waitFor()
		expect(await width()).toBeLessThanOrEqual(360)
		expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe(
			'rgb(21, 23, 26)',
		)
		await page.goto(`${server.url}/#/workflows/wf-narrow`)
		await page.locator('.timeline .span').waitFor()
		await page.locator('.log .event').first().waitFor()
		expect(await width()).toBeLessThanOrEqual(360)
		await page.goto(`${server.url}/#/agents/a-long-agent-name-that-wraps-across-the-screen`)
		await page.locator('button.execution').first().waitFor()
		expect(await width()).toBeLessThanOrEqual(360)
		const ws = server.url.replace(/^http/, 'ws')
		expect(session.requests.filter((u) => !u.startsWith(server.url) && !u.startsWith(ws))).toEqual(
			[],
		)
		expect(session.errors).toEqual([])
	}, 30_000)
})
