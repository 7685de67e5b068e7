import { describe, expect, it } from 'bun:test'
import { LineSplitter, readLine } from '../../src/commands/run/lines.ts'

const encoder = new TextEncoder()

function split(chunks: Array<string | Uint8Array>, max?: number) {
	const splitter = new LineSplitter(max)
	const lines: string[] = []
	for (const chunk of chunks)
		lines.push(...splitter.push(typeof chunk === 'string' ? encoder.encode(chunk) : chunk))
	lines.push(...splitter.end())
	return lines
}

/** Every way of cutting `text` in two, as reads from a pipe may. */
function everyCut(text: string) {
	const bytes = encoder.encode(text)
	return Array.from({ length: bytes.length + 1 }, (_, i) => [bytes.slice(0, i), bytes.slice(i)])
}

describe('LineSplitter', () => {
	it('ends a line at \\n, \\r\\n and a lone \\r, however the output is cut', () => {
		const text = 'one\r\ntwo\n10%\r20%\r30%\n\nlast'
		for (const chunks of everyCut(text))
			expect(split(chunks)).toEqual(['one', 'two', '10%', '20%', '30%', '', 'last'])
	})

	it('makes no empty line of the \\r that starts a redraw, but keeps an empty \\n line', () => {
		expect(split(['\r10%\r20%\r\n', '\n', 'x\r\r\n'])).toEqual(['10%', '20%', '', 'x'])
	})

	it('splits a line longer than the bound, never inside a character', () => {
		expect(split(['abcdefg\n'], 3)).toEqual(['abc', 'def', 'g'])
		expect(split(['a😀b\n'], 2)).toEqual(['a', '😀', 'b'])
		// Output without any line end is still cut into lines as it comes, not held whole.
		const splitter = new LineSplitter(4)
		expect(splitter.push(encoder.encode('x'.repeat(10)))).toEqual(['xxxx', 'xxxx'])
		expect(splitter.end()).toEqual(['xx'])
	})

	it('decodes UTF-8 split across reads', () => {
		for (const chunks of everyCut('é€😀\n')) expect(split(chunks)).toEqual(['é€😀'])
	})
})

describe('readLine', () => {
	it('reads ::progress as the progress and the message', () => {
		expect(readLine('::progress 0.4 Writing code')).toEqual({
			progress: 0.4,
			message: 'Writing code',
		})
		expect(readLine('::progress 1')).toEqual({ progress: 1 })
		expect(readLine('::progress\t.5  two  spaces')).toEqual({
			progress: 0.5,
			message: 'two  spaces',
		})
		expect(readLine('::progressive')).toEqual({ message: '::progressive' })
		expect(readLine('say ::progress 0.4')).toEqual({ message: 'say ::progress 0.4' })
	})

	it('sends a ::progress it cannot read as a message, with a warning', () => {
		expect(readLine('::progress 1.5 too far')).toEqual({
			message: '::progress 1.5 too far',
			warning: '::progress 1.5 is outside 0..1; sent as a message',
		})
		expect(readLine('::progress -0.1')).toMatchObject({ message: '::progress -0.1' })
		expect(readLine('::progress 50% half')).toEqual({
			message: '::progress 50% half',
			warning: '::progress 50% is not a number; sent as a message',
		})
		expect(readLine('::progress 0x1')).toMatchObject({
			warning: '::progress 0x1 is not a number; sent as a message',
		})
		expect(readLine('::progress ')).toMatchObject({
			warning: '::progress needs a number from 0 to 1; sent as a message',
		})
	})
})
