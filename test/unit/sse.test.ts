import { describe, expect, it } from 'bun:test'
import {
	concatBytes,
	eachFrame,
	encodeEvent,
	encodeRetry,
	encodeUnnumbered,
	HEARTBEAT,
	nextFrame,
	skipFrames,
	toBytes,
} from '../../client/src/sse.ts'

describe('sse wire format', () => {
	it('encodes an event as the brief shows it', () => {
		expect(
			encodeEvent(3, 'complete', '{"result":"Task completed successfully","duration":12500}'),
		).toBe(
			'id: 3\nevent: complete\ndata: {"result":"Task completed successfully","duration":12500}\n\n',
		)
	})

	it('encodes the retry line, an unnumbered event and the heartbeat comment', () => {
		expect(encodeRetry(1000)).toBe('retry: 1000\n\n')
		expect(encodeUnnumbered('gap', '{"requested":3,"firstAvailable":9}')).toBe(
			'event: gap\ndata: {"requested":3,"firstAvailable":9}\n\n',
		)
		expect(new TextDecoder().decode(HEARTBEAT)).toBe(': heartbeat\n\n')
	})

	it('joins frames into one chunk', () => {
		const parts = [new Uint8Array([1, 2]), new Uint8Array([]), new Uint8Array([3])]
		expect([...concatBytes(parts)]).toEqual([1, 2, 3])
		expect(concatBytes([parts[0]])).toBe(parts[0])
	})

	it('finds the server’s own frames back to back by the blank line that ends each', () => {
		const events: Array<[number, string, string]> = [
			[7, 'progress', '{"message":"a\\nb"}'],
			[8, 'tool_call', '{"x":"日本"}'],
			[9, 'complete', '{}'],
		]
		const frames = toBytes(events.map(([id, e, d]) => encodeEvent(id, e, d)).join(''))
		const first = toBytes(encodeEvent(...events[0])).byteLength
		expect(nextFrame(frames, 0)).toBe(first)
		expect(skipFrames(frames, 0, 3)).toBe(frames.byteLength)
		const seen: Array<[number, string, string]> = []
		eachFrame(frames, 7, 8, 9, (id, event, data) => seen.push([id, event, data]))
		expect(seen).toEqual(events.slice(1))
	})
})
