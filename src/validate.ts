import type { TSchema } from '@sinclair/typebox'
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler'
import { BadRequestError, InvalidEventError } from './errors.ts'
import {
	EVENT_TYPE_PATTERN,
	isStepType,
	MAX_BATCH,
	MAX_DATA_BYTES,
	MAX_DATA_DEPTH,
	type NewEvent,
	RESERVED_TYPES,
	STANDARD_EVENTS,
	type StreamKind,
} from './events.ts'

const checkers = new Map<string, TypeCheck<TSchema>>(
	Object.entries(STANDARD_EVENTS).map(([type, schema]) => [type, TypeCompiler.Compile(schema)]),
)

const ENVELOPE_KEYS = new Set(['event', 'data'])

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
	typeof value === 'object' && value !== null && !Array.isArray(value)

const utf8Length = (text: string) => Buffer.byteLength(text, 'utf8')

/** Escapes a key for a JSON Pointer (RFC 6901). */
const pointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1')

/**
 * The JSON Pointer, below `data`, of the first object or array nested deeper than
 * MAX_DATA_DEPTH (`data` itself is depth 1); undefined when there is none. Depth first, with a
 * stack of its own that never holds more than MAX_DATA_DEPTH levels, so no input can overflow
 * the call stack (JSON.stringify does, near 10,000 levels) or make the walk hold much.
 */
function tooDeep(data: Record<string, unknown>): string | undefined {
	type Level = { value: Record<string, unknown> | unknown[]; keys?: string[]; next: number }
	const level = (value: Level['value']): Level => ({
		value,
		keys: Array.isArray(value) ? undefined : Object.keys(value),
		next: 0,
	})
	const levels: Level[] = [level(data)]
	const path: string[] = []
	while (levels.length > 0) {
		const top = levels[levels.length - 1]
		const { value, keys } = top
		if (top.next >= (keys ?? (value as unknown[])).length) {
			levels.pop()
			path.pop()
			continue
		}
		const key = keys ? keys[top.next] : String(top.next)
		const child = keys ? (value as Record<string, unknown>)[key] : (value as unknown[])[top.next]
		top.next++
		if (typeof child !== 'object' || child === null) continue
		path.push(key)
		if (levels.length >= MAX_DATA_DEPTH) return `/${path.map(pointer).join('/')}`
		levels.push(level(child as Level['value']))
	}
	return undefined
}

function parseOne(item: unknown, at: string, kind: StreamKind): NewEvent {
	if (!isPlainObject(item))
		throw new InvalidEventError(
			'an event must be an object {"event": ..., "data": {...}}',
			at || undefined,
		)
	if ('id' in item)
		throw new InvalidEventError('ids are assigned by the server; do not send one', `${at}/id`)
	for (const key of Object.keys(item))
		if (!ENVELOPE_KEYS.has(key))
			throw new InvalidEventError(
				`unknown field "${key}": an event has "event" and "data"`,
				`${at}/${pointer(key)}`,
			)
	const type = item.event
	if (typeof type !== 'string' || !EVENT_TYPE_PATTERN.test(type))
		throw new InvalidEventError('"event" must match ^[a-z][a-z0-9_]{0,63}$', `${at}/event`)
	const reserved = RESERVED_TYPES.get(type)
	if (reserved) throw new InvalidEventError(`"${type}" is reserved: ${reserved}`, `${at}/event`)
	if (kind === 'agents' && isStepType(type))
		throw new InvalidEventError(
			`"${type}" belongs to workflow runs, not agent streams`,
			`${at}/event`,
		)
	const data = item.data === undefined ? {} : item.data
	if (!isPlainObject(data))
		throw new InvalidEventError('"data" must be a JSON object', `${at}/data`)
	// Very deep data cannot be stringified, by us or by whoever reads it back. A text of n
	// characters nests at most n / 2 deep, so most events skip the walk.
	let text: string | undefined
	try {
		text = JSON.stringify(data)
	} catch {
		// A RangeError: too deep for the call stack. The walk below names where.
	}
	const deep = text === undefined || text.length > 2 * MAX_DATA_DEPTH ? tooDeep(data) : undefined
	if (deep !== undefined || text === undefined)
		throw new InvalidEventError(
			`"data" is nested more than ${MAX_DATA_DEPTH} levels deep`,
			`${at}/data${deep ?? ''}`,
		)
	const checker = checkers.get(type)
	if (checker && !checker.Check(data)) {
		const first = checker.Errors(data).First()
		const path = first?.path ?? ''
		const what = path ? `"${path.slice(1)}"` : '"data"'
		throw new InvalidEventError(
			`${what} of a ${type} event: ${first?.message ?? 'invalid'}`,
			`${at}/data${path}`,
		)
	}
	if (text.length > MAX_DATA_BYTES / 4 && utf8Length(text) > MAX_DATA_BYTES)
		throw new InvalidEventError(
			`"data" is larger than ${MAX_DATA_BYTES} bytes of JSON`,
			`${at}/data`,
		)
	return { event: type, data: text }
}

