import type { NewEvent, StoredEvent, StreamKind } from '../events.ts'

/** An event of the feed: a stored event and the stream it belongs to. */
export interface FeedEvent extends StoredEvent {
	stream: string
}

/**
 * The most a replay reads and sends at a time (one event goes whatever its size): what a
 * subscriber that stops reading can hold. The SQLite engine keeps its chunk rows within it, so
 * a replay reads each row once and whole.
 */
export const READ_BLOCK_BYTES = 32 * 1024

/** The contract remembers an Idempotency-Key for 24 hours. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000

export type RunStatus = 'running' | 'complete' | 'failed' | 'cancelled'

/** What the store keeps of a stream beside its events. */
export interface StreamState {
	/** `agents/<name>` or `workflows/<id>`. */
	name: string
	lastId: number
	status: RunStatus
	/** Id of the first event of the current agent execution, or of the workflow run. */
	executionStart: number
	/** Oldest id still kept; retention moves it forward. */
	firstId: number
	createdAt: number
	updatedAt: number
	/** The snapshot (JSON) kept when retention pruned the events it was folded from. */
	snapshot?: string
}

/**
 * An agent execution that has ended, as the store keeps it, so that an agent's executions are
 * listed without folding its events: where it starts and ends, how, when, and where its message
 * is.
 */
export interface EndedExecution {
	startId: number
	endId: number
	status: Exclude<RunStatus, 'running'>
	/** When its first and its terminal event were stored, ms. */
	startedAt: number
	endedAt: number
	/**
	 * Its last `progress` before the terminal event whose data has a `message` key (0: none; see
	 * `namesMessage` in advance.ts): what the execution's message is, unless the terminal event
	 * gives one.
	 */
	messageId: number
}

/** What a page of a kind's streams holds, most recently appended to first. */
export interface ListQuery {
	/** Streams on the page at most. */
	limit: number
	/** The `next` of the page before, as the store gave it; absent for the first page. */
	page?: string
	status?: RunStatus
	/** Only streams whose name (without the kind) starts with this. */
	prefix?: string
	/** Only streams this says yes to (the token's read grant): pages are full of those. */
	where(stream: string): boolean
	/**
	 * The patterns `where` matches names against, when it does (the credential's): an engine may
	 * apply them in SQL first. Absent, every stream (`where` alone decides).
	 */
	patterns?: readonly string[]
}

/** How many streams are in each status. */
export type StatusCounts = Record<RunStatus, number>

/**
 * What a list's counts cover: the streams of a kind that `where` takes and whose name starts
 * with `prefix`, in every status.
 */
export interface CountQuery {
	prefix?: string
	where(stream: string): boolean
	/**
	 * The patterns `where` matches names against (the credential's, `*` for all), for an engine
	 * that counts in SQL: the same streams either way.
	 */
	patterns: readonly string[]
}

export interface ListPage {
	states: StreamState[]
	/** For each of `states`, the opaque `page` that goes on after it. */
	resume: string[]
	/** Whether streams come after the last of `states`. */
	more: boolean
	/** The global cursor at the moment of the page: every event after it is newer than the page. */
	cursor: number
}

export interface Idempotency {
	key: string
	/** Identifies the request body: a repeat with another body under the same key is a conflict. */
	fingerprint: string
}

export interface AppendResult {
	ids: number[]
	/**
	 * True when the ids come from an earlier request with the same Idempotency-Key (for a cancel
	 * request: the `cancel_requested` already pending); nothing was appended.
	 */
	replayed: boolean
	/**
	 * The `cancel_requested` pending in the agent execution or workflow run the stream is in once
	 * the append is done (for a replay: now): its id and its `data` (JSON text). Absent when none
	 * is, and once the execution or run has ended.
	 */
	cancel?: PendingCancel
}

/** A `cancel_requested` the running execution or run has not ended since. */
export interface PendingCancel {
	id: number
	/** Its `data`, JSON text: `{"reason": "..."}` or `{}`. */
	data: string
}

/** A stored event with its SSE frame (`encodeEvent`), the bytes every subscriber is sent. */
export interface EncodedEvent extends StoredEvent {
	frame: Uint8Array
}

/** Consecutive events' stored frames, back to back: what a replay sends. */
export interface FrameBlock {
	/** The id of the last event in `bytes`. */
	lastId: number
	count: number
	bytes: Uint8Array
}

/** Called after each commit with the events it made durable, in commit order. */
export type AdvanceListener = (stream: string, events: EncodedEvent[]) => void

/**
 * The durable log behind every stream. The SQLite engine is the embedded default; a second
 * engine (Postgres, for several instances) implements the same interface.
 */
