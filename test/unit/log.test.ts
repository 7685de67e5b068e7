import { describe, expect, it } from 'bun:test'
import { createLogger } from '../../src/log.ts'

describe('logger', () => {
	it('writes one JSON object per line, the fields after time, level and msg', async () => {
		const writes: string[] = []
		const log = createLogger((text) => writes.push(text))
		log.info('request', { method: 'GET', path: '/a"b\n', status: 200, ms: undefined })
		log.info('stopped')
		log.info('empty', {})
		// Lines logged in one turn of the event loop go out in one write, on the next.
		expect(writes).toEqual([])
		await new Promise((resolve) => setImmediate(resolve))
		expect(writes).toHaveLength(1)
		const lines = writes[0].split('\n')
		expect(lines.pop()).toBe('')
		const parsed = lines.map((l) => JSON.parse(l))
		expect(parsed.map((l) => Object.keys(l))).toEqual([
			['time', 'level', 'msg', 'method', 'path', 'status'],
			['time', 'level', 'msg'],
			['time', 'level', 'msg'],
		])
		expect(parsed[0]).toMatchObject({ level: 'info', msg: 'request', path: '/a"b\n', status: 200 })
		expect(new Date(parsed[0].time).toISOString()).toBe(parsed[0].time)
	})

	it('writes warnings and errors at once, after what was waiting', () => {
		const writes: string[] = []
		const log = createLogger((text) => writes.push(text))
		log.info('first')
		log.error('broken', { error: 'x' })
		expect(writes).toHaveLength(1)
		expect(writes[0].split('\n').map((l) => l && JSON.parse(l).msg)).toEqual([
			'first',
			'broken',
			'',
		])
	})
})
