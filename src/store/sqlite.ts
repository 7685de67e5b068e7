import { Database } from 'bun:sqlite'
import {
	accessSync,
	closeSync,
	constants,
	existsSync,
	fsync,
	mkdirSync,
	openSync,
	statSync,
} from 'node:fs'
import { copyFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import {
	BadRequestError,
	CortexError,
	IdempotencyConflictError,
	StoreUnavailableError,
} from '../errors.ts'
import type { StoredEvent, StreamKind } from '../events.ts'
import { eachFrame, nextFrame, skipFrames } from '../sse.ts'
import { advance, bytesOf, follow, isWorkflowRun, NEW_RUN, type Pending, stamp } from './advance.ts'
import {
	addPlace,
	type ChunkIndexOptions,
	type ChunkPlaces,
	type ChunkRow,
	openChunkIndex,
} from './chunk-index.ts'
import { toChunks } from './chunks.ts'
import { createHealth, HEALTHY, storageFull, unavailable } from './health.ts'
import { createRecency } from './recency.ts'
import { checkOwnership, migrate } from './schema.ts'
import {
	type AdvanceListener,
	type AppendResult,
	type EncodedEvent,
	type FeedEvent,
	IDEMPOTENCY_TTL_MS,
	type RunStatus,
	type Store,
	type StreamState,
} from './store.ts'

/** Rows per query of the streams retention emptied, when a list page merges them in. */
const PAGE_BATCH = 256

/** Events deleted per transaction when pruning. */
const PRUNE_BATCH = 1000

/** A stream as the engine keeps it: its state, its key, and the global cursor of its last event. */
interface Row extends StreamState {
	key: number
	lastSeq: number
}

/** A row of the streams table. */
interface StreamRow {
	key: number
	name: string
	last_id: number
	status: RunStatus
	execution_start: number
	first_id: number
	created_at: number
	updated_at: number
	snapshot: string | null
	last_seq: number
}

const toRow = (r: StreamRow): Row => ({
	key: r.key,
	name: r.name,
	lastId: r.last_id,
	status: r.status,
	executionStart: r.execution_start,
	firstId: r.first_id,
	createdAt: r.created_at,
	updatedAt: r.updated_at,
	lastSeq: r.last_seq,
})

const bySeq = (a: Row, b: Row) => a.lastSeq - b.lastSeq

/** Where a list page starts, as `next` says: the last seq of the page before's last stream. */
function parsePage(page: string | undefined): number {
	if (page === undefined) return Number.POSITIVE_INFINITY
	if (!/^[0-9]{1,15}$/.test(page))
		throw new BadRequestError('page must be the "next" of the page before', 'page')
	return Number(page)
}

/** The first seq of a chunk: its ids and seqs both run without gaps. */
const firstSeq = (c: ChunkRow) => c.last_seq - (c.last_id - c.first_id)

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

/** WAL pages between checkpoints. */
const AUTOCHECKPOINT_PAGES = 4096

/**
 * The embedded engine: one SQLite file in WAL mode.
 *
 * Durability, equivalent to `synchronous=FULL` but without stalling the event loop: SQLite runs
 * with `synchronous=NORMAL`, so COMMIT only write()s its frames to the WAL, and this module
 * then fsyncs the WAL file itself, off the main thread (`fs.fsync` runs on the I/O pool). An
 * append resolves, and its events become readable and are fanned out, only after an fsync that
 * began after its COMMIT has returned, so the `201` still means "on disk, power loss
 * included". With NORMAL, SQLite still fsyncs the WAL before each checkpoint and the database
 * after it, so the checkpointed copy is as durable as the WAL. (bun:sqlite is synchronous:
 * with FULL, each fsync would block every request and stream for its whole duration.)
 *
 * Group commit: `append` only queues. Requests that arrive together share one transaction, and
 * every transaction committed while an fsync is in flight shares the next fsync.
 */
export function openSqliteStore(
	path: string,
	options: { maxBytes?: number; index?: ChunkIndexOptions } = {},
): Store {
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
		if (options.maxBytes !== undefined) {
			const { page_size: pageSize } = db.query('PRAGMA page_size').get() as { page_size: number }
			db.exec(`PRAGMA max_page_count = ${Math.max(1, Math.floor(options.maxBytes / pageSize))}`)
		}
		// Checkpoints run inside a COMMIT, on the event loop: fewer, larger ones copy each hot page
		// once (bun run bench ingest: 16.4k -> 19.3k single-event publishes/s; batch p99 24 -> 29 ms).
		db.exec(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`)
		db.exec('BEGIN IMMEDIATE')
		db.exec('COMMIT')
		migrate(db)
	} catch (error) {
		db.close()
		if ((error as { code?: string }).code === 'SQLITE_BUSY')
			throw new Error(
				`the database ${path} is in use by another server (SQLite keeps it locked while one runs); stop that server or give this one its own --db`,
			)
		throw error
	}

	const q = {
		// Streams with events kept: the ones held in memory. (A row inserted by a commit whose
		// other writes are not in the table yet says last_id 0; the chunks bring it up to date.)
		liveStreams: db.query<StreamRow, []>('SELECT * FROM streams WHERE first_id <= last_id'),
		streamByName: db.query<StreamRow, [string]>('SELECT * FROM streams WHERE name = ?'),
		streamByKey: db.query<StreamRow, [number]>('SELECT * FROM streams WHERE key = ?'),
		snapshotOf: db.query<{ snapshot: string | null }, [number]>(
			'SELECT snapshot FROM streams WHERE key = ?',
		),
		// Streams retention emptied, which are not kept in memory, newest first: the lists' other source.
		prunedPage: db.query<StreamRow, [string, string, number, number]>(
			`SELECT * FROM streams WHERE name > ? AND name < ? AND first_id > last_id AND last_id > 0
			 AND last_seq < ? ORDER BY last_seq DESC LIMIT ?`,
		),
		insertStream: db.query<{ key: number }, [string, number, string, number, number, number]>(
			`INSERT INTO streams (name, last_id, status, execution_start, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?) RETURNING key`,
		),
		updateStream: db.query<never, [number, string, number, number, number, number]>(
			`UPDATE streams SET last_id = ?, status = ?, execution_start = ?, updated_at = ?, last_seq = ?
			 WHERE key = ?`,
		),
		// Oldest first, with what `advance` needs: the stream rows' catch-up on open.
		chunksAfter: db.query<
			{
				stream: number
				first_id: number
				last_id: number
				last_seq: number
				created_at: number
				frames: Uint8Array
			},
			[number]
		>(
			'SELECT stream, first_id, last_id, last_seq, created_at, frames FROM chunks WHERE last_seq > ? ORDER BY last_seq',
		),
		maxSeq: db.query<{ seq: number | null }, []>('SELECT max(last_seq) AS seq FROM chunks'),
		insertChunk: db.query<
			never,
			[number, number, number, number, number, number | null, Uint8Array]
		>(
			`INSERT INTO chunks (stream, last_id, first_id, last_seq, created_at, last_end, frames)
			 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		),
		chunksAll: db.query<ChunkRow & { name: string }, [number, number]>(
			`SELECT c.first_id, c.last_id, c.last_seq, c.created_at, c.frames, s.name
			 FROM chunks c JOIN streams s ON s.key = c.stream
			 WHERE c.last_seq > ? AND c.last_seq <= ? ORDER BY c.last_seq`,
		),
		findKey: db.query<
			{ fingerprint: string; first_id: number; count: number; created_at: number },
			[number, string]
		>(
			'SELECT fingerprint, first_id, count, created_at FROM idempotency_keys WHERE stream = ? AND key = ?',
		),
		insertKey: db.query<never, [number, string, string, number, number, number]>(
			`INSERT OR REPLACE INTO idempotency_keys (stream, key, fingerprint, first_id, count, created_at)
			 VALUES (?, ?, ?, ?, ?, ?)`,
		),
		expireKeys: db.query<never, [number]>('DELETE FROM idempotency_keys WHERE created_at < ?'),
		// The last terminal event stored before a time: through the index, then, for every stream
		// at once, in the chunks the index does not hold yet (at most a second of them).
		lastEndBefore: db.query<{ id: number | null }, [number, number]>(
			`SELECT max(c.last_end) AS id FROM chunk_index i JOIN chunks c ON c.last_seq = i.last_seq
			 WHERE i.stream = ? AND c.created_at < ?`,
		),
		lastEndsWaiting: db.query<[number, number | null], [number, number]>(
			`SELECT stream, max(last_end) FROM chunks WHERE last_seq > ? AND created_at < ?
			 GROUP BY stream`,
		),
		deleteChunks: db.query<never, [number, number]>(
			`DELETE FROM chunks WHERE last_seq IN
			 (SELECT last_seq FROM chunk_index WHERE stream = ? AND last_id <= ?)`,
		),
		deleteIndex: db.query<never, [number, number]>(
			'DELETE FROM chunk_index WHERE stream = ? AND last_id <= ?',
		),
		chunkAt: db.query<
			{ last_seq: number; first_id: number; last_end: number | null; frames: Uint8Array },
			[number, number]
		>(
			`SELECT c.last_seq, c.first_id, c.last_end, c.frames
			 FROM chunk_index i JOIN chunks c ON c.last_seq = i.last_seq
			 WHERE i.stream = ? AND i.last_id > ? ORDER BY i.last_id LIMIT 1`,
		),
		chunkForTrim: db.query<
			{ last_seq: number; first_id: number; last_end: number | null; frames: Uint8Array },
			[number]
		>('SELECT last_seq, first_id, last_end, frames FROM chunks WHERE last_seq = ?'),
		deleteChunk: db.query<never, [number]>('DELETE FROM chunks WHERE last_seq = ?'),
		trimChunk: db.query<never, [number, number | null, Uint8Array, number]>(
			'UPDATE chunks SET first_id = ?, last_end = ?, frames = ? WHERE last_seq = ?',
		),
		pruned: db.query<never, [number, string, number, string, number, number, number, number]>(
			`UPDATE streams SET first_id = ?, snapshot = ?, last_id = ?, status = ?, execution_start = ?,
			 updated_at = ?, last_seq = ? WHERE key = ?`,
		),
		// A chunk's events are consecutive: the first kept after a seq is in the first chunk that
		// ends past it, at that seq + 1 if the chunk holds it, else at the chunk's first event.
		keptAfter: db.query<{ seq: number; created_at: number }, [number]>(
			`SELECT max(last_seq - (last_id - first_id), ?1 + 1) AS seq, created_at FROM chunks
			 WHERE last_seq > ?1 ORDER BY last_seq LIMIT 1`,
		),
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
		lastSeq: db.query<{ value: number }, []>("SELECT value FROM meta WHERE key = 'last_seq'"),
		setLastSeq: db.query<never, [number]>("UPDATE meta SET value = ? WHERE key = 'last_seq'"),
	}

	// The process is the only writer, so the rows of the streams with events kept live in memory
	// (a stream retention emptied is read from the table when asked for, and comes back in when
	// appended to). The table is written with the chunk index, not with each commit (see
	// `flush`): on open, the chunks the index does not hold yet bring its rows up to date. `rows`
	// is the state as committed; `visible` as made durable, which readers see.
	const rows = new Map<string, Row>()
	const visible = new Map<string, Row>()
	for (const r of q.liveStreams.iterate()) rows.set(r.name, toRow(r))
	const index = openChunkIndex(db, options.index)
	const byKey = new Map([...rows.values()].map((r) => [r.key, r]))
	for (const c of q.chunksAfter.iterate(index.indexedSeq())) {
		let row = byKey.get(c.stream)
		if (!row) {
			row = toRow(q.streamByKey.get(c.stream) as StreamRow)
			byKey.set(row.key, row)
			rows.set(row.name, row)
		}
		// Retention writes a stream's row as it is, so the row may hold some of these already.
		if (c.last_id <= row.lastId) continue
		const r = row
		eachFrame(c.frames, c.first_id, Math.max(c.first_id, row.lastId + 1), c.last_id, (id, event) =>
			follow(r, id, event),
		)
		row.updatedAt = c.created_at
		row.lastSeq = c.last_seq
	}
	byKey.clear()
	for (const [name, row] of rows) visible.set(name, row)
	const recency = createRecency((name) => visible.get(name)?.lastSeq)
	for (const row of [...visible.values()].sort((a, b) => a.lastSeq - b.lastSeq))
		recency.push(row.name, row.lastSeq, visible.size)

	/** A stream's row: from memory while it has events kept, else from the table. */
	const rowOf = (stream: string): Row | undefined => {
		const row = rows.get(stream)
		if (row) return row
		const stored = q.streamByName.get(stream)
		return stored && stored.last_id > 0 ? toRow(stored) : undefined
	}
	// meta.last_seq too is written with the index; it outlives the chunks retention deletes.
	let lastSeq = Math.max(q.lastSeq.get()?.value ?? 0, q.maxSeq.get()?.seq ?? 0)
	let visibleSeq = lastSeq
	// Streams whose row in the table is behind `rows`.
	const dirty = new Set<string>()

	/**
	 * Writes, inside the transaction in progress, the stream rows as they will be once it has
	 * committed (`working` holds its own streams), and the last seq.
	 */
	function writeRows(working: Map<string, Row>, seq: number) {
		const write = (r: Row) =>
			q.updateStream.run(r.lastId, r.status, r.executionStart, r.updatedAt, r.lastSeq, r.key)
		for (const name of dirty) if (!working.has(name)) write(rows.get(name) as Row)
		for (const r of working.values()) write(r)
		q.setLastSeq.run(seq)
	}
	/**
	 * A publish fails for lack of room when a page cannot be had (the disk is full, or
	 * --max-db-bytes): the probe takes one, as an append does, and gives it back in the same
	 * transaction, which commits to the WAL like an append (unsynced: it keeps nothing).
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
	const listeners = new Set<AdvanceListener>()
	let pending: Pending[] = []
	let flushScheduled = false
	let closed = false
	let commits = 0

	q.expireKeys.run(Date.now() - IDEMPOTENCY_TTL_MS)
	const expiry = setInterval(() => q.expireKeys.run(Date.now() - IDEMPOTENCY_TTL_MS), 3_600_000)
	expiry.unref()

	const publicState = ({ key: _, lastSeq: __, ...state }: Row): StreamState => state

	/**
	 * The state of a stream retention emptied, from the table, with the snapshot kept for it;
	 * undefined for a stream with events kept (or none at all), which memory answers for.
	 */
	const prunedState = (r: StreamRow | null): StreamState | undefined =>
		r && r.first_id > r.last_id && r.last_id > 0
			? { ...publicState(toRow(r)), ...(r.snapshot !== null && { snapshot: r.snapshot }) }
			: undefined

	/** Streams retention emptied, newest first, from the table in batches. */
	function* prunedBefore(kind: StreamKind, before: number): Generator<StreamRow> {
		for (;;) {
			const batch = q.prunedPage.all(`${kind}/`, `${kind}0`, before, PAGE_BATCH)
			yield* batch
			if (batch.length < PAGE_BATCH) return
			before = batch[batch.length - 1].last_seq
		}
	}

	/** The ids a read of `limit` events after `afterId` covers: from + 1 to `to`, all kept. */
	const range = (row: Row, afterId: number, limit: number) => {
		const from = Math.max(afterId, row.firstId - 1)
		return [from, Math.min(row.lastId, from + limit)] as const
	}

	/**
	 * A stream with no events left is not kept in memory: the table row retention wrote holds it
	 * whole (ids, status, snapshot), and an append reads it back. So memory grows with the streams
	 * that have events, not with every stream ever made.
	 */
	function evictIfEmpty(stream: string) {
		const row = rows.get(stream)
		const shown = visible.get(stream)
		if (!row || row.firstId <= row.lastId || (shown && shown.firstId <= shown.lastId)) return
		rows.delete(stream)
		visible.delete(stream)
		dirty.delete(stream)
	}

	/**
	 * Applies one request to the working copy of its stream, noting its chunks in `adding`;
	 * throws if the request is refused.
	 */
	function apply(
		req: Pending,
		row: Row | undefined,
		seq: number,
		now: number,
		adding: ChunkPlaces,
	) {
		const stream = req.stream
		const next: Row = {
			...(row ?? { key: 0, name: stream, firstId: 1, createdAt: now, updatedAt: now, lastSeq: 0 }),
			...advance(stream, row ?? NEW_RUN, req.events),
		}
		if (!row)
			next.key = (q.insertStream.get(stream, 0, 'running', 1, now, now) as { key: number }).key
		const stored = stamp(req.events, (row?.lastId ?? 0) + 1, seq + 1, now)
		for (const c of toChunks(stored)) {
			q.insertChunk.run(next.key, c.lastId, c.firstId, c.lastSeq, now, c.lastEnd, c.frames)
			addPlace(adding, next.key, { firstId: c.firstId, lastId: c.lastId, lastSeq: c.lastSeq })
		}
		seq += stored.length
		next.updatedAt = now
		next.lastSeq = seq
		if (req.idempotency)
			q.insertKey.run(
				next.key,
				req.idempotency.key,
				req.idempotency.fingerprint,
				stored[0].id,
				stored.length,
				now,
			)
		return { next, stored, seq }
	}

	/** A stored answer to the same Idempotency-Key, or a conflict if the body differs. */
	function remembered(req: Pending, row: Row | undefined, now: number): AppendResult | undefined {
		if (!req.idempotency || !row) return undefined
		const hit = q.findKey.get(row.key, req.idempotency.key)
		if (!hit || hit.created_at < now - IDEMPOTENCY_TTL_MS) return undefined
		if (hit.fingerprint !== req.idempotency.fingerprint)
			throw new IdempotencyConflictError(
				'this Idempotency-Key was used with a different body on this stream',
			)
		return { ids: Array.from({ length: hit.count }, (_, i) => hit.first_id + i), replayed: true }
	}

	function flush() {
		flushScheduled = false
		const batch = pending
		pending = []
		if (batch.length === 0) return
		const now = Date.now()
		const working = new Map<string, Row>()
		const outcomes: Array<{ result?: AppendResult; stored?: EncodedEvent[]; error?: Error }> = []
		const adding: ChunkPlaces = new Map()
		let seq = lastSeq
		let indexed: () => boolean
		try {
			db.exec('BEGIN IMMEDIATE')
			for (const req of batch) {
				const row = working.get(req.stream) ?? rowOf(req.stream)
				try {
					const again = remembered(req, row, now)
					if (again) {
						outcomes.push({ result: again })
						continue
					}
					const applied = apply(req, row, seq, now, adding)
					seq = applied.seq
					working.set(req.stream, applied.next)
					outcomes.push({
						result: { ids: applied.stored.map((e) => e.id), replayed: false },
						stored: applied.stored,
					})
				} catch (error) {
					// A refusal comes before the request writes anything, so the others still commit;
					// any other failure (disk full, I/O) rolls the whole transaction back below.
					if (!(error instanceof CortexError)) throw error
					outcomes.push({ error })
				}
			}
			// The stream rows and the last seq are written when the index is: each commit then
			// writes the pages of its chunks only (4.65 -> 2.65 WAL pages per commit of 17 appends).
			indexed = index.commit(adding, seq, now, () => writeRows(working, seq))
			db.exec('COMMIT')
			commits++
		} catch (error) {
			if (db.inTransaction) db.exec('ROLLBACK')
			const failure = health.failed(error, bytesOf(batch))
			for (const req of batch) req.reject(failure)
			return
		}
		health.note(HEALTHY)
		lastSeq = seq
		for (const [name, row] of working) rows.set(name, row)
		if (indexed()) dirty.clear()
		else for (const name of working.keys()) dirty.add(name)
		// Refusals and replays wait too: what they answered from must be durable as well.
		afterSync((error) => {
			// In seq order, which is the recency's.
			const made = working.size === 1 ? working.values() : [...working.values()].sort(bySeq)
			for (const row of made) {
				// Retention may have moved the stream's first id on while this commit was syncing.
				const current = visible.get(row.name)
				visible.set(
					row.name,
					current && current.firstId > row.firstId ? { ...row, firstId: current.firstId } : row,
				)
				recency.push(row.name, row.lastSeq, visible.size)
			}
			visibleSeq = seq
			batch.forEach((req, i) => {
				const outcome = outcomes[i]
				if (error)
					req.reject(
						new StoreUnavailableError(`the events could not be synced to disk: ${error.message}`),
					)
				else if (outcome.error) req.reject(outcome.error)
				else req.resolve(outcome.result as AppendResult)
			})
			if (error) return
			for (let i = 0; i < batch.length; i++) {
				const stored = outcomes[i].stored
				if (stored) for (const listener of listeners) listener(batch[i].stream, stored)
			}
		})
	}

	// Completions of committed transactions, in commit order, waiting for the next fsync.
	let unsynced: Array<(error?: Error) => void> = []
	let syncing = false
	let walFd: number | undefined
	let synced: () => void = () => {}

	function afterSync(done: (error?: Error) => void) {
		unsynced.push(done)
		if (!syncing) startSync()
	}

	function startSync() {
		const group = unsynced
		unsynced = []
		syncing = true
		const finish = (error?: Error | null) => {
			syncing = false
			for (const done of group) done(error ?? undefined)
			// What arrived during the fsync is committed now, in one transaction, and synced next.
			if (pending.length > 0) flush()
			if (unsynced.length > 0 && !syncing) startSync()
			if (!syncing) synced()
		}
		if (path === ':memory:') return queueMicrotask(() => finish())
		try {
			// The WAL exists from the first transaction on and keeps its inode while the database is open.
			walFd ??= openSync(`${path}-wal`, 'r')
		} catch (error) {
			return queueMicrotask(() => finish(error as Error))
		}
		fsync(walFd, finish)
	}

	// One backup at a time: each one's checkpoint would write the file the other is copying.
	let backups = Promise.resolve()

	/**
	 * In WAL mode only a checkpoint writes the database file. So once a full checkpoint has
	 * moved every commit into it, and while no other checkpoint runs, the file alone is a
	 * consistent copy of the store, and the I/O pool copies it while commits go on into the WAL.
	 * (VACUUM INTO, before, held the event loop for the whole copy: about 0.2 s for 96 MB here.)
	 */
	async function copyOut(target: string) {
		if (closed) throw new StoreUnavailableError('the store is closed')
		if (path === ':memory:') return void db.query('VACUUM INTO ?').run(target)
		db.exec('PRAGMA wal_autocheckpoint = 0')
		try {
			const { busy, log, checkpointed } = db.query('PRAGMA wal_checkpoint(FULL)').get() as {
				busy: number
				log: number
				checkpointed: number
			}
			if (busy !== 0 || checkpointed !== log)
				throw new StoreUnavailableError('the store could not be checkpointed for a backup')
			await copyFile(path, target)
			// Closing checkpoints the WAL into the file: a copy made meanwhile may be torn.
			if (closed) throw new StoreUnavailableError('the store closed during the backup')
		} finally {
			if (!closed) db.exec(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`)
		}
	}

	return {
		append(stream, events, idempotency) {
			if (closed) return Promise.reject(new StoreUnavailableError('the store is closed'))
			return new Promise<AppendResult>((resolve, reject) => {
				pending.push({ stream, events, idempotency, resolve, reject })
				// While an fsync is in flight, requests wait for it and then share one commit.
				if (!flushScheduled && !syncing) {
					flushScheduled = true
					setImmediate(flush)
				}
			})
		},

		async read(stream, afterId, limit) {
			const out: StoredEvent[] = []
			const row = visible.get(stream)
			if (!row) return out
			const [from, to] = range(row, afterId, limit)
			if (from >= to) return out
			for (const c of index.after(row.key, from)) {
				const seq = firstSeq(c) - c.first_id
				eachFrame(
					c.frames,
					c.first_id,
					Math.max(from + 1, c.first_id),
					Math.min(to, c.last_id),
					(id, event, data) =>
						out.push({ id, seq: seq + id, event, data, createdAt: c.created_at }),
				)
				if (c.last_id >= to) break
			}
			return out
		},

		async readFrames(stream, afterId, limit, maxBytes) {
			const row = visible.get(stream)
			if (!row) return undefined
			const [from, to] = range(row, afterId, limit)
			if (from >= to) return undefined
			const parts: Uint8Array[] = []
			let bytes = 0
			let lastId = from
			for (const c of index.after(row.key, from)) {
				const stop = Math.min(to, c.last_id)
				// The common case, a whole chunk that fits, takes the row's bytes as they come.
				if (
					c.first_id === lastId + 1 &&
					stop === c.last_id &&
					bytes + c.frames.byteLength <= maxBytes
				) {
					parts.push(c.frames)
					bytes += c.frames.byteLength
					lastId = stop
					if (lastId === to) break
					continue
				}
				// A row too large for what is left of the block waits for the next block rather than be
				// cut: cut rows are read twice and skipped through frame by frame.
				if (bytes > 0 && c.first_id === lastId + 1 && bytes + c.frames.byteLength > maxBytes) break
				const frames = c.frames
				const start = skipFrames(frames, 0, lastId + 1 - c.first_id)
				let end = start
				if (stop === c.last_id && bytes + frames.byteLength - start <= maxBytes) {
					end = frames.byteLength
					lastId = stop
				} else
					for (; lastId < stop; lastId++) {
						const next = nextFrame(frames, end)
						// The first event goes whatever its size, so a replay always moves on.
						if (bytes + next - start > maxBytes && bytes + end - start > 0) break
						end = next
					}
				if (end > start) parts.push(frames.subarray(start, end))
				bytes += end - start
				if (lastId < stop || lastId === to) break
			}
			if (lastId === from) return undefined
			// A part of a row is copied rather than viewed: a view would keep the whole row alive for
			// as long as a subscriber that stopped reading holds the block.
			const whole = parts.length === 1 && parts[0].byteLength === parts[0].buffer.byteLength
			return {
				lastId,
				count: lastId - from,
				bytes: whole ? parts[0] : Buffer.concat(parts),
			}
		},

		async readAll(afterSeq, limit) {
			const out: FeedEvent[] = []
			if (afterSeq >= visibleSeq) return out
			for (const c of q.chunksAll.iterate(afterSeq, visibleSeq)) {
				const seq = firstSeq(c) - c.first_id
				const fromId = c.first_id + Math.max(0, afterSeq + 1 - firstSeq(c))
				const toId = Math.min(c.last_id, fromId + (limit - out.length) - 1)
				eachFrame(c.frames, c.first_id, fromId, toId, (id, event, data) =>
					out.push({ id, seq: seq + id, event, data, createdAt: c.created_at, stream: c.name }),
				)
				if (out.length >= limit) break
			}
			return out
		},

		async cursor() {
			return visibleSeq
		},

		async state(stream) {
			const row = visible.get(stream)
			if (!row) return prunedState(q.streamByName.get(stream))
			// Retention is pruning the events this stream's snapshot folds: it wrote the snapshot.
			if ((isWorkflowRun(stream) ? 1 : row.executionStart) >= row.firstId) return publicState(row)
			const snapshot = q.snapshotOf.get(row.key)?.snapshot
			return { ...publicState(row), ...(snapshot && { snapshot }) }
		},

		async list(kind, { limit, page, status, prefix = '', where }) {
			const before = parsePage(page)
			const start = `${kind}/${prefix}`
			const wanted = (name: string, state: RunStatus) =>
				name.startsWith(start) && (status === undefined || state === status) && where(name)
			// Two sources, each newest first, merged: the streams in memory, and those retention
			// emptied, in the table. All of it in this turn, so the page matches the cursor.
			const live = (function* () {
				for (const [name, seq] of recency.before(before)) {
					const row = visible.get(name) as Row
					if (name.startsWith(`${kind}/`) && wanted(name, row.status)) yield { seq, row }
				}
			})()
			const emptied = (function* () {
				for (const r of prunedBefore(kind, before))
					if (!visible.has(r.name) && wanted(r.name, r.status)) yield r
			})()
			const found: Array<{ state: StreamState; seq: number }> = []
			let a = live.next()
			let b = emptied.next()
			while (found.length <= limit && !(a.done && b.done)) {
				if (!a.done && (b.done || a.value.seq > b.value.last_seq)) {
					found.push({ state: publicState(a.value.row), seq: a.value.seq })
					a = live.next()
				} else if (!b.done) {
					found.push({ state: prunedState(b.value) as StreamState, seq: b.value.last_seq })
					b = emptied.next()
				}
			}
			const more = found.length > limit
			if (more) found.pop()
			return {
				states: found.map((f) => f.state),
				resume: found.map((f) => String(f.seq)),
				more,
				cursor: visibleSeq,
			}
		},

		subscribe(listener) {
			listeners.add(listener)
			return () => listeners.delete(listener)
		},

		async prunable(cutoff) {
			// Chunks the index does not hold yet are newer than those it does: their last end, if
			// they have one, is the stream's.
			const waiting = new Map(
				q.lastEndsWaiting.values(index.indexedSeq(), cutoff) as [number, number | null][],
			)
			const found: Array<{ stream: string; upToId: number }> = []
			for (const row of visible.values()) {
				if (row.firstId > row.lastId) continue
				if (isWorkflowRun(row.name)) {
					if (row.status !== 'running' && row.updatedAt < cutoff)
						found.push({ stream: row.name, upToId: row.lastId })
					continue
				}
				const end = waiting.get(row.key) ?? q.lastEndBefore.get(row.key, cutoff)?.id
				if (end) found.push({ stream: row.name, upToId: end })
			}
			return found
		},

		async prune(stream, upToId, snapshot) {
			let dropped = 0
			for (;;) {
				const row = rows.get(stream)
				if (!row || row.firstId > upToId) {
					evictIfEmpty(stream)
					return dropped
				}
				// Small transactions, a turn of the event loop apart, so publishing never waits long.
				const to = Math.min(upToId, row.firstId + PRUNE_BATCH - 1)
				// Chunks the index does not hold yet go by their rows: writing the index first could
				// need pages a full store does not have.
				const waiting = index.waiting(row.key, to)
				db.exec('BEGIN IMMEDIATE')
				try {
					q.deleteChunks.run(row.key, to)
					q.deleteIndex.run(row.key, to)
					for (const c of waiting) if (c.lastId <= to) q.deleteChunk.run(c.lastSeq)
					// The chunk holding both `to` and later events keeps only the later ones.
					const straddling = waiting.find((c) => c.lastId > to)
					const cut = straddling
						? q.chunkForTrim.get(straddling.lastSeq)
						: q.chunkAt.get(row.key, to)
					if (cut && cut.first_id <= to) {
						const frames = cut.frames
						q.trimChunk.run(
							to + 1,
							cut.last_end !== null && cut.last_end > to ? cut.last_end : null,
							frames.subarray(skipFrames(frames, 0, to + 1 - cut.first_id)),
							cut.last_seq,
						)
					}
					// The chunks deleted may be some the stream's row and the last seq in the table
					// are not written up to yet (see `writeRows`), so both are written here.
					q.pruned.run(
						to + 1,
						snapshot,
						row.lastId,
						row.status,
						row.executionStart,
						row.updatedAt,
						row.lastSeq,
						row.key,
					)
					q.setLastSeq.run(lastSeq)
					db.exec('COMMIT')
				} catch (error) {
					if (db.inTransaction) db.exec('ROLLBACK')
					throw error
				}
				index.forget(row.key, to)
				dropped += to - row.firstId + 1
				for (const map of [rows, visible]) {
					const r = map.get(stream)
					if (r) map.set(stream, { ...r, firstId: to + 1 })
				}
				await new Promise((resolve) => setImmediate(resolve))
			}
		},

		async keptAfter(afterSeq) {
			const found = q.keptAfter.get(afterSeq)
			return found && found.seq <= visibleSeq
				? { seq: found.seq, createdAt: found.created_at }
				: undefined
		},

		backup(target) {
			const run = backups.then(() => copyOut(target))
			backups = run.catch(() => {})
			return run
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
			recency.compact()
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
			return { bytes, commits, streams: rows.size }
		},

		async close() {
			if (closed) return
			closed = true
			clearInterval(expiry)
			if (pending.length > 0) flush()
			if (syncing) await new Promise<void>((resolve) => (synced = resolve))
			if (walFd !== undefined) closeSync(walFd)
			db.close()
		},
	}
}
