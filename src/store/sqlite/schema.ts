import type { Database } from 'bun:sqlite'
import { eachFrame } from '../../../client/src/sse.ts'
import { advancePast, NEW_RUN, type RunState } from '../advance.ts'
import type { EndedExecution } from '../store.ts'

/** 'CSTR': marks a file as ours, so the server never writes into someone else's database. */
export const APPLICATION_ID = 0x43535452

/**
 * Forward migrations; `PRAGMA user_version` holds how many have run. Append only: a released
 * migration is never edited, a change of schema is a new entry.
 */
export const MIGRATIONS: string[] = [
	`
	CREATE TABLE streams (
		key INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		last_id INTEGER NOT NULL,
		status TEXT NOT NULL,
		execution_start INTEGER NOT NULL,
		first_id INTEGER NOT NULL DEFAULT 1,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	-- Clustered on (stream, id): a replay is one sequential range scan.
	CREATE TABLE events (
		stream INTEGER NOT NULL,
		id INTEGER NOT NULL,
		seq INTEGER NOT NULL,
		type TEXT NOT NULL,
		data TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		PRIMARY KEY (stream, id)
	) WITHOUT ROWID;
	CREATE UNIQUE INDEX events_by_seq ON events (seq);
	CREATE TABLE idempotency_keys (
		stream INTEGER NOT NULL,
		key TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		first_id INTEGER NOT NULL,
		count INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		PRIMARY KEY (stream, key)
	) WITHOUT ROWID;
	CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
	-- last_seq survives pruning, so the global cursor never goes back.
	CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
	INSERT INTO meta (key, value) VALUES ('last_seq', 0);
	`,
	// Secrets shared by every server on this store, such as the key that signs tickets.
	`
	CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
	`,
	// Retention: the final snapshot of a stream whose events were pruned stays readable.
	`
	ALTER TABLE streams ADD COLUMN snapshot TEXT;
	`,
	// Each event's SSE frame (encodeEvent), so a replay copies stored bytes instead of encoding
	// every event. `data` is not stored twice: it is read from the frame's `data: ` line
	// (eachFrame in src/sse.ts).
	`
	ALTER TABLE events ADD COLUMN frame BLOB NOT NULL DEFAULT x'';
	UPDATE events SET frame = CAST(
		'id: ' || id || char(10) || 'event: ' || type || char(10) || 'data: ' || data || char(10) || char(10)
		AS BLOB);
	ALTER TABLE events DROP COLUMN data;
	`,
	// One row per append and stream (split past CHUNK_ROW_BYTES in chunks.ts), its frames back to
	// back: one row instead of one per event makes batched ingest about twice as fast, and a
	// replay copies whole rows. Keyed by the global cursor, so every insert goes at the end of the
	// table; a chunk of 100 small events is two or three pages of its own anyway. Chunks of a
	// stream never overlap and cover every id kept, so an event's seq is last_seq minus its
	// distance from last_id. last_end, the id of the chunk's last terminal event, is what
	// retention needs of the types.
	//
	// chunk_index finds a stream's chunks. It is written in batches, not with each commit: a
	// commit that touched one index page per stream cost four times as much (see sqlite.ts).
	// Every chunk after `indexed_seq` is missing from it, and found by scanning the table's end.
	// The stream rows and meta.last_seq are written with it, and brought up to date from those
	// chunks on open.
	`
	CREATE TABLE chunks (
		last_seq INTEGER PRIMARY KEY,
		stream INTEGER NOT NULL,
		last_id INTEGER NOT NULL,
		first_id INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		last_end INTEGER,
		frames BLOB NOT NULL
	);
	CREATE TABLE chunk_index (
		stream INTEGER NOT NULL,
		last_id INTEGER NOT NULL,
		last_seq INTEGER NOT NULL,
		PRIMARY KEY (stream, last_id)
	) WITHOUT ROWID;
	INSERT INTO chunks (last_seq, stream, last_id, first_id, created_at, last_end, frames)
		SELECT seq, stream, id, id, created_at,
			CASE WHEN type IN ('complete', 'failed', 'cancelled') THEN id END, frame
		FROM events ORDER BY seq;
	INSERT INTO chunk_index (stream, last_id, last_seq) SELECT stream, id, seq FROM events;
	DROP TABLE events;
	INSERT INTO meta (key, value) SELECT 'indexed_seq', value FROM meta WHERE key = 'last_seq';
	`,
	// The global cursor of each stream's last event, the order of the paged lists (most recently
	// appended to first); written with the rest of the row. A stream whose chunks are all pruned
	// keeps it, so a pruned run stays in its place in the lists.
	`
	ALTER TABLE streams ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
	UPDATE streams SET last_seq = coalesce(
		(SELECT max(last_seq) FROM chunk_index WHERE chunk_index.stream = streams.key), 0);
	CREATE INDEX streams_by_last_seq ON streams (last_seq);
	`,
	// The log as people expect "an append-only event table" to look, for reading with sqlite3 (on
	// a stopped server's file, or a backup copy: a running server holds the file exclusively). It
	// splits each chunk's frames at the blank line that ends each, and each frame into its id,
	// event and data lines (see encodeEvent in src/sse.ts). Read-only, and slow on a large store:
	// it parses every chunk it reads, with no index by stream.
	`
	CREATE VIEW events (stream, id, type, data, created_at) AS
	WITH RECURSIVE frames (stream, created_at, frame, rest) AS (
		SELECT s.name, c.created_at, NULL, CAST(c.frames AS TEXT)
		FROM chunks c JOIN streams s ON s.key = c.stream
		UNION ALL
		SELECT stream, created_at, substr(rest, 1, instr(rest, char(10, 10))),
			substr(rest, instr(rest, char(10, 10)) + 2)
		FROM frames WHERE rest <> ''
	),
	lines (stream, created_at, frame, id_end, data_at) AS (
		SELECT stream, created_at, frame, instr(frame, char(10)), instr(frame, char(10) || 'data: ')
		FROM frames WHERE frame IS NOT NULL
	)
	SELECT stream,
		CAST(substr(frame, 5, id_end - 5) AS INTEGER),
		substr(frame, id_end + 8, data_at - id_end - 8),
		substr(frame, data_at + 7, length(frame) - data_at - 7),
		created_at
	FROM lines;
	`,
	// The cancel_requested pending in a stream's running execution or run (`POST .../cancel`):
	// its id (0: none) and its data, kept with the rest of the row's run state (see advance.ts).
	`
	ALTER TABLE streams ADD COLUMN cancel_id INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE streams ADD COLUMN cancel_data TEXT NOT NULL DEFAULT '';
	`,
	// An agent's executions, listed without folding its log (executions.ts): one row per ended
	// execution, written with the stream rows, and kept until retention prunes it. The stream row
	// keeps what the running execution will need once it ends: when it started, and its last
	// message candidate (advance.ts). BACKFILLS fills both from the log of an older file.
	`
	ALTER TABLE streams ADD COLUMN started_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE streams ADD COLUMN message_id INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE executions (
		stream INTEGER NOT NULL,
		start_id INTEGER NOT NULL,
		end_id INTEGER NOT NULL,
		status TEXT NOT NULL,
		started_at INTEGER NOT NULL,
		ended_at INTEGER NOT NULL,
		message_id INTEGER NOT NULL,
		PRIMARY KEY (stream, start_id)
	) WITHOUT ROWID;
	`,
	// The streams retention emptied, which the lists read from the table (the others are in
	// memory): newest first, of one status or all, and counted by status, without walking the rows
	// of every stream. (The index by last_seq they replace held every stream: a page walked all of
	// them to find none emptied.) They hold only emptied streams, whose rows change only when
	// retention empties them or an append brings them back. Queries name them, as the planner
	// without statistics prefers the index of names.
	`
	DROP INDEX streams_by_last_seq;
	CREATE INDEX streams_emptied ON streams (last_seq, name, status, first_id, last_id)
		WHERE first_id > last_id AND last_id > 0;
	CREATE INDEX streams_emptied_by_status ON streams (status, last_seq, name, first_id, last_id)
		WHERE first_id > last_id AND last_id > 0;
	`,
]

