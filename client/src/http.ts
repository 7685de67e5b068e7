/**
 * Where the server is and how to prove who we are; the CLI's `--url` and `--token`.
 *
 * @example
 * const options: ClientOptions = { url: 'https://cortex.example:8787', token: process.env.CORTEX_TOKEN }
 */
export interface ClientOptions {
	/** Server URL; default `http://127.0.0.1:8787`. */
	url?: string
	/**
	 * Sent as `Authorization: Bearer <token>`. subscribe() and useRun() also take a function
	 * that gives one, `() => string | Promise<string>` (see `SubscribeOptions.token`), called
	 * for each connection, so that a page can fetch a short-lived read ticket from its own
	 * backend instead of holding a token; publish() and Publisher take the string only.
	 */
	token?: string
	/** A `fetch` to use instead of the global one. */
	fetch?: typeof fetch
}

/**
 * The server a client talks to when no `url` is given: a local sidecar.
 *
 * @example
 * await publish('agents/a', { event: 'progress' }) // goes to DEFAULT_URL
 */
export const DEFAULT_URL = 'http://127.0.0.1:8787'

/**
 * A request the server refused, with the contract's error body: `status` 400-499 (or a 429 or
 * 5xx that was still the answer when publish() ran out of time to retry), `code` such as
 * `invalid_event` or `stream_ended`, `field`, a JSON Pointer into the body when one field was
 * at fault, and `url`, the request's URL when known.
 *
 * @example
 * try { await publish('workflows/wf-1', { event: 'step_start', data: {} }) }
 * catch (e) { if (e instanceof CortexRequestError && e.status === 400) console.error(e.field) }
 */
export class CortexRequestError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		readonly field?: string,
		readonly url?: string,
	) {
		super(message)
		this.name = 'CortexRequestError'
	}

	static async from(res: Response, url = res.url || undefined): Promise<CortexRequestError> {
		type ErrorBody = { error?: { code?: string; message?: string; field?: string } }
		let body: ErrorBody = {}
		try {
			body = (await res.json()) as ErrorBody
		} catch {}
		return new CortexRequestError(
			res.status,
			body.error?.code ?? `http_${res.status}`,
			body.error?.message ?? res.statusText,
			body.error?.field,
			url,
		)
	}
}

/**
 * The server could not be reached (connection refused or reset, DNS failure...) for as long as
 * publish() was allowed to retry. `url` is the request's URL and `cause` the last error `fetch`
 * threw.
 *
 * @example
 * try { await publish('agents/a', { event: 'complete' }, { retryForMs: 5_000 }) }
 * catch (e) { if (e instanceof CortexConnectionError) console.error(`is the server at ${e.url} up?`) }
 */
export class CortexConnectionError extends Error {
	constructor(
		readonly url: string,
		message: string,
		override readonly cause: unknown,
	) {
		super(message, { cause })
		this.name = 'CortexConnectionError'
	}
}

/** Whether a failure may go away if the same request is sent again. */
export const isRetryable = (status: number) => status === 429 || status >= 500

export function endpoint(options: { url?: string }, path: string): string {
	return `${(options.url ?? DEFAULT_URL).replace(/\/+$/, '')}${path}`
}

export function authHeaders(options: ClientOptions): Record<string, string> {
	return options.token ? { authorization: `Bearer ${options.token}` } : {}
}

/**
 * A credential, or a function that gives one (a fresh ticket from the app's backend), called
 * before each connection and once more after a `401`.
 *
 * @example
 * const token: TokenSource = async () => (await (await fetch('/my-app/cortex-ticket')).json()).ticket
 */
export type TokenSource = string | (() => string | Promise<string>)

/** The `Authorization` header for `token`, calling it first when it is a function. */
export async function bearer(token: TokenSource | undefined): Promise<Record<string, string>> {
	const value = typeof token === 'function' ? await token() : token
	return value ? { authorization: `Bearer ${value}` } : {}
}

/** `agents/<name>` or `workflows/<id>` to its URL path, the name percent-encoded once. */
export function streamPath(stream: string): { kind: 'agents' | 'workflows'; name: string } {
	const slash = stream.indexOf('/')
	const kind = stream.slice(0, slash)
	if (kind !== 'agents' && kind !== 'workflows')
		throw new TypeError(`a stream is "agents/<name>" or "workflows/<id>", not "${stream}"`)
	return { kind, name: encodeURIComponent(stream.slice(slash + 1)) }
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal?.aborted) return reject(signal.reason)
		const timer = setTimeout(done, ms)
		function done() {
			signal?.removeEventListener('abort', abort)
			resolve()
		}
		function abort() {
			clearTimeout(timer)
			reject(signal?.reason)
		}
		signal?.addEventListener('abort', abort, { once: true })
	})
}
