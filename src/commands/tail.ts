import { type GapEvent, type StreamEvent, subscribe } from '../../client/src/index.ts'
import { emptyFold, type Fold, foldEvent } from '../../client/src/runs.ts'
import { ConfigError, UsageError } from '../config.ts'
import {
	CLIENT_FLAG_ROWS,
	type CliSettings,
	checkStream,
	clientArgs,
	fail,
	noticeOutages,
	table,
} from './client-args.ts'

export const TAIL_HELP = `Usage: cortex-stream tail <agents/NAME|workflows/ID> [--last-event-id N]

Follows a stream until its run ends, reconnecting by itself, and waiting for the server when it
is down. On a terminal, a live view: a progress bar for an agent, a line per workflow step with
its state and bar, and the latest message. Piped, one JSON event per line:
{"id":..,"event":..,"data":{..}}. Exits 0 after complete, 1 after failed, 3 after cancelled.

${table([...CLIENT_FLAG_ROWS, ['--last-event-id N', 'resume after this id']])}
`

const EXIT: Record<string, number> = { complete: 0, failed: 1, cancelled: 3 }

/** `cortex-stream tail`. */
export async function tailCommand(
	args: string[],
	env: Record<string, string | undefined>,
): Promise<number> {
	let settings: CliSettings | undefined
	try {
		const parsed = clientArgs(args, env, ['last-event-id'])
		settings = parsed.settings
		const [stream, ...extra] = parsed.positional
		if (!stream || extra.length > 0) throw new UsageError('usage: cortex-stream tail <stream>')
		checkStream(stream)
		const from = parsed.flags['last-event-id']
		if (from !== undefined && (from === true || !/^[0-9]{1,15}$/.test(from)))
			throw new ConfigError('--last-event-id must be a whole number')
		const controller = new AbortController()
		process.once('SIGINT', () => controller.abort())
		const view = process.stdout.isTTY ? liveView(stream) : undefined
		const watched = noticeOutages(
			settings,
			'waiting for the server to come up, retrying until it does',
			() => {
				// A notice on the same terminal moved the cursor: the view starts again below it.
				if (process.stderr.isTTY) view?.detach()
			},
		)
		let last: string | undefined
		for await (const e of subscribe(stream, {
			...watched,
			lastEventId: from === undefined ? undefined : Number(from),
			signal: controller.signal,
		})) {
			if (view) view.draw(e as StreamEvent)
			else console.log(JSON.stringify(e.id === undefined ? { event: e.event, data: e.data } : e))
			last = e.event
		}
		if (controller.signal.aborted) return 130
		return EXIT[last ?? ''] ?? 0
	} catch (error) {
		return fail(error, { command: 'tail', settings })
	}
}

const bar = (fraction: number | null, width = 24) => {
	const f = Math.max(0, Math.min(1, fraction ?? 0))
	const full = Math.round(f * width)
	return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(Math.round(f * 100)).padStart(3)}%`
}

/**
 * Redraws the stream's state in place after each event, by moving the cursor up over the lines
 * drawn last time. That works only if each line takes one row of the terminal and all of them
 * fit on the screen, so lines are cut to the width and the steps to the height.
 */
function liveView(stream: string) {
	let fold: Fold = emptyFold(stream, 1)
	let drawn = 0
	return {
		draw(e: StreamEvent | GapEvent) {
			if (e.event === 'gap') return
			fold = foldEvent(fold, e.id, e.event, e.data, Date.now())
			let lines = [`${stream}  ${fold.status}  (event ${e.id})`]
			if (stream.startsWith('agents/')) lines.push(`  ${bar(fold.progress)}  ${fold.message ?? ''}`)
			else
				for (const s of fold.steps.values())
					lines.push(
						`  ${s.status.padEnd(8)} ${bar(s.progress, 16)}  ${s.name ?? s.stepId}${s.agent ? ` (${s.agent})` : ''}  ${s.message ?? ''}`,
					)
			if (stream.startsWith('workflows/') && fold.message) lines.push(`  ${fold.message}`)
			const rows = process.stdout.rows ?? 0
			// The first line and the latest steps; the cursor cannot move up past the screen's top.
			if (rows > 3 && lines.length > rows - 1) {
				const shown = rows - 3
				lines = [lines[0], `  … ${lines.length - 1 - shown} earlier steps`, ...lines.slice(-shown)]
			}
			// One column spare: some terminals wrap as soon as the last column is written.
			const columns = (process.stdout.columns ?? 0) - 1
			if (columns > 0) lines = lines.map((l) => fit(l, columns))
			process.stdout.write(
				`${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n\x1b[J`,
			)
			drawn = lines.length
		},
		/** Something was printed below the view: the next draw goes below that, not over it. */
		detach() {
			drawn = 0
		},
	}
}

const graphemes = new Intl.Segmenter()

/**
 * `text` in at most `columns` columns of a terminal, cut with an ellipsis; control characters
 * (a newline, an escape sequence in a message) become spaces, as they would move the cursor.
 */
function fit(text: string, columns: number): string {
	// Only the start of a long message can be shown: each redraw looks at no more than that.
	const head = text.length > columns * 4 ? text.slice(0, columns * 4) : text
	let clean = ''
	for (const c of head) clean += c < ' ' || (c >= '\x7f' && c <= '\x9f') ? ' ' : c
	if (head === text && Bun.stringWidth(clean) <= columns) return clean
	let out = ''
	let used = 0
	for (const { segment } of graphemes.segment(clean)) {
		const width = Bun.stringWidth(segment)
		if (used + width > columns - 1) break
		out += segment
		used += width
	}
	return `${out}…`
}
