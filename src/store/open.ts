import { openSqliteStore } from './sqlite.ts'
import type { Store } from './store.ts'

export interface StoreOptions {
	/** Database location: a file path for SQLite. */
	url: string
}

/** Opens the store a `--db` value names; the embedded SQLite file is the default engine. */
export async function openStore(options: StoreOptions): Promise<Store> {
	return openSqliteStore(options.url)
}
