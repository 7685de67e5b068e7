/**
 * Every error a request can meet carries its own status and code, so that one handler in
 * `http/errors.ts` answers them all as `{"error": {"code", "message", "field"}}`.
 */
export class CortexError extends Error {
	readonly status: number = 500
	readonly code: string = 'internal'
	/** A JSON Pointer into the request body, when one field is at fault. */
	readonly field?: string
	readonly headers?: Record<string, string>

	constructor(message: string, field?: string) {
		super(message)
		this.field = field
	}
}

export class BadRequestError extends CortexError {
	override readonly status = 400
	override readonly code: string = 'bad_request'
}

export class InvalidEventError extends BadRequestError {
	override readonly code = 'invalid_event'
}

export class MalformedJsonError extends BadRequestError {
	override readonly code = 'malformed_json'
}

export class UnauthorizedError extends CortexError {
	override readonly status = 401
	override readonly code = 'unauthorized'
	override readonly headers = { 'WWW-Authenticate': 'Bearer realm="cortex-stream"' }
}

export class ForbiddenError extends CortexError {
	override readonly status = 403
	override readonly code = 'forbidden'
}

export class NotFoundError extends CortexError {
	override readonly status = 404
	override readonly code = 'not_found'
}

/**
 * The client went away before its request body arrived whole: no answer reaches it, and
 * nothing was done. Counted apart from server errors (499, as nginx names it), logged at debug.
 */
export class ClientClosedError extends CortexError {
	override readonly status = 499
	override readonly code = 'client_closed_request'
}

export class StreamEndedError extends CortexError {
	override readonly status = 409
	override readonly code = 'stream_ended'
}

/** A cancel asked of a stream with nothing running: no events, or its last one is terminal. */
export class NotRunningError extends CortexError {
	override readonly status = 409
	override readonly code = 'not_running'
}

export class PayloadTooLargeError extends CortexError {
	override readonly status = 413
	override readonly code = 'payload_too_large'
}

export class IdempotencyConflictError extends CortexError {
	override readonly status = 422
	override readonly code = 'idempotency_key_reused'
}

/** What a 503 for an unreachable store asks clients to wait, in seconds. */
export const STORE_RETRY_AFTER_S = 2

/** A refusal that tells the client when to come back. */
abstract class RetryLaterError extends CortexError {
	override readonly headers: Record<string, string>
	constructor(message: string, retryAfterSeconds: number) {
		super(message)
		this.headers = { 'Retry-After': String(retryAfterSeconds) }
	}
}

/** A token opened too many streams, or too many at once: it may try again after `Retry-After`. */
export class TooManyRequestsError extends RetryLaterError {
	override readonly status = 429
	override readonly code = 'too_many_requests'
}

/** The server holds as many streams as it may: try again after `Retry-After`, maybe elsewhere. */
export class OverloadedError extends RetryLaterError {
	override readonly status = 503
	override readonly code = 'overloaded'
}

/** The disk, or the database's size cap, is full: nothing was appended; reads go on. */
export class InsufficientStorageError extends CortexError {
	override readonly status = 507
	override readonly code = 'storage_full'
}

/** What this server's configuration cannot do, such as a backup of a Postgres store. */
export class NotSupportedError extends CortexError {
	override readonly status = 501
	override readonly code = 'not_supported'
}

/** The store cannot be reached or written now; nothing was appended. Try again after `Retry-After`. */
export class StoreUnavailableError extends RetryLaterError {
	override readonly status = 503
	override readonly code = 'store_unavailable'
	constructor(message: string, retryAfterSeconds = STORE_RETRY_AFTER_S) {
		super(message, retryAfterSeconds)
	}
}
