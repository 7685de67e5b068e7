import { isPostgresUrl, openPostgresStore } from './postgres.ts'
import { openSqliteStore } from './sqlite.ts'
import type { Store } from './store.ts'

export interface StoreOptions {
	/** Database location: a file path for SQLite, a `postgres://` URL for Postgres. */
	url: string
	/** Largest size of the database; past it, appends answer 507. */
	maxBytes?: number
}

/** Opens the store a `--db` value names; the embedded SQLite file is the default engine. */
export async function openStore(options: StoreOptions): Promise<Store> {
	if (isPostgresUrl(options.url))
		return openPostgresStore(options.url, { maxBytes: options.maxBytes })
	return openSqliteStore(options.url, { maxBytes: options.maxBytes })
}
