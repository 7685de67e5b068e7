import { describe, expect, it } from 'bun:test'
import { type EventSourceMessage, fetchEventSource } from '@microsoft/fetch-event-source'
import { auth, publish, startServer } from '../helpers.ts'

// The library is written for browsers: it takes its timers from `window` and listens for page
// visibility on `document`. Bun has the timers on globalThis, and a test page is never hidden.
const g = globalThis as Record<string, unknown>
g.window ??= globalThis
g.document ??= { hidden: false, addEventListener() {}, removeEventListener() {} }

class RunEnded extends Error {}
const TERMINAL = new Set(['complete', 'failed', 'cancelled'])

/** The handlers docs/api.md shows: stop on 204 and after a terminal event, retry anything else. */
function follow(
	url: string,
	token: string,
	seen: EventSourceMessage[],
	headers: Record<string, string> = {},
) {
	let last = ''
	let opened = 0
	const done = fetchEventSource(url, {
		headers: { ...auth(token), ...headers },
		openWhenHidden: true,
		async onopen(res) {
			opened++
			if (res.status === 204) throw new RunEnded()
			if (!res.ok) throw new Error(`HTTP ${res.status}`)
		},
		onmessage(msg) {
			// The library also calls this for the blocks that hold only `retry:` or `: heartbeat`.
			if (!msg.event) return
			seen.push(msg)
			last = msg.event
		},
		onclose() {
			// A clean close before the terminal event is a server going away: reconnect.
			if (!TERMINAL.has(last)) throw new Error('closed early')
		},
		onerror(error) {
			if (error instanceof RunEnded) throw error
			return 100
		},
	}).catch((error) => {
		if (!(error instanceof RunEnded)) throw error
	})
	return { done, opened: () => opened }
}

describe('@microsoft/fetch-event-source', () => {
	it('follows a run across a server restart and stops at its end', async () => {
		await using first = await startServer()
		const seen: EventSourceMessage[] = []
		const f = follow(`${first.url}/api/streaming/workflows/wf-fes/stream`, first.token, seen)
		await publish(first, 'workflows/wf-fes', [{ event: 'step_start', data: { stepId: 'a' } }])
		while (seen.length < 1) await Bun.sleep(20)
		first.proc.kill('SIGTERM')
		await first.exited
		await using second = await first.restart()
		await publish(second, 'workflows/wf-fes', [
			{ event: 'step_complete', data: { stepId: 'a' } },
			{ event: 'complete' },
		])
		await f.done
		expect(seen.map((m) => [m.id, m.event])).toEqual([
			['1', 'step_start'],
			['2', 'step_complete'],
			['3', 'complete'],
		])
	}, 30_000)

	it('stops on the 204 of a run that already ended instead of retrying forever', async () => {
		await using server = await startServer()
		await publish(server, 'agents/fes', [{ event: 'progress' }, { event: 'complete' }])
		const seen: EventSourceMessage[] = []
		const f = follow(`${server.url}/api/streaming/agents/fes/stream`, server.token, seen)
		await f.done
		expect(seen.map((m) => m.id)).toEqual(['1', '2'])
		// A watcher that comes back with the last id it saw gets the 204, once, and stops.
		const late = follow(`${server.url}/api/streaming/agents/fes/stream`, server.token, seen, {
			'last-event-id': '2',
		})
		await late.done
		expect(late.opened()).toBe(1)
		expect(seen.map((m) => m.id)).toEqual(['1', '2'])
	})
})
