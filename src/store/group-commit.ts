import { IdempotencyConflictError, StoreUnavailableError } from '../errors.ts'
import { CANCEL_REQUESTED, type NewEvent } from '../events.ts'
import { HEALTHY } from './health.ts'
import type { AppendResult, EncodedEvent, Idempotency, StoreHealth } from './store.ts'

/** An append waiting for the group commit that will carry it. */
export interface Pending {
	stream: string
	events: NewEvent[]
	idempotency?: Idempotency
	/**
	 * A cancel request (`Store.requestCancel`): its one event is appended only while the run goes
	 * on without one pending.
	 */
	cancel: boolean
	resolve: (result: AppendResult) => void
	reject: (error: Error) => void
}

/** What one append of a group came to: its answer and the events it stored, or its refusal. */
export type Outcome = { result: AppendResult; stored?: EncodedEvent[] } | { error: Error }

/** The first answer given under an Idempotency-Key, as an engine keeps it. */
export interface RememberedKey {
	fingerprint: string
	firstId: number
	count: number
}

/**
 * What an append whose Idempotency-Key the stream has seen gets: the first answer again (its
 * ids; nothing is appended), or 422 when its body is another one.
 *
 * @example
 * replay({ key: 'k', fingerprint: 'f' }, { fingerprint: 'f', firstId: 7, count: 2 }) // { ids: [7, 8], replayed: true }
 */
export function replay(idempotency: Idempotency, hit: RememberedKey): AppendResult {
	if (hit.fingerprint !== idempotency.fingerprint)
		throw new IdempotencyConflictError(
			'this Idempotency-Key was used with a different body on this stream',
		)
	return { ids: Array.from({ length: hit.count }, (_, i) => hit.firstId + i), replayed: true }
}

/** About what the appends of `batch` take in the store: their data and their frames' framing. */
export const bytesOf = (batch: Pending[]) => {
	let bytes = 0
	for (const req of batch) for (const e of req.events) bytes += e.data.length + e.event.length + 32
	return bytes
}

/** Writes one group of appends in one transaction and makes it durable. */
export type GroupWriter = (batch: Pending[]) => Promise<Outcome[]>

interface Health {
	note(health: StoreHealth, bytes?: number): void
	failed(error: unknown, bytes: number): Error
}

/**
 * Group commit, the same for every engine. `append` only queues; the appends that arrive in
 * one turn of the event loop, and all that arrive while a group is being written, go into the
 * next group, which `write` puts in one transaction and makes durable (SQLite: COMMIT, then an
 * fsync of the WAL; Postgres: COMMIT). One group at a time: that is what lets many appends
 * share one transaction and one trip to the disk. Each append then gets its own outcome (a
 * refusal such as 409 or 422 fails only its own append); a group that could not be written
 * fails all of its appends, with 507 or 503 (`health.failed`), and appends nothing.
 *
 * @example
 * const commits = createGroupCommit(async (batch) => batch.map(() => ({ result: { ids: [], replayed: false } })), health)
 * await commits.append('agents/a', [{ event: 'progress', data: '{}' }])
 */
export function createGroupCommit(write: GroupWriter, health: Health) {
	let pending: Pending[] = []
	let writing: Promise<void> | undefined
	let closed = false

	async function run() {
		// The appends of this turn of the event loop join the first group.
		await new Promise((resolve) => setImmediate(resolve))
		for (;;) {
			// Checked and cleared in one step: an append can never find `writing` set by a run that
			// has already looked for the last time.
			if (pending.length === 0) {
				writing = undefined
				return
			}
			const batch = pending
			pending = []
			let outcomes: Outcome[]
			try {
				outcomes = await write(batch)
			} catch (error) {
				const failure = health.failed(error, bytesOf(batch))
				for (const req of batch) req.reject(failure)
				continue
			}
			health.note(HEALTHY)
			for (let i = 0; i < batch.length; i++) {
				const outcome = outcomes[i]
				if ('error' in outcome) batch[i].reject(outcome.error)
				else batch[i].resolve(outcome.result)
			}
		}
	}

	const queue = (
		stream: string,
		events: NewEvent[],
		idempotency: Idempotency | undefined,
		cancel: boolean,
	) => {
		if (closed) return Promise.reject(new StoreUnavailableError('the store is closed'))
		return new Promise<AppendResult>((resolve, reject) => {
			pending.push({ stream, events, idempotency, cancel, resolve, reject })
			writing ??= run()
		})
	}

	return {
		append(stream: string, events: NewEvent[], idempotency?: Idempotency): Promise<AppendResult> {
			return queue(stream, events, idempotency, false)
		},

		/** A cancel request, in the same groups as appends (see `Store.requestCancel`). */
		requestCancel(stream: string, data: string): Promise<AppendResult> {
			return queue(stream, [{ event: CANCEL_REQUESTED, data }], undefined, true)
		},

		/** Refuses new appends, and resolves once every queued one is written. */
		async close() {
			closed = true
			while (writing) await writing
		},
	}
}

export type GroupCommit = ReturnType<typeof createGroupCommit>
