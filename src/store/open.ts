import { withFaultStatuses } from './faults.ts'
import { isPostgresUrl, openPostgresStore } from './postgres/index.ts'
import { openSqliteStore } from './sqlite/index.ts'
import type { Store } from './store.ts'

export interface StoreOptions {
	/** Database location: a file path for SQLite, a `postgres://` URL for Postgres. */
	url: string
	/** Largest size of the database; past it, appends answer 507. */
	maxBytes?: number
}

/**
 * Opens the store a `--db` value names; the embedded SQLite file is the default engine. Its
 * faults come out as statuses (see `withFaultStatuses`).
 */
export async function openStore(options: StoreOptions): Promise<Store> {
	const store = isPostgresUrl(options.url)
		? await openPostgresStore(options.url, { maxBytes: options.maxBytes })
		: openSqliteStore(options.url, { maxBytes: options.maxBytes })
	return withFaultStatuses(store)
}
