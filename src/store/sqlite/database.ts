import { Database } from 'bun:sqlite'
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { AdvanceListener } from '../store.ts'
import type { ChunkIndex } from './chunk-index.ts'
import type { Executions } from './executions.ts'
import type { StreamRows } from './rows.ts'
import { checkOwnership, migrate } from './schema.ts'

/** What the parts of the SQLite engine (commit, read, prune, backup) share. */
export interface Sqlite {
	db: Database
	/** The database file, or `:memory:`. */
	path: string
	index: ChunkIndex
	rows: StreamRows
	executions: Executions
	/** The global cursor: the last seq committed, and the last made durable, which readers see. */
	seq: { committed: number; visible: number }
	listeners: Set<AdvanceListener>
}

/** WAL pages between checkpoints. */
export const AUTOCHECKPOINT_PAGES = 4096

/**
 * SQLite needs to write the database file and to create its -wal file beside it; told it may
 * not, it says only "disk I/O error" or "unable to open database file". Say which instead.
 */
function writableOrSay(path: string) {
	const dir = dirname(path)
	try {
		accessSync(dir, constants.W_OK)
	} catch {
		throw new Error(
			`the database directory ${dir} is not writable: the server needs to create and write its files there (${basename(path)}, ${basename(path)}-wal)`,
		)
	}
	if (existsSync(path))
		try {
			accessSync(path, constants.W_OK | constants.R_OK)
		} catch {
			throw new Error(`the database file ${path} is not writable by this user`)
		}
}

/**
 * Opens (or creates) the database file for this process alone, checks it is ours, and brings
 * it to the current schema. Durability: `synchronous=NORMAL`, so a COMMIT only writes the WAL;
 * the commit module fsyncs it itself, off the event loop (see commit.ts).
 */
export function openDatabase(path: string, maxBytes: number | undefined): Database {
	if (path !== ':memory:') {
		mkdirSync(dirname(path), { recursive: true })
		writableOrSay(path)
	}
	const db = new Database(path, { create: true, strict: true })
	try {
		// One process owns the file: its in-memory ids would collide with a second writer's.
		// EXCLUSIVE also spares every transaction the file locks and the shared-memory index.
		db.exec('PRAGMA locking_mode = EXCLUSIVE')
		db.exec('PRAGMA busy_timeout = 1000')
		checkOwnership(db)
		db.exec('PRAGMA journal_mode = WAL')
		db.exec('PRAGMA synchronous = NORMAL')
		db.exec('PRAGMA cache_size = -65536')
		if (maxBytes !== undefined) {
			const { page_size: pageSize } = db.query('PRAGMA page_size').get() as { page_size: number }
			db.exec(`PRAGMA max_page_count = ${Math.max(1, Math.floor(maxBytes / pageSize))}`)
		}
		// Checkpoints run inside a COMMIT, on the event loop: fewer, larger ones copy each hot page
		// once (see docs/performance.md).
		db.exec(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`)
		db.exec('BEGIN IMMEDIATE')
		db.exec('COMMIT')
		migrate(db)
		return db
	} catch (error) {
		db.close()
		if ((error as { code?: string }).code === 'SQLITE_BUSY')
			throw new Error(
				`the database ${path} is in use by another cortex-stream server (SQLite keeps it locked while one runs); stop that server or give this one its own --db`,
			)
		throw error
	}
}
