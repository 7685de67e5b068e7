import { Publisher, publish } from '../../client/src/index.ts'
import { ConfigError } from '../config.ts'
import { CLIENT_FLAGS, clientArgs, fail } from './client-args.ts'

export const PUBLISH_HELP = `Usage: cortex-stream publish <agents/NAME|workflows/ID> <event> [json]
       cortex-stream publish <agents/NAME|workflows/ID> -

Publishes one event, its data given as a JSON object; or, with -, reads NDJSON lines
{"event": ..., "data": {...}} from stdin and sends them in order, in batches of what has
arrived. Prints {"ids":[...]} for each request.

${CLIENT_FLAGS}
`

/** `cortex-stream publish`. */
export async function publishCommand(
	args: string[],
	env: Record<string, string | undefined>,
): Promise<number> {
	try {
		const { positional, settings } = clientArgs(args, env)
		const [stream, event, json, ...extra] = positional
		if (!stream || !event || extra.length > 0)
			throw new ConfigError('usage: cortex-stream publish <stream> <event> [json] (see --help)')
		if (event === '-') return await publishStdin(stream, settings)
		let data: unknown
		try {
			data = json === undefined ? undefined : JSON.parse(json)
		} catch {
			throw new ConfigError(`the data must be a JSON object, got ${json}`)
		}
		const { ids } = await publish(
			stream,
			{ event, data: data as Record<string, unknown> },
			settings,
		)
		console.log(JSON.stringify({ ids }))
		return 0
	} catch (error) {
		return fail(error)
	}
}

async function publishStdin(
	stream: string,
	settings: { url: string; token?: string },
): Promise<number> {
	const publisher = new Publisher(stream, {
		...settings,
		onPublished: (ids) => console.log(JSON.stringify({ ids })),
	})
	const decoder = new TextDecoder()
	let buffer = ''
	let line = 0
	const take = (text: string) => {
		line++
		if (text.trim() === '') return
		let parsed: { event?: unknown; data?: unknown }
		try {
			parsed = JSON.parse(text)
		} catch {
			throw new ConfigError(`stdin line ${line} is not JSON`)
		}
		if (typeof parsed?.event !== 'string')
			throw new ConfigError(`stdin line ${line} has no "event"`)
		publisher.send(parsed.event, parsed.data as Record<string, unknown>)
	}
	for await (const chunk of process.stdin as AsyncIterable<Uint8Array>) {
		buffer += decoder.decode(chunk, { stream: true })
		const lines = buffer.split('\n')
		buffer = lines.pop() ?? ''
		for (const text of lines) take(text)
	}
	take(buffer)
	await publisher.close()
	return 0
}
