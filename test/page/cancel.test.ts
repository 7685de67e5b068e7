import { afterEach, describe, expect, it } from 'bun:test'
import type { Subprocess } from 'bun'
import { auth, eventually, MAIN, publish, ROOT, startServer } from '../helpers.ts'
import { browserForFile, loggedIn, until } from './browser.ts'

const browser = browserForFile()

// `cortex-stream run` stops its command's process group itself; a test that fails half-way
// must not leave the loop behind: SIGTERM to run does that, SIGKILL if it will not.
const started = new Set<Subprocess>()
afterEach(async () => {
	for (const proc of started) {
		proc.kill('SIGTERM')
		const gone = await Promise.race([
			proc.exited.then(() => true),
			Bun.sleep(8000).then(() => false),
		])
		if (!gone) proc.kill('SIGKILL')
	}
	started.clear()
})

describe('cancelling a run from the dashboard', () => {
	it('stops the command `cortex-stream run` wraps, and shows it cancelled', async () => {
		await using server = await startServer()
		const run = Bun.spawn(
			[
				process.execPath,
				MAIN,
				'run',
				'--agent',
				'ticker',
				'--',
				'sh',
				'-c',
				'while true; do echo tick; sleep 0.2; done',
			],
			{
				cwd: ROOT,
				env: { ...process.env, CORTEX_URL: server.url, CORTEX_TOKEN: server.token },
				stdin: 'ignore',
				stdout: 'pipe',
				stderr: 'pipe',
			},
		)
		started.add(run)
		await eventually(
			async () => (await fetch(`${server.url}/api/agents/ticker`, { headers: auth() })).ok,
			10_000,
			'the first event of run',
		)

		await using session = await loggedIn(browser(), server, { path: '/#/agents/ticker' })
		const { page } = session
		await page.locator('.log .event[data-type="progress"]').getByText('tick').first().waitFor()
		expect(await page.locator('#run-summary .status').textContent()).toBe('running')

		// What the page shows, each time it changes: run stops its command within milliseconds of
		// the request, too fast to catch between two looks.
		await page.evaluate(() => {
			const shown: string[] = []
			Object.assign(window, { shown })
			const button = document.getElementById('cancel') as HTMLButtonElement
			const look = () => {
				const status = document.querySelector('#run-summary .status')?.textContent
				const now = button.hidden ? `${status}` : `${status}, button "${button.textContent}"`
				if (shown.at(-1) !== now) shown.push(now)
			}
			look()
			new MutationObserver(look).observe(document.getElementById('run-view') as Node, {
				subtree: true,
				childList: true,
				characterData: true,
				attributes: true,
			})
		})
		await page.getByRole('button', { name: 'Cancel' }).click()
		await page.locator('#run-summary .status.cancelled').waitFor({ timeout: 15_000 })
		// Until the runner ended the run, the page said the request was made; then it went.
		const shown = await page.evaluate(() => (window as unknown as { shown: string[] }).shown)
		expect(shown).toEqual([
			'running, button "Cancel"',
			'running, button "cancel requested"',
			'cancelled',
		])
		expect(await page.locator('#run-summary .message').textContent()).toBe(
			'cancelled from the dashboard',
		)
		// run stopped the loop with SIGTERM and exited 128 + 15.
		expect(await run.exited).toBe(143)
		// The log has the request, then (after what the loop printed meanwhile) the end.
		const types = () =>
			page.locator('.log .event').evaluateAll((li) => li.map((l) => l.getAttribute('data-type')))
		expect(await until(async () => (await types()).at(-1), 'cancelled')).toBe('cancelled')
		const logged = await types()
		expect(logged.indexOf('cancel_requested')).toBeGreaterThan(0)
		expect(logged.filter((t) => t !== 'progress')).toEqual(['cancel_requested', 'cancelled'])
		expect(await page.locator('#cancel').isVisible()).toBe(false)
		expect(await page.locator('button.execution .status').first().textContent()).toBe('cancelled')
		expect(session.errors).toEqual([])
	}, 40_000)

	it('offers no Cancel to a token that may not publish to the run', async () => {
		await using server = await startServer({
			tokens: [
				{ token: 'reader', scopes: ['read'], streams: ['*'] },
				{ token: 'team-a-runner', scopes: ['read', 'publish'], streams: ['agents/team-a*'] },
			],
		})
		await publish(server, 'agents/team-a-1', { event: 'progress', data: { message: 'working' } })
		const cancelShown = async (token: string, name: string) => {
			await using session = await loggedIn(browser(), server, { token, path: `/#/agents/${name}` })
			await session.page.locator('.log .event').first().waitFor()
			return await session.page.locator('#cancel').isVisible()
		}
		expect(await cancelShown('reader', 'team-a-1')).toBe(false)
		expect(await cancelShown('team-a-runner', 'team-a-1')).toBe(true)
	}, 30_000)
})
