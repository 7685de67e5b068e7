import { Database } from 'bun:sqlite'
import { describe, expect, it } from 'bun:test'
import {
	BadRequestError,
	InsufficientStorageError,
	StoreUnavailableError,
} from '../../src/errors.ts'
import { storeFault } from '../../src/store/faults.ts'

const sqliteError = (sql: string) => {
	const db = new Database(':memory:')
	try {
		db.exec(sql)
	} catch (error) {
		return error
	} finally {
		db.close()
	}
	throw new Error('no error')
}

describe('store faults', () => {
	it('are statuses when they come from outside the process: 507 for no room, else 503', () => {
		const full = Object.assign(new Error('database or disk is full'), {
			name: 'SQLiteError',
			code: 'SQLITE_FULL',
		})
		expect(storeFault(full)).toBeInstanceOf(InsufficientStorageError)
		expect(storeFault(Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toBeInstanceOf(
			InsufficientStorageError,
		)
		const pgFull = Object.assign(new Error('could not extend file'), {
			name: 'PostgresError',
			code: 'ERR_POSTGRES_SERVER_ERROR',
			errno: '53100',
		})
		expect(storeFault(pgFull)).toBeInstanceOf(InsufficientStorageError)
		const gone = storeFault(
			Object.assign(new Error('Connection closed'), { code: 'ERR_POSTGRES_CONNECTION_CLOSED' }),
		)
		expect(gone).toBeInstanceOf(StoreUnavailableError)
		expect((gone as StoreUnavailableError).headers).toEqual({ 'Retry-After': '2' })
		const busy = Object.assign(new Error('database is locked'), {
			name: 'SQLiteError',
			code: 'SQLITE_BUSY',
		})
		expect(storeFault(busy)).toBeInstanceOf(StoreUnavailableError)
		const shutdown = Object.assign(new Error('terminating connection'), {
			name: 'PostgresError',
			code: 'ERR_POSTGRES_SERVER_ERROR',
			errno: '57P01',
		})
		expect(storeFault(shutdown)).toBeInstanceOf(StoreUnavailableError)
		expect(
			storeFault(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })),
		).toBeInstanceOf(StoreUnavailableError)
	})

	it('leave our own refusals and our own bugs as they are', () => {
		const refusal = new BadRequestError('no')
		expect(storeFault(refusal)).toBe(refusal)
		const bug = new TypeError('undefined is not an object')
		expect(storeFault(bug)).toBe(bug)
		const internal = Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG_TYPE' })
		expect(storeFault(internal)).toBe(internal)
		// SQL the database rejects as such is ours to fix, not the store's to be away.
		const sql = sqliteError('SELECT * FROM nowhere')
		expect(storeFault(sql)).toBe(sql)
		const syntax = Object.assign(new Error('syntax error'), {
			name: 'PostgresError',
			code: 'ERR_POSTGRES_SERVER_ERROR',
			errno: '42601',
		})
		expect(storeFault(syntax)).toBe(syntax)
	})
})
