/**
 * One dispatched SSE message, as the EventSource processing model defines it.
 *
 * @example
 * const m: SseMessage = { id: '3', event: 'complete', data: '{"result":"ok"}' }
 */
export interface SseMessage {
	/** The `id:` of this message, or undefined when it had none (the `gap` event). */
	id?: string
	event: string
	data: string
}

/**
 * An incremental parser of `text/event-stream`, following the WHATWG processing model: lines end
 * at CR, LF or CRLF; `data:` lines join with LF; comments are ignored; `retry:` sets the delay.
 *
 * @example
 * const parser = new SseParser((m) => console.log(m.event, m.data), (ms) => (delay = ms))
 * parser.push('id: 1\nevent: progress\ndata: {}\n\n')
 */
export class SseParser {
	private buffer = ''
	private skipLf = false
	private id: string | undefined
	private event = ''
	private data: string[] = []

	constructor(
		private readonly onMessage: (message: SseMessage) => void,
		private readonly onRetry: (ms: number) => void = () => {},
	) {}

	push(text: string) {
		let start = 0
		if (this.skipLf && text.startsWith('\n')) start = 1
		this.skipLf = false
		this.buffer += start ? text.slice(1) : text
		let from = 0
		for (;;) {
			const cr = this.buffer.indexOf('\r', from)
			const lf = this.buffer.indexOf('\n', from)
			const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf)
			if (end < 0) break
			this.line(this.buffer.slice(from, end))
			if (this.buffer[end] === '\r') {
				if (end + 1 === this.buffer.length) this.skipLf = true
				else if (this.buffer[end + 1] === '\n') {
					from = end + 2
					continue
				}
			}
			from = end + 1
		}
		this.buffer = this.buffer.slice(from)
	}

	private line(line: string) {
		if (line === '') return this.dispatch()
		if (line.startsWith(':')) return
		const colon = line.indexOf(':')
		const field = colon < 0 ? line : line.slice(0, colon)
		let value = colon < 0 ? '' : line.slice(colon + 1)
		if (value.startsWith(' ')) value = value.slice(1)
		if (field === 'data') this.data.push(value)
		else if (field === 'event') this.event = value
		else if (field === 'id' && !value.includes('\0')) this.id = value
		else if (field === 'retry' && /^[0-9]+$/.test(value)) this.onRetry(Number(value))
	}

	private dispatch() {
		if (this.data.length > 0)
			this.onMessage({ id: this.id, event: this.event || 'message', data: this.data.join('\n') })
		this.id = undefined
		this.event = ''
		this.data = []
	}
}
