import { type TSchema, Type } from '@sinclair/typebox'
import { Elysia } from 'elysia'
import pkg from '../../package.json' with { type: 'json' }
import {
	EVENT_TYPE_PATTERN,
	MAX_BATCH,
	NAME_PATTERN,
	PublishBody,
	STANDARD_EVENTS,
} from '../events.ts'
import { AgentState, Time, WorkflowState } from '../states.ts'

const ErrorBody = Type.Object({
	error: Type.Object({
		code: Type.String(),
		message: Type.String(),
		field: Type.Optional(Type.String({ description: 'JSON Pointer into the body' })),
	}),
})
const EventPage = Type.Object({
	events: Type.Array(
		Type.Object({
			id: Type.Integer(),
			event: Type.String(),
			data: Type.Record(Type.String(), Type.Unknown()),
			createdAt: Type.String({ format: 'date-time' }),
		}),
	),
	next: Type.Union([Type.Integer(), Type.Null()]),
})

const json = (schema: TSchema, description: string) => ({
	description,
	content: { 'application/json': { schema } },
})
const errors = (...codes: number[]) =>
	Object.fromEntries(codes.map((c) => [String(c), json(ErrorBody, `error ${c}`)]))
const nameParam = (name: string) => ({
	name,
	in: 'path',
	required: true,
	schema: { type: 'string', pattern: NAME_PATTERN.source },
})
const eventId = { type: 'string', pattern: '^[0-9]{1,15}$' }
/** Where a stream resumes, and the query token that browsers need. */
const resumeParams = [
	{ name: 'Last-Event-ID', in: 'header', schema: eventId },
	{ name: 'lastEventId', in: 'query', schema: eventId },
	{ name: 'access_token', in: 'query', schema: { type: 'string' } },
]
const bearer = [{ bearer: [] }]
const streamAuth = [{ bearer: [] }, { accessToken: [] }]
const sseResponse = {
	description:
		'text/event-stream: `retry:`, then `id:`/`event:`/`data:` frames and `: heartbeat` comments',
	content: { 'text/event-stream': { schema: { type: 'string' } } },
}

function streamRoutes(kind: 'agents' | 'workflows', param: string) {
	const one = kind === 'agents' ? AgentState : WorkflowState
	const path = `{${param}}`
	return {
		[`/api/${kind}`]: {
			get: {
				summary: `A page of snapshots of the ${kind === 'agents' ? 'agents' : 'workflow runs'} the token may read, most recently updated first, within 4 MiB`,
				security: bearer,
				parameters: [
					{
						name: 'limit',
						in: 'query',
						schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
					},
					{ name: 'page', in: 'query', schema: { type: 'string', maxLength: 64 } },
					{
						name: 'status',
						in: 'query',
						schema: { enum: ['running', 'complete', 'failed', 'cancelled'] },
					},
					{
						name: 'prefix',
						in: 'query',
						schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
					},
				],
				responses: {
					200: json(
						Type.Object({
							[kind]: Type.Array(
								kind === 'agents'
									? Type.Intersect([
											AgentState,
											Type.Object({
												resultOmitted: Type.Optional(
													Type.Literal(true, {
														description: 'the result is too large for a list; the snapshot has it',
													}),
												),
											}),
										])
									: one,
							),
							cursor: Type.Integer({ description: "the feed's cursor at the moment of the page" }),
							next: Type.Union([Type.String(), Type.Null()], {
								description: 'the page parameter of the next page; null after the last',
							}),
						}),
						'a page of snapshots and the feed cursor',
					),
					...errors(400, 401, 403),
				},
			},
		},
		[`/api/${kind}/${path}`]: {
			get: {
				summary: 'A snapshot folded from the log',
				security: bearer,
				parameters: [nameParam(param)],
				responses: { 200: json(one, 'the snapshot'), ...errors(400, 401, 404) },
			},
		},
		[`/api/${kind}/${path}/events`]: {
			get: {
				summary: 'A page of stored events',
				security: bearer,
				parameters: [
					nameParam(param),
					{ name: 'after', in: 'query', schema: { type: 'integer', minimum: 0 } },
					{
						name: 'limit',
						in: 'query',
						schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
					},
				],
				responses: { 200: json(EventPage, 'events and the next cursor'), ...errors(400, 401, 404) },
			},
			post: {
				summary: `Append one event or a batch of up to ${MAX_BATCH}, atomically; 201 once durable`,
				security: bearer,
				parameters: [
					nameParam(param),
					{
						name: 'Idempotency-Key',
						in: 'header',
						schema: { type: 'string', minLength: 1, maxLength: 128 },
					},
				],
				requestBody: { required: true, content: { 'application/json': { schema: PublishBody } } },
				responses: {
					201: json(
						Type.Object({ ids: Type.Array(Type.Integer()) }),
						'the ids of the appended events',
					),
					...errors(400, 401, 403, 409, 413, 422),
				},
			},
		},
		[`/api/streaming/${kind}/${path}/stream`]: {
			get: {
				summary: 'Server-Sent Events: replay after Last-Event-ID, then live',
				security: streamAuth,
				parameters: [nameParam(param), ...resumeParams],
				responses: {
					200: sseResponse,
					204: { description: 'the run has ended and the client has all of it' },
					...errors(400, 401, 403),
				},
			},
		},
	}
}