/**
 * Checks a publish body (one event or an array of 1 to 1000) for a stream of `kind` and returns
 * the events to append, `data` as compact JSON text. Throws at the first fault, naming its field
 * as a JSON Pointer into the body.
 */
export function parseEvents(body: unknown, kind: StreamKind): NewEvent[] {
	if (!Array.isArray(body)) {
		if (!isPlainObject(body))
			throw new InvalidEventError(
				'the body must be an event object or an array of 1 to 1000 events',
			)
		return [parseOne(body, '', kind)]
	}
	if (body.length === 0) throw new InvalidEventError('the array of events is empty')
	if (body.length > MAX_BATCH)
		throw new InvalidEventError(
			`a batch holds at most ${MAX_BATCH} events, this one ${body.length}`,
		)
	return body.map((item, i) => parseOne(item, `/${i}`, kind))
}

/**
 * JSON text of `value` with every object's keys in sorted order: two bodies that hold the same
 * events, whatever their encoder's key order, whitespace or number spelling, give the same text.
 * Only for values `parseEvents` accepted, so nesting is bounded.
 */
export function canonicalJson(value: unknown): string {
	if (typeof value !== 'object' || value === null) return JSON.stringify(value)
	if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
	const record = value as Record<string, unknown>
	let out = ''
	for (const key of Object.keys(record).sort())
		out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${canonicalJson(record[key])}`
	return `{${out}}`
}

/**
 * Identifies a publish body for Idempotency-Key: the same events (types and data, in order) give
 * the same fingerprint, however they were encoded, and one event equals an array of that one.
 */
export function fingerprint(body: unknown): string {
	const hasher = new Bun.CryptoHasher('sha256')
	for (const item of Array.isArray(body) ? body : [body]) {
		const { event, data } = item as { event: string; data?: unknown }
		hasher
			.update(event)
			.update('\n')
			.update(canonicalJson(data ?? {}))
			.update('\n')
	}
	return hasher.digest('hex')
}

/** `Idempotency-Key`: 1 to 128 printable ASCII characters. */
export function parseIdempotencyKey(value: string | null): string | undefined {
	if (value === null) return undefined
	if (!/^[\x20-\x7e]{1,128}$/.test(value))
		throw new BadRequestError('Idempotency-Key must be 1 to 128 printable ASCII characters')
	return value
}

/** A Last-Event-ID or cursor: `^[0-9]{1,15}$`; empty counts as absent. */
export function parseEventId(name: string, value: string | null | undefined): number | undefined {
	if (value === null || value === undefined || value === '') return undefined
	if (!/^[0-9]{1,15}$/.test(value))
		throw new BadRequestError(`${name} must be a whole number of 1 to 15 digits`)
	return Number(value)
}
