import { openSqliteStore } from './sqlite.ts'
import type { Store } from './store.ts'

export interface StoreOptions {
	/** Database location: a file path for SQLite. */
	url: string
	/** Largest size of the database; past it, appends answer 507. */
	maxBytes?: number
}

/** Opens the store a `--db` value names; the embedded SQLite file is the default engine. */
export async function openStore(options: StoreOptions): Promise<Store> {
	return openSqliteStore(options.url, { maxBytes: options.maxBytes })
}
