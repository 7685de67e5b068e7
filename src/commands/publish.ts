import { Publisher, publish } from '../../client/src/index.ts'
import { ConfigError, parseDuration, UsageError } from '../config.ts'
import { jsonErrorAt } from '../json-position.ts'
import {
	CLIENT_FLAG_ROWS,
	type CliSettings,
	checkStream,
	clientArgs,
	fail,
	noticeOutages,
	table,
} from './client-args.ts'

const DEFAULT_RETRY_FOR = '30s'

export const PUBLISH_HELP = `Usage: cortex-stream publish <agents/NAME|workflows/ID> <event> [json]
       cortex-stream publish <agents/NAME|workflows/ID> -

Publishes one event, its data given as a JSON object; or, with -, reads NDJSON lines
{"event": ..., "data": {...}} from stdin and sends them in order, in batches of what has
arrived. Prints {"ids":[...]} for each request. A line that is not an event stops the reading:
the lines before it are sent, none after it.

${table([
	...CLIENT_FLAG_ROWS,
	[
		'--retry-for <time>',
		`retry a server that is down or busy this long: 0, 30s, 5m (default ${DEFAULT_RETRY_FOR})`,
	],
])}
`

/** `cortex-stream publish`. */
export async function publishCommand(
	args: string[],
	env: Record<string, string | undefined>,
): Promise<number> {
	let settings: CliSettings | undefined
	try {
		const parsed = clientArgs(args, env, ['retry-for'])
		settings = parsed.settings
		const [stream, event, json, ...extra] = parsed.positional
		if (!stream || !event || extra.length > 0 || (event === '-' && json !== undefined))
			throw new UsageError('usage: cortex-stream publish <stream> <event> [json]')
		checkStream(stream)
		const retryFor = (parsed.flags['retry-for'] as string | undefined) ?? DEFAULT_RETRY_FOR
		const retryForMs = retryFor === '0' ? 0 : parseDuration('--retry-for', retryFor)
		const options = {
			...(retryForMs > 0 ? noticeOutages(settings, `retrying for up to ${retryFor}`) : settings),
			retryForMs,
		}
		if (event === '-') return await publishStdin(stream, options)
		const data = json === undefined ? undefined : dataObject(json, 'the data argument')
		const { ids } = await publish(stream, { event, data }, options)
		console.log(JSON.stringify({ ids }))
		return 0
	} catch (error) {
		return fail(error, { command: 'publish', settings })
	}
}

/** Parses JSON that must be an object; a mistake says where, as the tokens file does. */
function dataObject(text: string, what: string): Record<string, unknown> {
	let data: unknown
	try {
		data = JSON.parse(text)
	} catch {
		throw new ConfigError(`${what} is not valid JSON${whereJsonStops(text)}`)
	}
	if (typeof data !== 'object' || data === null || Array.isArray(data))
		throw new ConfigError(
			`${what} must be a JSON object, such as {"progress": 0.5}, not ${Array.isArray(data) ? 'an array' : data === null ? 'null' : `a ${typeof data}`}`,
		)
	return data as Record<string, unknown>
}

function whereJsonStops(text: string): string {
	const at = jsonErrorAt(text)
	if (!at) return ''
	const lines = text.split('\n')
	const place = lines.length === 1 ? `column ${at.column}` : `line ${at.line}, column ${at.column}`
	const atEnd = at.line === lines.length && at.column === (lines.at(-1)?.length ?? 0) + 1
	return atEnd ? `: it ends at ${place}, before the JSON is complete` : ` at ${place}`
}

// A line longer than this is not an event anyone meant to send; reading it whole could
// exhaust memory.
const MAX_LINE_CHARS = 16 * 1024 * 1024

async function publishStdin(
	stream: string,
	options: CliSettings & { retryForMs: number },
): Promise<number> {
	const publisher = new Publisher(stream, {
		...options,
		onPublished: (ids) => console.log(JSON.stringify({ ids })),
	})
	let line = 0
	const take = (text: string) => {
		line++
		if (text.trim() === '') return
		const { event, data } = dataObject(text, `stdin line ${line}`)
		if (typeof event !== 'string')
			throw new ConfigError(
				`stdin line ${line} has no "event": each line is {"event": "...", "data": {...}}`,
			)
		publisher.send(event, data as Record<string, unknown>)
	}
	// Everything before a bad line is sent, in order, before the mistake is reported.
	let mistake: ConfigError | undefined
	try {
		const decoder = new TextDecoder()
		let partial = ''
		for await (const chunk of process.stdin as AsyncIterable<Uint8Array>) {
			const text = decoder.decode(chunk, { stream: true })
			let start = 0
			for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
				take(partial + text.slice(start, nl))
				partial = ''
				start = nl + 1
			}
			partial += text.slice(start)
			if (partial.length > MAX_LINE_CHARS)
				throw new ConfigError(`stdin line ${line + 1} is longer than ${MAX_LINE_CHARS} characters`)
		}
		take(partial + decoder.decode())
	} catch (error) {
		if (!(error instanceof ConfigError)) throw error
		mistake = error
	}
	await publisher.close()
	if (mistake) throw mistake
	return 0
}
