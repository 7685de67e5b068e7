import { type GapEvent, type StreamEvent, subscribe } from '../../client/src/index.ts'
import { emptyFold, type Fold, foldEvent } from '../../client/src/runs.ts'
import { ConfigError } from '../config.ts'
import { CLIENT_FLAGS, clientArgs, fail } from './client-args.ts'

export const TAIL_HELP = `Usage: cortex-stream tail <agents/NAME|workflows/ID> [--last-event-id N]

Follows a stream until its run ends, reconnecting by itself. On a terminal, a live view: a
progress bar for an agent, a line per workflow step with its state and bar, and the latest
message. Piped, one JSON event per line: {"id":..,"event":..,"data":{..}}.
Exits 0 after complete, 1 after failed, 3 after cancelled.

${CLIENT_FLAGS}
  --last-event-id N resume after this id
`

const EXIT: Record<string, number> = { complete: 0, failed: 1, cancelled: 3 }

/** `cortex-stream tail`. */
export async function tailCommand(
	args: string[],
	env: Record<string, string | undefined>,
): Promise<number> {
	try {
		const { positional, settings, flags } = clientArgs(args, env, ['last-event-id'])
		const [stream, ...extra] = positional
		if (!stream || extra.length > 0)
			throw new ConfigError('usage: cortex-stream tail <stream> (see --help)')
		const from = flags['last-event-id']
		if (from !== undefined && (from === true || !/^[0-9]{1,15}$/.test(from)))
			throw new ConfigError('--last-event-id must be a whole number')
		const controller = new AbortController()
		process.once('SIGINT', () => controller.abort())
		const view = process.stdout.isTTY ? liveView(stream) : undefined
		let last: string | undefined
		for await (const e of subscribe(stream, {
			...settings,
			lastEventId: from === undefined ? undefined : Number(from),
			signal: controller.signal,
		})) {
			if (view) view(e as StreamEvent)
			else console.log(JSON.stringify(e.id === undefined ? { event: e.event, data: e.data } : e))
			last = e.event
		}
		if (controller.signal.aborted) return 130
		return EXIT[last ?? ''] ?? 0
	} catch (error) {
		return fail(error)
	}
}

const bar = (fraction: number | null, width = 24) => {
	const f = Math.max(0, Math.min(1, fraction ?? 0))
	const full = Math.round(f * width)
	return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(Math.round(f * 100)).padStart(3)}%`
}

/** Redraws the stream's state in place after each event. */
function liveView(stream: string) {
	let fold: Fold = emptyFold(stream, 1)
	let drawn = 0
	return (e: StreamEvent | GapEvent) => {
		if (e.event === 'gap') return
		fold = foldEvent(fold, e.id, e.event, e.data, Date.now())
		const lines = [`${stream}  ${fold.status}  (event ${e.id})`]
		if (stream.startsWith('agents/')) lines.push(`  ${bar(fold.progress)}  ${fold.message ?? ''}`)
		else
			for (const s of fold.steps.values())
				lines.push(
					`  ${s.status.padEnd(8)} ${bar(s.progress, 16)}  ${s.name ?? s.stepId}${s.agent ? ` (${s.agent})` : ''}  ${s.message ?? ''}`,
				)
		if (stream.startsWith('workflows/') && fold.message) lines.push(`  ${fold.message}`)
		process.stdout.write(
			`${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`,
		)
		drawn = lines.length
	}
}
