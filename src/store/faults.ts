import { CortexError, InsufficientStorageError, StoreUnavailableError } from '../errors.ts'
import type { Store } from './store.ts'

/**
 * What the drivers say for "no room": SQLite's SQLITE_FULL, Postgres' 53100, the kernel's
 * ENOSPC, EDQUOT (a quota) and EFBIG (a file past its size limit).
 */
const FULL = new Set(['SQLITE_FULL', '53100', 'ENOSPC', 'EDQUOT', 'EFBIG'])

/** SQLite's codes for what the file, the disk or another process did; any other is a bug of ours. */
const SQLITE_EXTERNAL =
	/^SQLITE_(IOERR|BUSY|LOCKED|FULL|READONLY|CANTOPEN|CORRUPT|NOTADB|NOMEM|PROTOCOL)/
/**
 * Postgres' SQLSTATE classes for the connection (08), resources (53), an operator or a
 * shutdown (57), the system (58), a replica's read-only transactions (25006) and conflicts
 * worth a retry (40).
 */
const POSTGRES_EXTERNAL = /^(08|53|57|58|40)|^25006$/

/**
 * Whether an error comes from outside the process: the disk, the database's server or the
 * connection to it. A TypeError, or SQL the database rejects as such, is a bug of ours and
 * stays a 500.
 */
function external(error: unknown): string | undefined {
	if (!(error instanceof Error)) return undefined
	const { code, errno } = error as { code?: unknown; errno?: unknown }
	if (error.name === 'SQLiteError')
		return typeof code === 'string' && SQLITE_EXTERNAL.test(code) ? code : undefined
	if (error.name === 'PostgresError' && typeof errno === 'string')
		return POSTGRES_EXTERNAL.test(errno) ? errno : undefined
	if (typeof code === 'string' && (code.startsWith('ERR_POSTGRES') || /^E[A-Z]+$/.test(code)))
		return code
	return undefined
}

/** The status a store fault answers with: 507 for no room, 503 with Retry-After for the rest. */
export function storeFault(error: unknown): unknown {
	if (error instanceof CortexError) return error
	const reason = external(error)
	if (reason === undefined) return error
	if (FULL.has(reason))
		return new InsufficientStorageError('the store has no room left; nothing was written')
	return new StoreUnavailableError(`the store cannot be reached or written now (${reason})`)
}

const rethrow = (error: unknown) => {
	throw storeFault(error)
}

/**
 * The store as the routes see it: every fault outside the process comes out as a status (a
 * full disk 507, anything else 503 with Retry-After), never as a driver's error and a 500.
 */
export function withFaultStatuses(store: Store): Store {
	return {
		append: (...a) => store.append(...a).catch(rethrow),
		requestCancel: (...a) => store.requestCancel(...a).catch(rethrow),
		read: (...a) => store.read(...a).catch(rethrow),
		readIds: (...a) => store.readIds(...a).catch(rethrow),
		readFrames: (...a) => store.readFrames(...a).catch(rethrow),
		readAll: (...a) => store.readAll(...a).catch(rethrow),
		cursor: () => store.cursor().catch(rethrow),
		state: (...a) => store.state(...a).catch(rethrow),
		list: (...a) => store.list(...a).catch(rethrow),
		counts: (...a) => store.counts(...a).catch(rethrow),
		executions: (...a) => store.executions(...a).catch(rethrow),
		subscribe: (listener) => store.subscribe(listener),
		prunable: (...a) => store.prunable(...a).catch(rethrow),
		prune: (...a) => store.prune(...a).catch(rethrow),
		keptAfter: (...a) => store.keptAfter(...a).catch(rethrow),
		backup: (...a) => store.backup(...a).catch(rethrow),
		health: () => store.health(),
		secret: (...a) => store.secret(...a).catch(rethrow),
		release: () => store.release(),
		stats: () => store.stats(),
		close: () => store.close(),
	}
}
