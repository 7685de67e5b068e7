/**
 * cortex-stream's client, `@cortex-stream/client`: publish events and follow streams, in Bun,
 * Node.js 20+ and browsers. It has no dependencies and imports nothing from the server.
 *
 * @example
 * import { publish, subscribe } from '@cortex-stream/client'
 * await publish('agents/build', { event: 'progress', data: { progress: 0.5 } }, { token })
 * for await (const e of subscribe('agents/build', { token })) console.log(e.id, e.event, e.data)
 */

export {
	type ClientOptions,
	CortexConnectionError,
	CortexRequestError,
	DEFAULT_URL,
	type TokenSource,
} from './http.js'
export { type OutgoingEvent, type PublishOptions, publish } from './publish.js'
export { Publisher, type PublisherOptions } from './publisher.js'
export { isTerminal, TERMINAL_TYPES } from './runs.js'
export { type SseMessage, SseParser } from './sse.js'
export {
	type CustomEvents,
	type GapEvent,
	type KnownEvents,
	type NoCustomEvents,
	type StreamEvent,
	type SubscribeOptions,
	subscribe,
} from './subscribe.js'
export type * from './types.js'
