import { statSync } from 'node:fs'
import { createGroupCommit } from '../group-commit.ts'
import { createHealth, HEALTHY, storageFull, unavailable } from '../health.ts'
import { type AdvanceListener, IDEMPOTENCY_TTL_MS, type Store } from '../store.ts'
import { createBackup } from './backup.ts'
import { type ChunkIndexOptions, openChunkIndex } from './chunk-index.ts'
import { createWriter } from './commit.ts'
import { openDatabase, type Sqlite } from './database.ts'
import { openExecutions } from './executions.ts'
import { createPrune } from './prune.ts'
import { createReads } from './read.ts'
import { loadRows } from './rows.ts'

/**
 * The embedded engine: one SQLite file in WAL mode, owned by this process. Its parts: the
 * database and its schema (database.ts, schema.ts), the streams held in memory (rows.ts), the
 * group commit's writer (commit.ts), the reads (read.ts), retention (prune.ts) and the online
 * backup (backup.ts). Events are kept in chunk rows (chunks.ts), found through the chunk index
 * (chunk-index.ts); docs/design.md says why.
 *
 * @example
 * const store = openSqliteStore('./data/cortex-stream.db')
 * await store.append('agents/a', [{ event: 'progress', data: '{}' }])
 */
export function openSqliteStore(
	path: string,
	options: { maxBytes?: number; index?: ChunkIndexOptions } = {},
): Store {
	const db = openDatabase(path, options.maxBytes)
	const q = {
		maxSeq: db.query<{ seq: number | null }, []>('SELECT max(last_seq) AS seq FROM chunks'),
		lastSeq: db.query<{ value: number }, []>("SELECT value FROM meta WHERE key = 'last_seq'"),
		expireKeys: db.query<never, [number]>('DELETE FROM idempotency_keys WHERE created_at < ?'),
		getSecret: db.query<{ value: Uint8Array }, [string]>(
			'SELECT value FROM secrets WHERE name = ?',
		),
		putSecret: db.query<never, [string, Uint8Array]>(
			'INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)',
		),
		probe: db.query<never, [number]>(
			"INSERT OR REPLACE INTO secrets (name, value) VALUES ('health-probe', zeroblob(?))",
		),
		unprobe: db.query<never, []>("DELETE FROM secrets WHERE name = 'health-probe'"),
	}
	const index = openChunkIndex(db, options.index)
	const executions = openExecutions(db)
	// meta.last_seq is written with the index; it outlives the chunks retention deletes.
	const lastSeq = Math.max(q.lastSeq.get()?.value ?? 0, q.maxSeq.get()?.seq ?? 0)
	const sqlite: Sqlite = {
		db,
		path,
		index,
		executions,
		rows: loadRows(db, index, executions),
		seq: { committed: lastSeq, visible: lastSeq },
		listeners: new Set<AdvanceListener>(),
	}
	let closed = false

	/**
	 * A publish fails for lack of room when a page cannot be had (the disk is full, or
	 * --max-db-bytes): the probe takes as much as the last refused append needed, as an append
	 * does, and gives it back in the same transaction, which commits to the WAL like an append
	 * (unsynced: it keeps nothing).
	 */
	const health = createHealth(async (bytes) => {
		try {
			db.exec('BEGIN IMMEDIATE')
			try {
				q.probe.run(bytes)
				q.unprobe.run()
				db.exec('COMMIT')
			} finally {
				if (db.inTransaction) db.exec('ROLLBACK')
			}
			return HEALTHY
		} catch (error) {
			const message = (error as Error).message
			return (error as { code?: string }).code === 'SQLITE_FULL'
				? storageFull(`the store is full: ${message}`)
				: unavailable(`the store cannot be written: ${message}`)
		}
	})
	const writer = createWriter(sqlite)
	const commits = createGroupCommit(writer.write, health)
	const backup = createBackup(sqlite, () => closed)

	q.expireKeys.run(Date.now() - IDEMPOTENCY_TTL_MS)
	const expiry = setInterval(() => q.expireKeys.run(Date.now() - IDEMPOTENCY_TTL_MS), 3_600_000)
	expiry.unref()

	return {
		append: commits.append,
		requestCancel: commits.requestCancel,
		...createReads(sqlite),
		...createPrune(sqlite),
		backup,

		async cursor() {
			return sqlite.seq.visible
		},

		async state(stream) {
			return sqlite.rows.stateOf(stream)
		},

		subscribe(listener) {
			sqlite.listeners.add(listener)
			return () => sqlite.listeners.delete(listener)
		},

		async secret(name) {
			const found = q.getSecret.get(name)
			if (found) return new Uint8Array(found.value)
			q.putSecret.run(name, crypto.getRandomValues(new Uint8Array(32)))
			return new Uint8Array((q.getSecret.get(name) as { value: Uint8Array }).value)
		},

		health() {
			if (closed) return Promise.resolve(unavailable('the store is closed'))
			return health.current()
		},

		release() {
			if (closed) return
			sqlite.rows.recency.agents.compact()
			sqlite.rows.recency.workflows.compact()
			// The page cache still holds the pages of what was deleted; it fills again as reads need.
			db.exec('PRAGMA shrink_memory')
		},

		stats() {
			let bytes = 0
			if (path !== ':memory:')
				for (const file of [path, `${path}-wal`])
					try {
						bytes += statSync(file).size
					} catch {}
			return { bytes, commits: writer.commits, streams: sqlite.rows.committed.size }
		},

		async close() {
			if (closed) return
			closed = true
			clearInterval(expiry)
			await commits.close()
			writer.close()
			db.close()
		},
	}
}