/**
 * Work a migration needs that SQL cannot do, run after it in its transaction: by the
 * `user_version` the migration moves the file to.
 */
export const BACKFILLS: Record<number, (db: Database) => void> = {
	9: backfillExecutions,
}

/**
 * The executions of the agents of a file from before the executions table, from the log: every
 * event up to its stream row's `last_id` goes through `advancePast`, as appends do. (The events
 * after it are replayed on open, which finds the executions they end; see rows.ts.) A stream's
 * first kept event starts an execution: retention prunes whole executions.
 */
function backfillExecutions(db: Database) {
	const streams = new Map<number, { state: RunState; upTo: number }>()
	for (const r of db
		.query<{ key: number; last_id: number; first_id: number }, []>(
			"SELECT key, last_id, first_id FROM streams WHERE name >= 'agents/' AND name < 'agents0'",
		)
		.iterate())
		if (r.first_id <= r.last_id)
			streams.set(r.key, {
				state: {
					...NEW_RUN,
					lastId: r.first_id - 1,
					status: r.first_id > 1 ? 'complete' : 'running',
					executionStart: r.first_id,
				},
				upTo: r.last_id,
			})
	const insert = db.query<never, [number, number, number, string, number, number, number]>(
		`INSERT OR REPLACE INTO executions
		 (stream, start_id, end_id, status, started_at, ended_at, message_id)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
	)
	const chunks = db.query<
		{ stream: number; first_id: number; last_id: number; created_at: number; frames: Uint8Array },
		[]
	>('SELECT stream, first_id, last_id, created_at, frames FROM chunks ORDER BY last_seq')
	for (const c of chunks.iterate()) {
		const s = streams.get(c.stream)
		if (!s) continue
		const from = Math.max(c.first_id, s.state.lastId + 1)
		const to = Math.min(c.last_id, s.upTo)
		if (from > to) continue
		const ended: EndedExecution[] = []
		eachFrame(c.frames, c.first_id, from, to, (id, event, data) =>
			advancePast(s.state, id, event, data, c.created_at, ended),
		)
		for (const e of ended)
			insert.run(c.stream, e.startId, e.endId, e.status, e.startedAt, e.endedAt, e.messageId)
	}
	const update = db.query<never, [number, number, number]>(
		'UPDATE streams SET started_at = ?, message_id = ? WHERE key = ?',
	)
	for (const [key, { state }] of streams) update.run(state.startedAt, state.messageId, key)
}

export class NotOurDatabaseError extends Error {}

/**
 * Refuses a file that belongs to something else, or to a newer build. It only reads, so it runs
 * before anything (journal mode included) could change the file.
 */
export function checkOwnership(db: Database) {
	const { application_id: appId } = db.query('PRAGMA application_id').get() as {
		application_id: number
	}
	const { user_version: version } = db.query('PRAGMA user_version').get() as {
		user_version: number
	}
	const tables = db.query("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as {
		n: number
	}
	if (appId !== APPLICATION_ID && (appId !== 0 || tables.n > 0))
		throw new NotOurDatabaseError('the file is not a cortex-stream database')
	if (version > MIGRATIONS.length)
		throw new NotOurDatabaseError(
			`the database has schema version ${version}, newer than this build knows (${MIGRATIONS.length})`,
		)
}

/** Brings a database that `checkOwnership` accepted to the current schema. */
export function migrate(db: Database) {
	const { user_version: version } = db.query('PRAGMA user_version').get() as {
		user_version: number
	}
	for (let v = version; v < MIGRATIONS.length; v++) {
		db.transaction(() => {
			db.exec(MIGRATIONS[v])
			BACKFILLS[v + 1]?.(db)
			db.exec(`PRAGMA application_id = ${APPLICATION_ID}`)
			db.exec(`PRAGMA user_version = ${v + 1}`)
		})()
	}
}
