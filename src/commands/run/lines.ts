/** The longest line kept whole, in UTF-16 units; a longer one is split into lines this long. */
export const MAX_LINE = 8192

/**
 * Splits a command's output into lines as a terminal shows them: `\n`, `\r\n` and a lone `\r`
 * each end one, so that a progress bar redrawn with `\r` gives one line per state. A line is
 * never longer than `max`, so output without any line end cannot grow memory without bound.
 */
export class LineSplitter {
	private readonly decoder = new TextDecoder()
	private partial = ''
	// A `\r` ended the last line; a `\n` right after it belongs to the same line end.
	private afterCr = false

	constructor(private readonly max = MAX_LINE) {}

	/** The lines that `chunk` completes. */
	push(chunk: Uint8Array): string[] {
		return this.split(this.decoder.decode(chunk, { stream: true }))
	}

	/** The last line, if the output did not end with a line end. */
	end(): string[] {
		const lines = this.split(this.decoder.decode())
		if (this.partial !== '') lines.push(this.partial)
		this.partial = ''
		return lines
	}

	private split(text: string): string[] {
		const lines: string[] = []
		let start = 0
		for (let i = 0; i < text.length; i++) {
			const c = text.charCodeAt(i)
			if (c !== 10 && c !== 13) {
				this.afterCr = false
				continue
			}
			const line = this.partial + text.slice(start, i)
			this.partial = ''
			start = i + 1
			if (c === 10 && this.afterCr && line === '') {
				this.afterCr = false
				continue
			}
			// `\r` at the start of a redraw ends nothing that was shown: no empty line for it.
			if (c === 10 || line !== '') lines.push(...this.bounded(line))
			this.afterCr = c === 13
		}
		this.partial += text.slice(start)
		if (this.partial.length > this.max) {
			const pieces = this.bounded(this.partial)
			this.partial = pieces.pop() ?? ''
			lines.push(...pieces)
		}
		return lines
	}

	private bounded(line: string): string[] {
		const pieces: string[] = []
		let rest = line
		while (rest.length > this.max) {
			// Never between the two halves of a surrogate pair.
			const high = rest.charCodeAt(this.max - 1)
			const cut = high >= 0xd800 && high <= 0xdbff && this.max > 1 ? this.max - 1 : this.max
			pieces.push(rest.slice(0, cut))
			rest = rest.slice(cut)
		}
		pieces.push(rest)
		return pieces
	}
}

/** A line of the command's output, read as what it asks to be published. */
export type Report = { progress: number; message?: string } | { message: string; warning?: string }

const DIRECTIVE = /^::progress(?:\s+(\S*)\s*(.*))?$/s
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i

/**
 * `::progress 0.4 Writing code` sets the progress (and the message); any other line is a
 * message. A `::progress` whose value is not a number from 0 to 1 is sent as the message it
 * is, with a warning to say so.
 */
export function readLine(line: string): Report {
	const match = DIRECTIVE.exec(line)
	if (!match) return { message: line }
	const [, value = '', message] = match
	if (value === '')
		return { message: line, warning: '::progress needs a number from 0 to 1; sent as a message' }
	if (!NUMBER.test(value))
		return { message: line, warning: `::progress ${value} is not a number; sent as a message` }
	const progress = Number(value)
	if (progress < 0 || progress > 1)
		return { message: line, warning: `::progress ${value} is outside 0..1; sent as a message` }
	return message ? { progress, message } : { progress }
}
