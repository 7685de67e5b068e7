import { copyFile } from 'node:fs/promises'
import { StoreUnavailableError } from '../../errors.ts'
import { AUTOCHECKPOINT_PAGES, type Sqlite } from './database.ts'

/**
 * An online backup: a consistent copy of everything committed. In WAL mode only a checkpoint
 * writes the database file. So once a full checkpoint has moved every commit into it, and while
 * no other checkpoint runs, the file alone is a consistent copy of the store, and the I/O pool
 * copies it while commits go on into the WAL. (VACUUM INTO held the event loop for the whole
 * copy.) One backup at a time: each one's checkpoint would write the file the other is copying.
 */
export function createBackup(sqlite: Sqlite, closed: () => boolean) {
	const { db, path } = sqlite
	let backups = Promise.resolve()

	async function copyOut(target: string) {
		if (closed()) throw new StoreUnavailableError('the store is closed')
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
			if (closed()) throw new StoreUnavailableError('the store closed during the backup')
		} finally {
			if (!closed()) db.exec(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`)
		}
	}

	return (target: string): Promise<void> => {
		const run = backups.then(() => copyOut(target))
		backups = run.catch(() => {})
		return run
	}
}
