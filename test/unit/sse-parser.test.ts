import { describe, expect, it } from 'bun:test'
import { type SseMessage, SseParser } from '../../client/src/sse.ts'

function parse(...chunks: string[]) {
	const messages: SseMessage[] = []
	const retries: number[] = []
	const parser = new SseParser(
		(m) => messages.push(m),
		(ms) => retries.push(ms),
	)
	for (const chunk of chunks) parser.push(chunk)
	return { messages, retries }
}

describe('SseParser', () => {
	it('parses the brief format, split anywhere', () => {
		const text =
			'retry: 1000\n\nid: 1\nevent: progress\ndata: {"progress":0.2}\n\n: heartbeat\n\nid: 2\nevent: complete\ndata: {}\n\n'
		const whole = parse(text)
		expect(whole.messages).toEqual([
			{ id: '1', event: 'progress', data: '{"progress":0.2}' },
			{ id: '2', event: 'complete', data: '{}' },
		])
		expect(whole.retries).toEqual([1000])
		for (let cut = 1; cut < text.length; cut++)
			expect(parse(text.slice(0, cut), text.slice(cut))).toEqual(whole)
	})

	it('takes CR, LF and CRLF line ends, joins data lines, and keeps an unnumbered event unnumbered', () => {
		const { messages } = parse(
			'event: gap\r\ndata: {"requested":3,\rdata: "firstAvailable":9}\r',
			'\n\r\n',
		)
		expect(messages).toEqual([
			{ id: undefined, event: 'gap', data: '{"requested":3,\n"firstAvailable":9}' },
		])
	})

	it('ignores messages without data and unknown fields', () => {
		expect(parse('event: x\n\nfoo: bar\ndata\n\n').messages).toEqual([
			{ id: undefined, event: 'message', data: '' },
		])
	})
})