export interface Store {
	/**
	 * Appends events to a stream atomically; resolves once they are durable on disk.
	 * Rejects with `StreamEndedError` (the workflow run has ended) or `IdempotencyConflictError`.
	 */
	append(stream: string, events: NewEvent[], idempotency?: Idempotency): Promise<AppendResult>
	/**
	 * Asks the stream's running agent execution or workflow run to stop: appends a
	 * `cancel_requested` event with `data` (JSON text) as `append` does, decided in the same
	 * transaction, so it lands in the run it was asked of. When one is pending already in that
	 * run, resolves with its id (`replayed`) and appends nothing. Rejects with `NotRunningError`
	 * when nothing runs: no events yet, or the last one is terminal.
	 */
	requestCancel(stream: string, data: string): Promise<AppendResult>
	/** Up to `limit` events with id greater than `afterId`, in id order. */
	read(stream: string, afterId: number, limit: number): Promise<StoredEvent[]>
	/** The events of a stream with these ids (in increasing order) that are kept, in id order. */
	readIds(stream: string, ids: readonly number[]): Promise<StoredEvent[]>
	/**
	 * The same events as `read`, as their stored frames: a replay sends them without encoding.
	 * Stops before `maxBytes`, but always holds the first event; undefined when there is none.
	 */
	readFrames(
		stream: string,
		afterId: number,
		limit: number,
		maxBytes: number,
	): Promise<FrameBlock | undefined>
	/**
	 * Up to `limit` events of every stream with `seq` greater than `afterSeq`, in commit order.
	 * Stops once their `data` reach `maxBytes` (the event that reaches it included), so a reader
	 * that takes a few is not handed thousands.
	 */
	readAll(afterSeq: number, limit: number, maxBytes: number): Promise<FeedEvent[]>
	/** The global cursor: the `seq` of the last durable event. */
	cursor(): Promise<number>
	state(stream: string): Promise<StreamState | undefined>
	/** A page of a kind's streams, most recently appended to first, and the global cursor. */
	list(kind: StreamKind, query: ListQuery): Promise<ListPage>
	/** How many of a kind's streams are in each status, as `list` would see them now. */
	counts(kind: StreamKind, query: CountQuery): Promise<StatusCounts>
	/**
	 * An agent's ended executions that retention kept, newest first, at most `limit`: those that
	 * start below id `before` and end at or before `upToId` (the last id of the state the caller
	 * read, so the page agrees with it).
	 */
	executions(
		stream: string,
		before: number,
		upToId: number,
		limit: number,
	): Promise<EndedExecution[]>
	/** Listens for commits ("stream advanced"); returns the function that stops listening. */
	subscribe(listener: AdvanceListener): () => void
	/**
	 * Streams with events that retention may drop: up to `upToId`, whole executions or runs that
	 * ended before `cutoff` (ms), never the one still running.
	 */
	prunable(cutoff: number): Promise<Array<{ stream: string; upToId: number }>>
	/**
	 * Drops a stream's events up to `upToId` in small transactions, keeping `snapshot` (JSON)
	 * for what no longer has events; resolves with how many events went. Ids are never reused.
	 */
	prune(stream: string, upToId: number, snapshot: string): Promise<number>
	/**
	 * The first event kept (not pruned) after the global cursor `afterSeq`: its cursor and when it
	 * was stored (ms); undefined when none is. `keptAfter(0)` is the oldest event kept.
	 */
	keptAfter(afterSeq: number): Promise<{ seq: number; createdAt: number } | undefined>
	/** Writes a consistent copy of everything committed to `path` (a new file). */
	backup(path: string): Promise<void>
	/**
	 * Whether a publish would be committed now: ok, or why not (`storage_full`: the disk or
	 * `--max-db-bytes`; `store_unavailable`: the store cannot be reached or written). It
	 * follows every append's outcome, and tries a small write of its own at most once a second.
	 */
	health(): Promise<StoreHealth>
	/**
	 * A random secret of 32 bytes kept under `name`, made on first use and then the same for every
	 * server on this store and across restarts (the key that signs tickets).
	 */
	secret(name: string): Promise<Uint8Array>
	/**
	 * After a prune: lets go of what the store held in memory for what is gone (caches of deleted
	 * pages, the bookkeeping of emptied streams), so retention gives memory back.
	 */
	release(): void
	stats(): StoreStats
	close(): Promise<void>
}

export type StoreHealth =
	| { ok: true }
	| { ok: false; code: 'storage_full' | 'store_unavailable'; message: string }

export interface StoreStats {
	/** Bytes the store occupies on disk. */
	bytes: number
	/** Transactions committed; with group commit, fewer than the appends they carried. */
	commits: number
	/** Streams whose state this process holds in memory (SQLite: those with events kept). */
	streams: number
}
