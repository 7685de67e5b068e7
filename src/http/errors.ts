import { BadRequestError, ClientClosedError, CortexError, NotFoundError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { errorResponse, internalError } from './respond.ts'

/**
 * The one place errors become responses. Our own errors carry their status; the framework's
 * (unknown route, unreadable request) are translated; anything else is a bug: logged with its
 * stack, answered 500 without detail.
 */
export function handleError(
	log: Logger,
	code: string | number,
	error: unknown,
	path: string,
): Response {
	if (error instanceof ClientClosedError) log.debug('client closed the request', { path })
	if (error instanceof CortexError) return errorResponse(error)
	if (code === 'NOT_FOUND') return errorResponse(new NotFoundError(`no route for ${path}`))
	if (code === 'PARSE' || code === 'VALIDATION' || code === 'INVALID_COOKIE_SIGNATURE')
		return errorResponse(new BadRequestError('the request could not be read'))
	log.error('unhandled error', {
		path,
		error:
			error instanceof Error
				? { name: error.name, message: error.message, stack: error.stack }
				: String(error),
	})
	return internalError()
}
