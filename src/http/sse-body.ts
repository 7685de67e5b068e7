import type { Logger } from '../log.ts'
import type { Lease } from './limits.ts'

/** What the streaming routes produce: SSE text, already framed, chunk by chunk. */
export type SseChunks = AsyncGenerator<Uint8Array | string, void>

/** What a streaming route returns: its chunks, and the place in the limits the response holds. */
export interface SseReply {
	readonly [SSE_REPLY]: true
	chunks: SseChunks
	lease: Lease
}

const SSE_REPLY = Symbol('sse reply')

/**
 * The reply of a streaming route. From here on the response owns `lease`: it is given back
 * when the body ends, when the client goes (before the first byte too), and when the body is
 * never sent at all (a HEAD request), so no way of ending a request keeps a place.
 */
export function sseReply(request: Request, chunks: SseChunks, lease: Lease): SseReply {
	request.signal.addEventListener('abort', lease.release, { once: true })
	return { [SSE_REPLY]: true, chunks, lease }
}

/**
 * A response body that writes each chunk of `chunks` straight to the socket (a direct stream)
 * and takes the next one only when the socket has taken it. Elysia's own stream body passes each
 * chunk through a queued ReadableStream and a reader loop instead: about a tenth of the CPU of
 * a delivery to a subscriber at the head (`bun run bench compare --load=fanout`).
 */
export function sseBody({ chunks, lease }: SseReply, log: Logger): ReadableStream<Uint8Array> {
	return new ReadableStream({
		type: 'direct',
		async pull(controller) {
			// The credential ended (a ticket expired, a token removed): the response ends now, at a
			// frame's end, while the generator may still be waiting for its channel's next wake.
			const end = () => {
				try {
					controller.close()
				} catch {
					// Already closed.
				}
			}
			lease.ended.addEventListener('abort', end, { once: true })
			try {
				for await (const chunk of chunks)
					try {
						const written = controller.write(chunk)
						// A promise: the socket's buffer is full; the generator waits, so a client that
						// stops reading holds one chunk, as with a pulled stream.
						if (typeof written !== 'number') await written
					} catch {
						// The client went away; leaving the loop ends the generator.
						break
					}
			} catch (error) {
				// A store read failed: the response ends, and the client resumes from its Last-Event-ID.
				log.warn('stream ended by an error', {
					error: error instanceof Error ? error.message : String(error),
				})
			} finally {
				lease.ended.removeEventListener('abort', end)
				lease.release()
			}
			try {
				controller.close()
			} catch {
				// Already closed by the client's going.
			}
		},
		// The body is dropped unsent (HEAD) or the client went: a generator never started has no
		// `finally` of its own to run.
		cancel() {
			lease.release()
			void chunks.return()
		},
	})
}

/**
 * A `mapResponse` hook for the streaming routes, which return an `SseReply`: sends it with
 * `sseBody`; Elysia adds the headers the route set. Other responses pass through untouched.
 */
export const sseResponses =
	(log: Logger) =>
	({ responseValue }: { responseValue: unknown }) =>
		typeof responseValue === 'object' && responseValue !== null && SSE_REPLY in responseValue
			? new Response(sseBody(responseValue as SseReply, log))
			: undefined
