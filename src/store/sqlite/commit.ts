import { closeSync, fsync, openSync } from 'node:fs'
import { CortexError, StoreUnavailableError } from '../../errors.ts'
import { advance, NEW_RUN, pendingCancel, stamp, withCancel } from '../advance.ts'
import { type GroupWriter, type Outcome, type Pending, replay } from '../group-commit.ts'
import { type AppendResult, type EndedExecution, IDEMPOTENCY_TTL_MS } from '../store.ts'
import { addPlace, type ChunkPlaces } from './chunk-index.ts'
import { toChunks } from './chunks.ts'
import type { Sqlite } from './database.ts'
import { addEnded, type EndedByStream } from './executions.ts'
import type { Row } from './rows.ts'

/**
 * How a group of appends is written: one transaction, then an fsync of the WAL.
 *
 * Durability, equivalent to `synchronous=FULL` but without stalling the event loop: SQLite runs
 * with `synchronous=NORMAL`, so COMMIT only write()s its frames to the WAL, and this fsyncs the
 * WAL file itself, off the main thread (`fs.fsync` runs on the I/O pool). An append resolves,
 * and its events become readable and are fanned out, only after an fsync that began after its
 * COMMIT returned, so the `201` still means "on disk, power loss included". With NORMAL, SQLite
 * still fsyncs the WAL before each checkpoint and the database after it, so the checkpointed
 * copy is as durable as the WAL. (bun:sqlite is synchronous: with FULL, each fsync would block
 * every request and stream for its whole duration.) The group commit (group-commit.ts) writes
 * one group at a time, so the appends that arrive during an fsync share the next one.
 */
export function createWriter(sqlite: Sqlite) {
	const { db, path, index, rows, executions } = sqlite
	const q = {
		insertStream: db.query<{ key: number }, [string, number, string, number, number, number]>(
			`INSERT INTO streams (name, last_id, status, execution_start, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?) RETURNING key`,
		),
		insertChunk: db.query<
			never,
			[number, number, number, number, number, number | null, Uint8Array]
		>(
			`INSERT INTO chunks (stream, last_id, first_id, last_seq, created_at, last_end, frames)
			 VALUES (?, ?, ?, ?, ?, ?, ?)`,
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
	}
	let commits = 0
	let walFd: number | undefined

	/**
	 * Applies one append to the working copy of its stream, noting its chunks in `adding`;
	 * throws if the append is refused, before it writes anything.
	 */
	function apply(
		req: Pending,
		row: Row | undefined,
		seq: number,
		now: number,
		adding: ChunkPlaces,
		ending: EndedByStream,
	) {
		const stream = req.stream
		const ended: EndedExecution[] = []
		const next: Row = {
			...(row ?? { key: 0, name: stream, firstId: 1, createdAt: now, updatedAt: now, lastSeq: 0 }),
			...advance(stream, row ?? NEW_RUN, req.events, now, ended),
		}
		if (!row)
			next.key = (q.insertStream.get(stream, 0, 'running', 1, now, now) as { key: number }).key
		if (ended.length > 0) addEnded(ending, next.key, ended)
		const stored = stamp(req.events, (row?.lastId ?? 0) + 1, seq + 1, now)
		for (const c of toChunks(stored)) {
			q.insertChunk.run(next.key, c.lastId, c.firstId, c.lastSeq, now, c.lastEnd, c.frames)
			addPlace(adding, next.key, { firstId: c.firstId, lastId: c.lastId, lastSeq: c.lastSeq })
		}
		next.updatedAt = now
		next.lastSeq = seq + stored.length
		if (req.idempotency)
			q.insertKey.run(
				next.key,
				req.idempotency.key,
				req.idempotency.fingerprint,
				stored[0].id,
				stored.length,
				now,
			)
		return { next, stored }
	}

	/** The first answer to an append's Idempotency-Key on its stream, if the key is known. */
	function remembered(req: Pending, row: Row | undefined, now: number): AppendResult | undefined {
		if (!req.idempotency || !row) return undefined
		const hit = q.findKey.get(row.key, req.idempotency.key)
		if (!hit || hit.created_at < now - IDEMPOTENCY_TTL_MS) return undefined
		return replay(req.idempotency, { ...hit, firstId: hit.first_id })
	}

	/** Fsyncs the WAL on the I/O pool. It exists from the first transaction on and keeps its inode. */
	function syncWal(): Promise<void> {
		if (path === ':memory:') return Promise.resolve()
		return new Promise((resolve, reject) => {
			try {
				walFd ??= openSync(`${path}-wal`, 'r')
			} catch (error) {
				return reject(error)
			}
			fsync(walFd, (error) => (error ? reject(error) : resolve()))
		})
	}

	const write: GroupWriter = async (batch) => {
		const now = Date.now()
		const working = new Map<string, Row>()
		const outcomes: Outcome[] = []
		const adding: ChunkPlaces = new Map()
		const ending: EndedByStream = new Map()
		let seq = sqlite.seq.committed
		let indexed: () => boolean
		db.exec('BEGIN IMMEDIATE')
		try {
			for (const req of batch) {
				const row = working.get(req.stream) ?? rows.rowOf(req.stream)
				try {
					// A cancel already pending in the run is answered again; nothing is appended.
					const pending = req.cancel ? pendingCancel(req.stream, row ?? NEW_RUN) : 0
					if (pending > 0) {
						outcomes.push({ result: withCancel({ ids: [pending], replayed: true }, row) })
						continue
					}
					const again = remembered(req, row, now)
					if (again) {
						outcomes.push({ result: withCancel(again, row) })
						continue
					}
					const { next, stored } = apply(req, row, seq, now, adding, ending)
					seq = next.lastSeq
					working.set(req.stream, next)
					outcomes.push({
						result: withCancel({ ids: stored.map((e) => e.id), replayed: false }, next),
						stored,
					})
				} catch (error) {
					// A refusal comes before the append writes anything, so the others still commit;
					// any other failure (disk full, I/O) rolls the whole transaction back.
					if (!(error instanceof CortexError)) throw error
					outcomes.push({ error })
				}
			}
			// The stream rows, the ended executions and the last seq are written when the index is:
			// each commit then writes the pages of its chunks only (see docs/design.md).
			indexed = index.commit(adding, seq, now, () => {
				rows.write(working, seq)
				executions.write(ending)
			})
			db.exec('COMMIT')
		} catch (error) {
			if (db.inTransaction) db.exec('ROLLBACK')
			throw error
		}
		commits++
		sqlite.seq.committed = seq
		const written = indexed()
		rows.committedAll(working, written)
		executions.committed(ending, written)
		// Refusals and replays wait too: what they answered from must be durable as well.
		const unsynced = await syncWal().then(
			() => undefined,
			(error: Error) => error,
		)
		rows.show(working)
		sqlite.seq.visible = seq
		if (unsynced)
			throw new StoreUnavailableError(`the events could not be synced to disk: ${unsynced.message}`)
		for (let i = 0; i < batch.length; i++) {
			const outcome = outcomes[i]
			if ('stored' in outcome && outcome.stored)
				for (const listener of sqlite.listeners) listener(batch[i].stream, outcome.stored)
		}
		return outcomes
	}

	return {
		write,
		/** Transactions committed so far. */
		get commits() {
			return commits
		},
		close() {
			if (walFd !== undefined) closeSync(walFd)
		},
	}
}
