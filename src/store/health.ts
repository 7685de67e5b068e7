import { InsufficientStorageError, StoreUnavailableError } from '../errors.ts'
import { storeFault } from './faults.ts'
import type { StoreHealth } from './store.ts'

export const HEALTHY: StoreHealth = { ok: true }

export const storageFull = (message: string): StoreHealth => ({
	ok: false,
	code: 'storage_full',
	message,
})
export const unavailable = (message: string): StoreHealth => ({
	ok: false,
	code: 'store_unavailable',
	message,
})
/** How long a health check's own write, or an append's outcome, stands for the store's health. */
export const HEALTH_TTL_MS = 1_000
/** What a probe writes when no append has been refused for lack of room: one page. */
export const PROBE_BYTES = 4096

/**
 * The health of a store, as the last append or probe found it. A probe runs only when no
 * outcome is newer than HEALTH_TTL_MS, so however often `/healthz` is asked, the store is
 * written to at most once a second for it. After an append was refused for lack of room, the
 * probe asks for as much room as that append needed: the store is healthy again when a publish
 * like it would be taken, not when some smaller one would.
 */
export function createHealth(probe: (bytes: number) => Promise<StoreHealth>) {
	let known: { at: number; health: StoreHealth } | undefined
	let probing: Promise<StoreHealth> | undefined
	let need = PROBE_BYTES
	const remember = (health: StoreHealth) => {
		known = { at: Date.now(), health }
	}
	/** An append's outcome; `bytes`, for one refused for lack of room, is what it needed. */
	const note = (health: StoreHealth, bytes = PROBE_BYTES) => {
		remember(health)
		need = health.ok ? PROBE_BYTES : Math.max(bytes, PROBE_BYTES)
	}
	return {
		note,
		/**
		 * A commit of appends needing `bytes` failed with `error`: notes it, and returns what each
		 * of its appends is refused with (507 for no room, 503 for the rest).
		 */
		failed(error: unknown, bytes: number): InsufficientStorageError | StoreUnavailableError {
			const fault = storeFault(error)
			const full = fault instanceof InsufficientStorageError
			const failure = full
				? new InsufficientStorageError(
						'the store is full: nothing was appended; try again when space is freed',
					)
				: new StoreUnavailableError(`the events could not be stored: ${(error as Error).message}`)
			if (full) note(storageFull(failure.message), bytes)
			else note(unavailable(failure.message))
			return failure
		},
		async current(): Promise<StoreHealth> {
			if (known && Date.now() - known.at < HEALTH_TTL_MS) return known.health
			probing ??= probe(need)
				.then((health) => {
					remember(health)
					if (health.ok) need = PROBE_BYTES
					return health
				})
				.finally(() => {
					probing = undefined
				})
			return probing
		},
	}
}