/**
 * The OpenAPI 3.1 description of the HTTP API, built from the TypeBox schemas that the publish
 * route validates with (`events.ts`), so the two cannot drift apart.
 */
export function openApiDocument(version: string = pkg.version) {
	return {
		openapi: '3.1.0',
		info: {
			title: 'cortex-stream',
			version,
			description: 'Durable, resumable SSE progress streams for agents and workflows',
		},
		components: {
			securitySchemes: {
				bearer: { type: 'http', scheme: 'bearer' },
				accessToken: { type: 'apiKey', in: 'query', name: 'access_token' },
			},
			schemas: {
				Error: ErrorBody,
				AgentState,
				WorkflowState,
				...Object.fromEntries(
					Object.entries(STANDARD_EVENTS).map(([type, schema]) => [`${type}Data`, schema]),
				),
			},
		},
		'x-event-type-pattern': EVENT_TYPE_PATTERN.source,
		paths: {
			...streamRoutes('agents', 'name'),
			...streamRoutes('workflows', 'id'),
			'/api/streaming/events': {
				get: {
					summary:
						'Server-Sent Events of every stream the token may read and `match` selects, numbered by the global cursor',
					security: streamAuth,
					parameters: [
						{
							name: 'match',
							in: 'query',
							explode: true,
							schema: { type: 'array', items: { type: 'string' } },
						},
						...resumeParams,
					],
					responses: { 200: sseResponse, ...errors(400, 401, 403) },
				},
			},
			'/api/ws': {
				get: {
					summary:
						'WebSocket feed: send {"subscribe": ["agents/*"], "after": cursor}; receive one {"cursor", "stream", "id", "event", "data"} per event',
					security: streamAuth,
					parameters: [{ name: 'access_token', in: 'query', schema: { type: 'string' } }],
					responses: { 101: { description: 'switching to WebSocket' }, ...errors(401, 403) },
				},
			},
			'/api/tickets': {
				post: {
					summary:
						'A signed, read-only, expiring ticket for browser URLs, within what the caller may read',
					security: bearer,
					requestBody: {
						required: true,
						content: {
							'application/json': {
								schema: Type.Object({
									streams: Type.Array(Type.String(), { minItems: 1, maxItems: 64 }),
									ttlSeconds: Type.Optional(
										Type.Integer({ minimum: 1, maximum: 86_400, default: 3600 }),
									),
								}),
							},
						},
					},
					responses: {
						201: json(
							Type.Object({
								ticket: Type.String(),
								expiresAt: Type.String({ format: 'date-time' }),
							}),
							'the ticket',
						),
						...errors(400, 401, 403),
					},
				},
			},
			'/api/whoami': {
				get: {
					summary:
						'What the credential may do: its kind, scopes (admin spelled out), stream patterns and expiry',
					security: bearer,
					responses: {
						200: json(
							Type.Object({
								kind: Type.Union([Type.Literal('token'), Type.Literal('ticket')]),
								scopes: Type.Array(
									Type.Union([
										Type.Literal('read'),
										Type.Literal('publish'),
										Type.Literal('admin'),
									]),
								),
								streams: Type.Array(Type.String()),
								expiresAt: Time,
							}),
							'the credential',
						),
						...errors(401),
					},
				},
			},
			'/api/admin/prune': {
				post: {
					summary: 'Apply --retention now: drop ended executions and runs older than it, whole',
					security: bearer,
					responses: {
						200: json(
							Type.Object({ prunedEvents: Type.Integer(), prunedStreams: Type.Integer() }),
							'what went',
						),
						...errors(401, 403),
					},
				},
			},
			'/api/admin/backup': {
				post: {
					summary:
						'An online, consistent copy of the database (what `cortex-stream backup` fetches)',
					security: bearer,
					responses: { 200: { description: 'application/vnd.sqlite3' }, ...errors(401, 403) },
				},
			},
			'/healthz': {
				get: {
					summary: 'Whether the store can take a write',
					responses: {
						200: json(Type.Object({ ok: Type.Boolean() }), 'writable'),
						503: { description: 'not writable' },
					},
				},
			},
			'/metrics': {
				get: {
					summary: 'Prometheus metrics',
					responses: { 200: { description: 'text/plain; version=0.0.4' } },
				},
			},
			'/openapi.json': {
				get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } },
			},
		},
	}
}

/** `GET /openapi.json`, no auth: it describes the API, not any stream. */
export function openApiRoutes() {
	const text = JSON.stringify(openApiDocument())
	return new Elysia({ name: 'openapi' }).get(
		'/openapi.json',
		() => new Response(text, { headers: { 'content-type': 'application/json; charset=utf-8' } }),
	)
}
