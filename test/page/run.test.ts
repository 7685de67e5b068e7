import { describe, expect, it } from 'bun:test'
import { publish, startServer } from '../helpers.ts'
import { browserForFile, loggedIn, screenshot, shownIn, until } from './browser.ts'

const browser = browserForFile()

describe("a run's own view", () => {
	it('opens from a pasted link after the token prompt: a bar per step on one time axis, the events with their times, failures highlighted', async () => {
		await using server = await startServer()
		const step = (event: string, data: Record<string, unknown>) =>
			publish(server, 'workflows/wf-build', { event, data })
		await step('step_start', { stepId: 'checkout', name: 'Checkout', agent: 'git-agent' })
		await Bun.sleep(100)
		await step('step_complete', { stepId: 'checkout', duration: 100 })
		await step('step_start', { stepId: 'compile', name: 'Compile', agent: 'builder' })
		await step('step_progress', {
			stepId: 'compile',
			progress: 0.5,
			message: 'Compiling 120 files',
		})
		await Bun.sleep(500)
		await step('step_complete', { stepId: 'compile', duration: 500 })
		await step('step_start', { stepId: 'test', name: 'Test', agent: 'tester' })
		await step('step_progress', { stepId: 'test', progress: 0.4, message: '212 of 530 tests' })
		await Bun.sleep(250)
		await step('step_failed', { stepId: 'test', message: '3 tests failed' })
		await step('failed', { message: 'Test failed: 3 tests failed' })

		// A link pasted to a colleague: the token prompt first, then that run.
		await using session = await loggedIn(browser(), server, { path: '/#/workflows/wf-build' })
		const { page } = session
		await page.locator('#run-title').getByText('wf-build').waitFor()
		expect(await page.locator('#run-summary .status').textContent()).toBe('failed')
		// The failed step and why.
		expect(await page.locator('#run-summary .message').textContent()).toBe('Test: 3 tests failed')

		// One bar per step, on a shared axis: the slow step's bar is the longest, the failed one red.
		const bars = page.locator('.timeline .track .span')
		await bars.first().waitFor()
		expect(await bars.count()).toBe(3)
		const width = async (id: string) =>
			(await page.locator(`.step[data-step="${id}"] .span`).boundingBox())?.width ?? 0
		expect(await width('compile')).toBeGreaterThan(await width('checkout'))
		expect(await width('compile')).toBeGreaterThan(await width('test'))
		const checkout = await page.locator('.step[data-step="checkout"] .span').boundingBox()
		const compile = await page.locator('.step[data-step="compile"] .span').boundingBox()
		expect((compile?.x ?? 0) + 1).toBeGreaterThanOrEqual(
			(checkout?.x ?? 0) + (checkout?.width ?? 0),
		)
		expect(await page.locator('.step.failed .step-name').textContent()).toStartWith('Test')
		expect(
			await page
				.locator('.step[data-step="test"] .span')
				.evaluate((el) => getComputedStyle(el).backgroundColor),
		).toBe('rgb(198, 40, 40)')

		// The log: a time on every line, the failures highlighted.
		const lines = page.locator('.log .event')
		await until(() => lines.count(), 9)
		expect(await lines.count()).toBe(9)
		for (const time of await page.locator('.log time').allTextContents())
			expect(time).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/)
		expect(await page.locator('.log .event.bad .type').allTextContents()).toEqual([
			'step_failed',
			'failed',
		])
		// A line opens to its data as indented JSON.
		await page.locator('.log .event[data-type="step_failed"] summary').click()
		const json = page.locator('.log .event[data-type="step_failed"] pre.json')
		await json.waitFor()
		expect(await json.textContent()).toBe(
			'{\n  "stepId": "test",\n  "message": "3 tests failed"\n}',
		)
		await screenshot(page, 'dashboard-workflow')
		expect(session.errors).toEqual([])
	}, 30_000)

	it('follows new events into view; once the reader scrolls up it stays, and says how many came', async () => {
		await using server = await startServer()
		await publish(server, 'workflows/wf-long', { event: 'step_start', data: { stepId: 'work' } })
		await using session = await loggedIn(browser(), server, { path: '/#/workflows/wf-long' })
		const { page } = session
		const box = page.locator('.log')
		const line = (id: number) => page.locator(`.log .event[data-id="${id}"]`)
		await line(1).waitFor()
		// Far more lines than the box holds, arriving live: each one is scrolled into view.
		for (let i = 2; i <= 41; i++) {
			await publish(server, 'workflows/wf-long', {
				event: 'step_progress',
				data: { stepId: 'work', progress: i / 41, message: `line ${i}` },
			})
			if (i % 10 === 1) {
				await line(i).waitFor()
				expect(await shownIn(line(i), box)).toBe(true)
			}
		}
		expect(await shownIn(line(1), box)).toBe(false)

		// Scrolled up, the reader keeps their place; a button counts what came since.
		await box.evaluate((el) => {
			el.scrollTop = 0
		})
		for (const i of [42, 43, 44])
			await publish(server, 'workflows/wf-long', {
				event: 'step_progress',
				data: { stepId: 'work', message: `line ${i}` },
			})
		const button = page.getByRole('button', { name: /new events/ })
		await page.getByRole('button', { name: '3 new events ↓' }).waitFor()
		expect(await shownIn(line(1), box)).toBe(true)
		expect(await shownIn(line(44), box)).toBe(false)
		await button.click()
		expect(await until(() => shownIn(line(44), box), true)).toBe(true)
		expect(await button.isVisible()).toBe(false)
		expect(session.errors).toEqual([])
	}, 30_000)

	it("shows an agent's executions newest first and the events of the one chosen", async () => {
		await using server = await startServer()
		await publish(server, 'agents/builder', [
			{ event: 'progress', data: { message: 'build 1', progress: 0.5 } },
			{ event: 'complete', data: { result: 'ok' } },
		])
		await publish(server, 'agents/builder', [
			{ event: 'progress', data: { message: 'build 2', progress: 0.7 } },
			{ event: 'failed', data: { message: 'exit code 2' } },
		])
		await publish(server, 'agents/builder', {
			event: 'progress',
			data: { message: 'build 3', progress: 0.1 },
		})
		await using session = await loggedIn(browser(), server)
		const { page } = session
		await page.locator('a.row[data-stream="agents/builder"]').click()
		const executions = () =>
			page.locator('button.execution').evaluateAll((buttons) =>
				buttons.map((b) => ({
					id: b.querySelector('.id')?.textContent,
					status: b.querySelector('.status')?.textContent,
					chosen: b.getAttribute('aria-pressed'),
				})),
			)
		const want = [
			{ id: '#5', status: 'running', chosen: 'true' },
			{ id: '#3', status: 'failed', chosen: 'false' },
			{ id: '#1', status: 'complete', chosen: 'false' },
		]
		expect(await until(executions, want)).toEqual(want)
		const ids = () =>
			page.locator('.log .event').evaluateAll((li) => li.map((l) => l.getAttribute('data-id')))
		expect(await until(ids, ['5'])).toEqual(['5'])

		// Another execution, by keyboard (the arrows move from the newest down, Enter chooses):
		// its events, and a URL that opens it.
		await page.keyboard.press('ArrowDown')
		await page.keyboard.press('ArrowDown')
		await page.keyboard.press('Enter')
		expect(await until(ids, ['3', '4'])).toEqual(['3', '4'])
		expect(page.url()).toEndWith('#/agents/builder?execution=3')
		expect(await page.locator('.log .event.bad .type').textContent()).toBe('failed')
		// The running one goes on in the list of executions, not in the log of the one chosen.
		await publish(server, 'agents/builder', {
			event: 'progress',
			data: { message: 'build 3 is linking', progress: 0.8 },
		})
		await page.locator('button.execution[data-start="5"]').getByText('build 3 is linking').waitFor()
		expect(await ids()).toEqual(['3', '4'])
		await page.locator('button.execution[data-start="5"]').click()
		expect(await until(ids, ['5', '6'])).toEqual(['5', '6'])
		expect(page.url()).toEndWith('#/agents/builder')
		await screenshot(page, 'dashboard-agent')
		expect(session.errors).toEqual([])

		// A link to an execution, pasted: that execution chosen, after the token prompt.
		await using pasted = await loggedIn(browser(), server, {
			path: '/#/agents/builder?execution=3',
		})
		await pasted.page.locator('button.execution[data-start="3"][aria-pressed="true"]').waitFor()
		const pastedIds = () =>
			pasted.page
				.locator('.log .event')
				.evaluateAll((li) => li.map((l) => l.getAttribute('data-id')))
		expect(await until(pastedIds, ['3', '4'])).toEqual(['3', '4'])
	}, 30_000)

	it('catches up after a server restart, with nothing repeated', async () => {
		await using first = await startServer()
		await publish(first, 'workflows/wf-123', [
			{ event: 'step_start', data: { stepId: 'step-1', name: 'Code Review', agent: 'reviewer' } },
			{
				event: 'step_progress',
				data: { stepId: 'step-1', progress: 0.75, message: 'Found 3 issues' },
			},
		])
		await using session = await loggedIn(browser(), first, { path: '/#/workflows/wf-123' })
		const { page } = session
		const ids = () =>
			page.locator('.log .event').evaluateAll((li) => li.map((l) => l.getAttribute('data-id')))
		expect(await until(ids, ['1', '2'])).toEqual(['1', '2'])
		await publish(first, 'workflows/wf-123', {
			event: 'step_complete',
			data: { stepId: 'step-1', duration: 8000 },
		})
		await page.locator('.step .status.complete').waitFor()

		// The server dies and comes back on the same file; the page resumes from its cursor.
		await first.kill('SIGKILL')
		await page.getByText('reconnecting…').waitFor()
		await using second = await first.restart()
		await publish(second, 'workflows/wf-123', [
			{ event: 'step_start', data: { stepId: 'step-2', name: 'Fix Issues', agent: 'coder' } },
			{
				event: 'step_progress',
				data: { stepId: 'step-2', progress: 0.4, message: 'Editing 2 files' },
			},
		])
		await page.locator('.step-name').getByText('Fix Issues').waitFor({ timeout: 15_000 })
		await page.getByText('live').waitFor()
		expect(await until(ids, ['1', '2', '3', '4', '5'])).toEqual(['1', '2', '3', '4', '5'])

		// The long-lived token never appeared in a URL; the feed went through a ticket.
		expect(session.requests.some((u) => u.includes(first.token))).toBe(false)
		expect(session.requests.some((u) => u.includes('/api/ws?access_token=ct1.'))).toBe(true)
		expect(session.errors).toEqual([])
	}, 60_000)
})
