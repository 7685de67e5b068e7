import { CortexRequestError } from '../../client/src/index.ts'
import {
	type ClientSettings,
	ConfigError,
	loadClientSettings,
	parseFlags,
	UsageError,
} from '../config.ts'

/**
 * Rows of cells as columns, each cell padded to its column's widest, so that every description
 * starts at the same column however long a flag or a variable is. The last cell wraps at spaces
 * to keep lines within `width`, its next lines starting at that same column.
 */
export function table(rows: readonly (readonly string[])[], width = 100): string {
	const widths: number[] = []
	for (const row of rows)
		row.forEach((cell, i) => {
			widths[i] = Math.max(widths[i] ?? 0, cell.length)
		})
	const lines: string[] = []
	for (const row of rows) {
		const head = `  ${row
			.slice(0, -1)
			.map((cell, i) => cell.padEnd(widths[i] + 3))
			.join('')}`
		const room = Math.max(20, width - head.length)
		let prefix = head
		let text = ''
		for (const word of (row.at(-1) ?? '').split(' ')) {
			if (text !== '' && text.length + 1 + word.length > room) {
				lines.push(prefix + text)
				prefix = ' '.repeat(head.length)
				text = ''
			}
			text = text === '' ? word : `${text} ${word}`
		}
		lines.push(prefix + text)
	}
	return lines.join('\n')
}

export const CLIENT_FLAG_ROWS = [
	['--url <url>', 'server URL, or CORTEX_URL (default http://127.0.0.1:8787)'],
	['--token <token>', 'bearer token, or CORTEX_TOKEN'],
] as const

// run.ts aligns its own --agent line with these: its description starts at column 20.
export const CLIENT_FLAGS = table(CLIENT_FLAG_ROWS)

/** The client settings, with a `fetch` that says which server could not be reached, and why. */
export type CliSettings = ClientSettings & { fetch: typeof fetch }

/** The positional arguments and client settings of publish, tail, run and backup; throws ConfigError. */
export function clientArgs(
	args: string[],
	env: Record<string, string | undefined>,
	extraFlags: readonly string[] = [],
): { positional: string[]; settings: CliSettings; flags: Record<string, string | true> } {
	const { flags, positional } = parseFlags(args, { values: ['url', 'token', ...extraFlags] })
	const settings = loadClientSettings(flags, env)
	return { positional, settings: { ...settings, fetch: fetchFor(settings) }, flags }
}

/** `agents/NAME` or `workflows/ID`, checked before anything is sent. */
export function checkStream(stream: string) {
	const slash = stream.indexOf('/')
	const kind = stream.slice(0, slash)
	if ((kind !== 'agents' && kind !== 'workflows') || slash === stream.length - 1)
		throw new UsageError(`a stream is agents/NAME or workflows/ID, not "${stream.slice(0, 200)}"`)
}

/** The server did not answer at all: the one message for it, naming the URL and its setting. */
export class ServerUnreachable extends Error {
	constructor(settings: ClientSettings, cause: unknown) {
		super(`could not reach ${shownUrl(settings.url)} (${urlOrigin(settings)}): ${reason(cause)}`, {
			cause,
		})
	}
}

const urlOrigin = (settings: ClientSettings) =>
	settings.urlFrom === 'default'
		? 'the default; set --url or CORTEX_URL'
		: `from ${settings.urlFrom}`

/** A password in the URL is a secret like the token: messages show it as ***. */
export function shownUrl(url: string): string {
	try {
		const parsed = new URL(url)
		if (!parsed.password) return url
		parsed.password = '***'
		return parsed.toString()
	} catch {
		return url.slice(0, 200)
	}
}

// Bun's words for these are long and ask the reader a question; these say what happened.
const REASONS: Record<string, string> = {
	ECONNREFUSED: 'connection refused',
	ECONNRESET: 'connection reset',
	ENOTFOUND: 'host not found',
	ETIMEDOUT: 'timed out',
}

function reason(error: unknown): string {
	const code = (error as { code?: unknown } | undefined)?.code
	if (typeof code === 'string' && REASONS[code]) return REASONS[code]
	return error instanceof Error ? error.message || error.name : String(error)
}

interface OutageNotices {
	/** The server stopped answering (or never did): the first failed request of an outage. */
	down?(failure: ServerUnreachable): void
	/** The server answers again after `down`. */
	up?(): void
}

function fetchFor(settings: ClientSettings, notices: OutageNotices = {}): typeof fetch {
	return Object.assign(
		async (...args: Parameters<typeof fetch>) => {
			let res: Response
			try {
				res = await fetch(...args)
			} catch (error) {
				// An abort is the command stopping, not the server failing.
				if (args[1]?.signal?.aborted) throw error
				const failure = new ServerUnreachable(settings, error)
				notices.down?.(failure)
				throw failure
			}
			notices.up?.()
			return res
		},
		{ preconnect: fetch.preconnect },
	)
}

/**
 * The same settings, whose requests say on stderr, once per outage, that the server is not
 * answering and what the command does meanwhile (`doing`), and when it answers again; then
 * `printed` runs, for a live view that must start below what was printed.
 */
export function noticeOutages(
	settings: CliSettings,
	doing: string,
	printed: () => void = () => {},
): CliSettings {
	let down = false
	return {
		...settings,
		fetch: fetchFor(settings, {
			down(failure) {
				if (down) return
				down = true
				console.error(`cortex-stream: ${failure.message}; ${doing}`)
				printed()
			},
			up() {
				if (!down) return
				down = false
				console.error(`cortex-stream: connected to ${shownUrl(settings.url)}`)
				printed()
			},
		}),
	}
}

/**
 * Prints a failure in one line and gives the exit code for it: 2 for a mistake in the command
 * line, 1 for anything else. `command` names the --help to point to; `settings` lets a refused
 * token say where it came from.
 */
export function fail(
	error: unknown,
	context: { command?: string; settings?: ClientSettings } = {},
): number {
	if (error instanceof UsageError) {
		const help = context.command ? `cortex-stream ${context.command} --help` : '--help'
		console.error(`cortex-stream: ${error.message} (see ${help})`)
		return 2
	}
	if (error instanceof ConfigError) {
		console.error(`cortex-stream: ${error.message}`)
		return 2
	}
	// publish() wraps the last failed attempt in a CortexConnectionError; the cause says it all.
	let cause = error
	for (let depth = 0; cause instanceof Error && depth < 8; depth++) {
		if (cause instanceof ServerUnreachable) {
			console.error(`cortex-stream: ${cause.message}`)
			return 1
		}
		cause = cause.cause
	}
	if (error instanceof CortexRequestError && error.status === 401) {
		console.error(`cortex-stream: ${tokenRefused(error, context.settings)}`)
		return 1
	}
	const e = error as { message?: string; field?: string }
	console.error(`cortex-stream: ${e.message ?? String(error)}${e.field ? ` (at ${e.field})` : ''}`)
	return 1
}

function tokenRefused(error: CortexRequestError, settings: ClientSettings | undefined): string {
	const server = settings ? `the server at ${shownUrl(settings.url)}` : 'the server'
	if (settings && !settings.tokenFrom)
		return `${server} needs a token and none was set: set CORTEX_TOKEN or pass --token`
	const tried = settings?.tokenFrom ? `the token from ${settings.tokenFrom}` : 'the token'
	return `${server} did not accept ${tried} (${error.message}): set CORTEX_TOKEN or pass --token`
}
