// The page's one connection: the WebSocket feed of every stream the ticket may read. It starts
// at the cursor of the first list the page read and resumes from the last cursor it saw after a
// network drop, a server restart or a ticket's renewal: nothing missed, nothing twice.

import { get, ticket, Unauthorized } from './api.ts'

/** One event of the feed, `cursor` being where to resume after it. */
export interface FeedEvent {
	cursor: number
	stream: string
	id: number
	event: string
	data: Record<string, unknown>
}

type FeedMessage =
	| FeedEvent
	| { gap: { requested: number; firstAvailable: number } }
	| { error: { code: string; message: string } }

export interface FeedHandlers {
	/** An event, with the time it arrived (the feed does not say when it was stored). */
	event(e: FeedEvent, at: number): void
	/** Events after the cursor were pruned: what the page shows may lack some. */
	gap(): void
	/** The connection's state, for people. */
	status(text: string): void
}

export interface Feed {
	readonly cursor: number
	stop(): void
}

/** Opens the feed after `cursor` and keeps it open until stop(). */
export function startFeed(after: number, handlers: FeedHandlers): Feed {
	let cursor = after
	let stopped = false
	let socket: WebSocket | null = null
	let failures = 0

	async function open() {
		let credential: string
		try {
			credential = await ticket()
		} catch (error) {
			if (error instanceof Unauthorized) return
			return retry()
		}
		if (stopped) return
		const url = `${location.origin.replace(/^http/, 'ws')}/api/ws?access_token=${encodeURIComponent(credential)}`
		const ws = new WebSocket(url)
		socket = ws
		let opened = false
		ws.onopen = () => {
			opened = true
			failures = 0
			handlers.status('live')
			ws.send(JSON.stringify({ subscribe: [], after: cursor }))
		}
		ws.onmessage = (m: MessageEvent<string>) => {
			const message = JSON.parse(m.data) as FeedMessage
			if ('error' in message) return handlers.status(`feed error: ${message.error.message}`)
			if ('gap' in message) return handlers.gap()
			cursor = Math.max(cursor, message.cursor)
			handlers.event(message, Date.now())
		}
		ws.onclose = () => {
			if (socket !== ws || stopped) return
			socket = null
			if (!opened) failures++
			retry()
		}
	}

	function retry() {
		if (stopped) return
		handlers.status('reconnecting…')
		// A feed that would not even open may mean a refused ticket: a cheap request tells, and
		// renews it or asks for the token again.
		setTimeout(
			async () => {
				if (stopped) return
				if (failures > 0)
					try {
						await get('/api/whoami')
					} catch (error) {
						if (error instanceof Unauthorized) return
					}
				open()
			},
			Math.min(5000, 1000 * 2 ** Math.max(0, failures - 1)),
		)
	}

	open()
	return {
		get cursor() {
			return cursor
		},
		stop() {
			stopped = true
			socket?.close()
			socket = null
		},
	}
}
