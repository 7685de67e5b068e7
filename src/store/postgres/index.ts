import { randomBytes } from 'node:crypto'
import { SQL } from 'bun'
import { InsufficientStorageError, NotSupportedError } from '../../errors.ts'
import { createGroupCommit } from '../group-commit.ts'
import { createHealth, HEALTHY, storageFull, unavailable } from '../health.ts'
import { type AdvanceListener, IDEMPOTENCY_TTL_MS, type Store } from '../store.ts'
import { createWriter } from './commit.ts'
import { startPump } from './pump.ts'
import { createReads } from './read.ts'
import { migratePostgres } from './schema.ts'

const SIZE_EVERY_MS = 10_000
/** Postgres' SQLSTATE for a full disk. */
const DISK_FULL = '53100'
const HEALTH_TIMEOUT_MS = 2_000

export const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url)

/** The URL without its password, for logs. */
export function redactUrl(url: string) {
	if (!isPostgresUrl(url)) return url
	const parsed = new URL(url)
	if (parsed.password) parsed.password = '***'
	return parsed.toString()
}

/**
 * The engine for several instances on one Postgres database, through Bun's SQL client. Its
 * parts: the schema (schema.ts), the group commit's writer (commit.ts: how ids and the global
 * cursor stay gapless across instances), the reads and retention (read.ts), and the fan-out of
 * every instance's commits to every other (pump.ts).
 *
 * @example
 * const store = await openPostgresStore('postgres://cortex@127.0.0.1/cortex')
 */
export async function openPostgresStore(
	url: string,
	options: { maxBytes?: number; catchUpMs?: number } = {},
): Promise<Store> {
	const sql = new SQL(url, { max: 10, bigint: false, connectionTimeout: 10 })
	try {
		await migratePostgres(sql)
	} catch (error) {
		await sql.close()
		const code = (error as { code?: string }).code
		throw new Error(
			`the Postgres database at ${redactUrl(url)} cannot be used: ${(error as Error).message}${code ? ` (${code})` : ''}`,
		)
	}

	/**
	 * A write of a few pages, given back in the same transaction: what a publish needs of the
	 * database (a replica refuses it too). Random bytes, which Postgres cannot compress away.
	 * Bounded in time, as a database that does not answer would keep the client waiting for its
	 * connection timeout.
	 */
	const health = createHealth(async (need) => {
		const probe = sql
			.begin(async (tx) => {
				await tx`INSERT INTO cortex_secrets (name, value) VALUES ('health-probe', ${randomBytes(need)})
					ON CONFLICT (name) DO UPDATE SET value = excluded.value`
				await tx`DELETE FROM cortex_secrets WHERE name = 'health-probe'`
			})
			.then(
				() => HEALTHY,
				(error) =>
					(error as { errno?: string }).errno === DISK_FULL
						? storageFull(`the database is full: ${(error as Error).message}`)
						: unavailable(`the database cannot be written: ${(error as Error).message}`),
			)
		return Promise.race([
			probe,
			Bun.sleep(HEALTH_TIMEOUT_MS).then(() =>
				unavailable(`the database did not answer within ${HEALTH_TIMEOUT_MS} ms`),
			),
		])
	})
	const listeners = new Set<AdvanceListener>()
	const reads = createReads(sql)
	const pump = await startPump(
		sql,
		listeners,
		// Every event goes to the hub, whatever its size.
		(afterSeq, limit) => reads.readAll(afterSeq, limit, Number.POSITIVE_INFINITY),
		await reads.cursor(),
		options.catchUpMs,
	)
	const writer = createWriter(sql, (seq) => pump.committed(seq))
	const commits = createGroupCommit(writer.write, health)
	let closed = false
	let bytes = 0

	const measure = async () => {
		try {
			bytes = Number((await sql`SELECT pg_database_size(current_database()) AS n`)[0].n)
		} catch {}
	}
	await measure()
	const sizer = setInterval(measure, SIZE_EVERY_MS)
	sizer.unref()
	const expiry = setInterval(
		() =>
			sql`DELETE FROM cortex_idempotency_keys WHERE created_at < ${Date.now() - IDEMPOTENCY_TTL_MS}`.catch(
				() => {},
			),
		3_600_000,
	)
	expiry.unref()

	const full = () => options.maxBytes !== undefined && bytes >= options.maxBytes

	return {
		append(stream, events, idempotency) {
			// The size is measured every 10 s: past the cap, nothing more is queued.
			if (full())
				return Promise.reject(
					new InsufficientStorageError(
						'the store is full: nothing was appended; try again when space is freed',
					),
				)
			return commits.append(stream, events, idempotency)
		},
		requestCancel(stream, data) {
			if (full())
				return Promise.reject(
					new InsufficientStorageError(
						'the store is full: nothing was appended; try again when space is freed',
					),
				)
			return commits.requestCancel(stream, data)
		},
		...reads,

		subscribe(listener) {
			listeners.add(listener)
			return () => listeners.delete(listener)
		},

		async backup() {
			throw new NotSupportedError(
				'this server stores its events in Postgres: back it up with pg_dump or the database host',
			)
		},

		async secret(name) {
			const value = crypto.getRandomValues(new Uint8Array(32))
			await sql`INSERT INTO cortex_secrets (name, value) VALUES (${name}, ${value}) ON CONFLICT (name) DO NOTHING`
			const [row] = await sql`SELECT value FROM cortex_secrets WHERE name = ${name}`
			return new Uint8Array(row.value)
		},

		health() {
			if (closed) return Promise.resolve(unavailable('the store is closed'))
			if (full())
				return Promise.resolve(
					storageFull(`the database has reached --max-db-bytes (${bytes} bytes)`),
				)
			return health.current()
		},

		release() {
			// Nothing is held per stream in this process: the database keeps it all.
		},

		stats() {
			return { bytes, commits: writer.commits, streams: 0 }
		},

		async close() {
			if (closed) return
			closed = true
			clearInterval(sizer)
			clearInterval(expiry)
			await commits.close()
			await pump.stop()
			await sql.close()
		},
	}
}
