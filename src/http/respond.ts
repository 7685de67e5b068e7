import type { CortexError } from '../errors.ts'

export const JSON_TYPE = 'application/json; charset=utf-8'

/** A JSON response; `body` may be JSON text already, to skip a parse and a stringify. */
export function json(status: number, body: unknown, headers?: Record<string, string>): Response {
	return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
		status,
		headers: { 'content-type': JSON_TYPE, ...headers },
	})
}

/** `{"error": {"code", "message", "field"}}`, `field` only when one field is at fault. */
export function errorResponse(error: CortexError): Response {
	const body = {
		error: {
			code: error.code,
			message: error.message,
			...(error.field !== undefined && { field: error.field }),
		},
	}
	return json(error.status, body, error.headers)
}

/** What an unexpected error tells the client: nothing about its cause, which goes to the log. */
export const internalError = () =>
	json(500, { error: { code: 'internal', message: 'internal server error' } })
