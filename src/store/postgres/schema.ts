import type { SQL } from 'bun'

/**
 * Forward migrations of the Postgres engine; `cortex_schema.version` holds how many have run.
 * Append only, as for SQLite. Every table starts with `cortex_`, so the store can share a
 * database with other applications.
 */
export const PG_MIGRATIONS: string[] = [
	`
	CREATE TABLE cortex_streams (
		key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		name text NOT NULL UNIQUE,
		last_id bigint NOT NULL DEFAULT 0,
		status text NOT NULL DEFAULT 'running',
		execution_start bigint NOT NULL DEFAULT 1,
		first_id bigint NOT NULL DEFAULT 1,
		created_at bigint NOT NULL,
		updated_at bigint NOT NULL,
		snapshot text
	);
	-- data is text, not jsonb: jsonb would reorder keys and change what subscribers receive.
	CREATE TABLE cortex_events (
		stream bigint NOT NULL,
		id bigint NOT NULL,
		seq bigint NOT NULL,
		type text NOT NULL,
		data text NOT NULL,
		created_at bigint NOT NULL,
		PRIMARY KEY (stream, id)
	);
	CREATE UNIQUE INDEX cortex_events_by_seq ON cortex_events (seq);
	CREATE TABLE cortex_idempotency_keys (
		stream bigint NOT NULL,
		key text NOT NULL,
		fingerprint text NOT NULL,
		first_id bigint NOT NULL,
		count integer NOT NULL,
		created_at bigint NOT NULL,
		PRIMARY KEY (stream, key)
	);
	CREATE INDEX cortex_idempotency_keys_by_age ON cortex_idempotency_keys (created_at);
	-- last_seq is the global cursor; its row lock orders every commit that appends.
	CREATE TABLE cortex_meta (key text PRIMARY KEY, value bigint NOT NULL);
	INSERT INTO cortex_meta (key, value) VALUES ('last_seq', 0);
	CREATE TABLE cortex_secrets (name text PRIMARY KEY, value bytea NOT NULL);
	`,
	// The paged lists: most recently appended to first.
	`
	CREATE INDEX cortex_streams_by_update ON cortex_streams (updated_at DESC, key DESC);
	`,
	// The cancel_requested pending in a stream's running execution or run (`POST .../cancel`):
	// its id (0: none) and its data, read and written with the rest of the run state under the
	// row's lock, so every instance sees it (see advance.ts).
	`
	ALTER TABLE cortex_streams ADD COLUMN cancel_id bigint NOT NULL DEFAULT 0,
		ADD COLUMN cancel_data text NOT NULL DEFAULT '';
	`,
	// An agent's executions, listed without folding its log: one row per ended execution, written
	// by the append that ends it, kept until retention prunes it. The stream row keeps what the
	// running execution will need once it ends: when it started, and its last message candidate
	// (advance.ts: a progress whose data has the key "message"). Both are filled from the log of
	// an older database: an execution is the events after a terminal one up to the next.
	`
	ALTER TABLE cortex_streams ADD COLUMN started_at bigint NOT NULL DEFAULT 0,
		ADD COLUMN message_id bigint NOT NULL DEFAULT 0;
	CREATE TABLE cortex_executions (
		stream bigint NOT NULL,
		start_id bigint NOT NULL,
		end_id bigint NOT NULL,
		status text NOT NULL,
		started_at bigint NOT NULL,
		ended_at bigint NOT NULL,
		message_id bigint NOT NULL,
		PRIMARY KEY (stream, start_id)
	);
	CREATE TEMPORARY TABLE cortex_backfill ON COMMIT DROP AS
	WITH numbered AS (
		SELECT e.stream, e.id, e.type, e.data, e.created_at,
			e.type IN ('complete', 'failed', 'cancelled') AS terminal,
			count(*) FILTER (WHERE e.type IN ('complete', 'failed', 'cancelled'))
				OVER (PARTITION BY e.stream ORDER BY e.id
					ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS n
		FROM cortex_events e JOIN cortex_streams s ON s.key = e.stream
		WHERE starts_with(s.name, 'agents/')
	)
	SELECT stream, min(id) AS start_id, max(id) AS end_id,
		(array_agg(created_at ORDER BY id))[1] AS started_at,
		max(created_at) FILTER (WHERE terminal) AS ended_at,
		max(type) FILTER (WHERE terminal) AS status,
		coalesce(max(id) FILTER (WHERE type = 'progress' AND strpos(data, '"message":') > 0), 0)
			AS message_id
	FROM numbered GROUP BY stream, n;
	INSERT INTO cortex_executions (stream, start_id, end_id, status, started_at, ended_at, message_id)
		SELECT stream, start_id, end_id, status, started_at, ended_at, message_id
		FROM cortex_backfill WHERE status IS NOT NULL;
	UPDATE cortex_streams s SET started_at = b.started_at, message_id = b.message_id
		FROM cortex_backfill b WHERE b.stream = s.key AND b.status IS NULL;
	`,
	// The lists' counts. How many streams of each kind are in each status, kept by the appends
	// that change a status (after the cursor's lock, which orders them anyway): a token that may
	// read every stream asks for no prefix, and is answered without counting. Counts by prefix
	// or by a narrower token's patterns read the index of names in byte order (as names compare
	// in a prefix), with each stream's status beside it.
	`
	CREATE TABLE cortex_status_counts (
		kind text NOT NULL,
		status text NOT NULL,
		n bigint NOT NULL,
		PRIMARY KEY (kind, status)
	);
	INSERT INTO cortex_status_counts (kind, status, n)
		SELECT kind, status, 0 FROM unnest(ARRAY['agents', 'workflows']) AS kind,
			unnest(ARRAY['running', 'complete', 'failed', 'cancelled']) AS status;
	UPDATE cortex_status_counts c SET n = x.n
		FROM (SELECT split_part(name, '/', 1) AS kind, status, count(*) AS n FROM cortex_streams
			WHERE last_id > 0 GROUP BY 1, 2) x
		WHERE c.kind = x.kind AND c.status = x.status;
	CREATE INDEX cortex_streams_by_name ON cortex_streams (name COLLATE "C", status)
		WHERE last_id > 0;
	`,
]

/** Any number, so that two instances starting at once run the migrations one after the other. */
const MIGRATION_LOCK = 0x43535452

export class NewerSchemaError extends Error {}

/** Brings the database to the current schema; refuses one that a newer build migrated. */
export async function migratePostgres(sql: SQL) {
	await sql.begin(async (tx) => {
		await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`
		await tx`CREATE TABLE IF NOT EXISTS cortex_schema (version integer NOT NULL)`
		const [row] = await tx`SELECT version FROM cortex_schema`
		let version = row ? Number(row.version) : 0
		if (!row) await tx`INSERT INTO cortex_schema (version) VALUES (0)`
		if (version > PG_MIGRATIONS.length)
			throw new NewerSchemaError(
				`the database has schema version ${version}, newer than this build knows (${PG_MIGRATIONS.length})`,
			)
		for (; version < PG_MIGRATIONS.length; version++) await tx.unsafe(PG_MIGRATIONS[version])
		await tx`UPDATE cortex_schema SET version = ${version}`
	})
}
