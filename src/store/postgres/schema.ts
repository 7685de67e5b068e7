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
