import { describe, expect, it } from 'bun:test'
import { encodeEvent } from '../../src/events.ts'
import { concatBytes, encodeRetry, encodeUnnumbered, HEARTBEAT } from '../../src/streams/sse.ts'

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
})
