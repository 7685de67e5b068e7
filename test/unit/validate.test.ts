import { describe, expect, it } from 'bun:test'
import { InvalidEventError } from '../../src/errors.ts'
import { parseEventId, parseEvents } from '../../src/validate.ts'

const fieldOf = (fn: () => unknown) => {
	try {
		fn()
	} catch (error) {
		expect(error).toBeInstanceOf(InvalidEventError)
		return (error as InvalidEventError).field
	}
	throw new Error('did not throw')
}

describe('parseEvents', () => {
	it('returns compact JSON data, {} when absent, keeping key order and unknown fields', () => {
		expect(parseEvents({ event: 'progress' }, 'agents')).toEqual([
			{ event: 'progress', data: '{}' },
		])
		expect(parseEvents([{ event: 'x_1', data: { b: 1, a: [2] } }], 'agents')).toEqual([
			{ event: 'x_1', data: '{"b":1,"a":[2]}' },
		])
	})

	it('names the first bad field as a JSON Pointer', () => {
		expect(
			fieldOf(() =>
				parseEvents(
					[{ event: 'progress' }, { event: 'progress', data: { progress: 2 } }],
					'agents',
				),
			),
		).toBe('/1/data/progress')
		expect(fieldOf(() => parseEvents({ event: 'step_start', data: {} }, 'workflows'))).toBe(
			'/data/stepId',
		)
		expect(fieldOf(() => parseEvents({ event: 'progress', 'a/b~c': 1 }, 'agents'))).toBe('/a~1b~0c')
		expect(fieldOf(() => parseEvents([], 'agents'))).toBeUndefined()
	})
})

describe('parseEventId', () => {
	it('takes 1 to 15 digits; empty is absent', () => {
		expect(parseEventId('x', '')).toBeUndefined()
		expect(parseEventId('x', null)).toBeUndefined()
		expect(parseEventId('x', '0')).toBe(0)
		expect(parseEventId('x', '999999999999999')).toBe(999999999999999)
		for (const bad of ['-1', '1.5', ' 1', '1e3', '9999999999999999'])
			expect(() => parseEventId('x', bad)).toThrow()
	})
})

describe('the published schema and the validator', () => {
	it('accept and refuse the same envelopes', async () => {
		const { Value } = await import('@sinclair/typebox/value')
		const { PublishBody } = await import('../../src/events.ts')
		const samples: unknown[] = [
			{ event: 'progress' },
			{ event: 'progress', data: {} },
			[{ event: 'custom_1', data: { x: [1] } }],
			Array.from({ length: 1000 }, () => ({ event: 'progress' })),
			Array.from({ length: 1001 }, () => ({ event: 'progress' })),
			[],
			{ event: 'Progress' },
			{ event: 'progress', id: 1 },
			{ event: 'progress', date: {} },
			{ event: 'progress', data: [] },
			{ data: {} },
			'progress',
		]
		for (const sample of samples) {
			let accepted = true
			try {
				parseEvents(sample, 'workflows')
			} catch {
				accepted = false
			}
			expect([sample, Value.Check(PublishBody, sample)]).toEqual([sample, accepted])
		}
	})
})
