import { type TSchema, Type } from '@sinclair/typebox'
import { Elysia } from 'elysia'
import pkg from '../../package.json' with { type: 'json' }
import {
	EVENT_TYPE_PATTERN,
	isStepType,
	MAX_BATCH,
	MAX_DATA_BYTES,
	MAX_DATA_DEPTH,
	NAME_PATTERN,
	RESERVED_TYPES,
	STANDARD_EVENTS,
	type StandardEventType,
	type StreamKind,
} from '../events.ts'
import { AgentState, Execution, RunStatus, StatusCounts, Time, WorkflowState } from '../states.ts'
import { MAX_REASON_CHARS } from './cancel.ts'

/** A reference to one of `components.schemas`, each defined once below. */
const ref = (name: string) => Type.Ref(`#/components/schemas/${name}`)

/**
 * Exactly one of `schemas`. TypeBox writes a union as `anyOf`; the publish body's branches
 * exclude each other (each standard type has its own `event`, a custom event none of theirs),
 * and `oneOf` says so.
 */
const oneOf = (schemas: TSchema[], description?: string) =>
	Type.Unsafe({ ...(description && { description }), oneOf: schemas })

const ErrorBody = Type.Object({
	error: Type.Object({
		code: Type.String({
			description: 'for programs: `invalid_event`, `stream_ended`, ... (docs/api.md lists them)',
		}),
		message: Type.String({ description: 'for people; may change' }),
		field: Type.Optional(
			Type.String({
				description:
					'present when one thing is at fault: a JSON Pointer into the body, or the name of the query parameter',
			}),
		),
	}),
})

const STANDARD_TYPES = Object.keys(STANDARD_EVENTS) as StandardEventType[]
const AGENT_TYPES = STANDARD_TYPES.filter((type) => !isStepType(type))

/**
 * A standard event as a publisher sends it: exactly `event` and `data`, `data` of the type's own
 * schema. An absent `data` is `{}`, so it may be left out only when its schema requires nothing.
 */
function standardEvent(type: StandardEventType) {
	const data = ref(`${type}Data`)
	const needsData = (STANDARD_EVENTS[type].required?.length ?? 0) > 0
	return Type.Object(
		{ event: Type.Literal(type), data: needsData ? data : Type.Optional(data) },
		{ additionalProperties: false, description: `a \`${type}\` event` },
	)
}

/** Any other valid type name: stored and delivered as it was sent. */
const CustomEvent = Type.Object(
	{
		event: Type.String({
			pattern: EVENT_TYPE_PATTERN.source,
			// Neither a standard type (those have their own schemas above) nor one the server keeps.
			not: { enum: [...STANDARD_TYPES, ...RESERVED_TYPES.keys()] },
		}),
		data: Type.Optional(
			Type.Record(Type.String(), Type.Unknown(), {
				description: `any JSON object: at most ${MAX_DATA_BYTES / 1024} KiB as JSON, nested at most ${MAX_DATA_DEPTH} levels; absent, {}`,
			}),
		),
	},
	{
		additionalProperties: false,
		description: 'a custom event: any type name that is neither standard nor reserved',
	},
)

/**
 * One event for a stream of `kind`: a standard type with its own `data`, or a custom one. Step
 * types are for workflow runs only. (No `discriminator` object: OpenAPI 3.1's maps each value of
 * `event` to a schema, and has no way to name the custom branch that every other name takes.)
 */
const eventOf = (kind: StreamKind) =>
	oneOf(
		[...(kind === 'agents' ? AGENT_TYPES : STANDARD_TYPES), 'custom'].map((type) =>
			ref(`${type}Event`),
		),
		`one event, told apart by \`event\`; \`data\` at most ${MAX_DATA_BYTES / 1024} KiB as JSON and ${MAX_DATA_DEPTH} levels deep`,
	)

const StoredEvent = Type.Object({
	id: Type.Integer({ minimum: 1 }),
	event: Type.String(),
	data: Type.Record(Type.String(), Type.Unknown()),
	createdAt: Type.String({ format: 'date-time' }),
})
const EventPage = Type.Object({
	events: Type.Array(StoredEvent),
	next: Type.Union([Type.Integer(), Type.Null()], {
		description: 'the `after` of the following page; null when there is none',
	}),
})

const json = (schema: unknown, description: string, headers?: Record<string, unknown>) => ({
	description,
	...(headers && { headers }),
	content: { 'application/json': { schema } },
})
const header = (description: string, schema: Record<string, unknown>, required = true) => ({
	description,
	required,
	schema,
})
const retryAfter = (seconds: string) => ({
	'Retry-After': header(`seconds to wait before trying again: ${seconds}`, {
		type: 'integer',
		minimum: 1,
	}),
})
const error = (description: string, headers?: Record<string, unknown>) =>
	json(ref('Error'), description, headers)

/** The refusals several routes share, each with the headers it is sent with. */
const unauthorized = error(
	'`unauthorized`: no credential, a malformed one, an unknown token, or a ticket that expired or was altered',
	{ 'WWW-Authenticate': header('`Bearer realm="cortex-stream"`', { type: 'string' }) },
)
const forbidden = (what: string) => error(`\`forbidden\`: ${what}`)
const tooManyStreams = error(
	'`too_many_requests`: a stream limit of the credential, new streams each second or open streams',
	retryAfter('1 (new streams each second) or 5 (open streams)'),
)
const storeUnavailable = error(
	'`store_unavailable`: the store cannot be reached or written now; nothing was changed',
	retryAfter('2'),
)
const streamRefused = error(
	'`overloaded` (the server holds as many streams as `--max-streams` allows) or `store_unavailable`',
	retryAfter('5 (overloaded) or 2 (store unavailable)'),
)
const storageFull = error(
	'`storage_full`: the disk, or `--max-db-bytes`, is full; nothing was written',
)

const nameParam = (name: string) => ({
	name,
	in: 'path',
	required: true,
	description: `the ${name === 'name' ? "agent's name" : "workflow run's id"}: 1 to 128 of A-Z a-z 0-9 . _ : -, not . or ..`,
	schema: { type: 'string', pattern: NAME_PATTERN.source, not: { enum: ['.', '..'] } },
})
const eventId = { type: 'string', pattern: '^[0-9]{0,15}$' }
const limitParam = {
	name: 'limit',
	in: 'query',
	schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
}
const accessTokenParam = {
	name: 'access_token',
	in: 'query',
	description: 'the credential, for browsers that cannot send headers; ignored with Authorization',
	schema: { type: 'string' },
}
/** Where a stream resumes, and the query token that browsers need. */
const resumeParams = [
	{
		name: 'Last-Event-ID',
		in: 'header',
		description: 'resume after this id (on the feed, cursor); empty counts as absent',
		schema: eventId,
	},
	{
		name: 'lastEventId',
		in: 'query',
		description: 'Last-Event-ID where headers cannot be set; the header wins',
		schema: eventId,
	},
	accessTokenParam,
]
const bearer = [{ bearer: [] }]
const streamAuth = [{ bearer: [] }, { accessToken: [] }]
/** Routes anyone may call: no credential is looked at. */
const noAuth: never[] = []
const sseResponse = {
	description:
		'the stream: `retry:`, then `id:`/`event:`/`data:` frames and `: heartbeat` comments',
	headers: {
		'Cache-Control': header('`no-cache, no-transform`', { type: 'string' }),
		'X-Accel-Buffering': header('`no`: nginx is not to buffer it', { type: 'string' }),
	},
	content: { 'text/event-stream': { schema: { type: 'string' } } },
}

function streamRoutes(kind: StreamKind, param: string) {
	const agents = kind === 'agents'
	const Noun = agents ? 'Agent' : 'Workflow'
	const path = `{${param}}`
	const badName = `\`bad_request\`: the ${agents ? 'name' : 'id'}`
	const State = agents ? 'AgentState' : 'WorkflowState'
	// A list row is the snapshot, with what was left out of it to keep the page within bounds.
	const listRow = Type.Intersect([
		ref(State),
		agents
			? Type.Object({
					resultOmitted: Type.Optional(
						Type.Literal(true, {
							description: 'the result is longer than 4 KiB as JSON; the snapshot has it',
						}),
					),
				})
			: Type.Object({
					stepsOmitted: Type.Optional(
						Type.Literal(true, {
							description: 'the row alone would take more than 2 MiB; the snapshot has the steps',
						}),
					),
				}),
	])
	return {
		[`/api/${kind}`]: {
			get: {
				operationId: `list${Noun}s`,
				tags: ['snapshots'],
				summary: `A page of snapshots of the ${agents ? 'agents' : 'workflow runs'} the credential may read, most recently appended to first, within 4 MiB`,
				security: bearer,
				parameters: [
					{ ...limitParam, description: 'rows on the page' },
					{
						name: 'page',
						in: 'query',
						description: 'the `next` of the page before',
						schema: { type: 'string', maxLength: 64 },
					},
					{
						name: 'status',
						in: 'query',
						description: 'only runs in this status',
						schema: ref('RunStatus'),
					},
					{
						name: 'prefix',
						in: 'query',
						description: 'only names that start with this; empty: no filter',
						schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{0,128}$' },
					},
				],
				responses: {
					200: json(
						Type.Object({
							[kind]: Type.Array(listRow),
							cursor: Type.Integer({
								description: "the feed's cursor at the moment the page was read",
							}),
							next: Type.Union([Type.String(), Type.Null()], {
								description: 'the page parameter of the next page; null after the last',
							}),
							counts: Type.Ref('#/components/schemas/StatusCounts', {
								description:
									'how many of the streams the credential may read whose names start with `prefix` are in each status, whatever `status` asks',
							}),
						}),
						'a page of snapshots, the feed cursor and the counts by status',
					),
					400: error('`bad_request`: a query parameter, named by `field`'),
					401: unauthorized,
					403: forbidden('the credential has no `read` scope at all'),
					503: storeUnavailable,
				},
			},
		},
		[`/api/${kind}/${path}`]: {
			get: {
				operationId: `get${Noun}`,
				tags: ['snapshots'],
				summary: agents
					? "The snapshot of the agent's current execution, folded from the log"
					: 'The snapshot of the workflow run, folded from the log',
				security: bearer,
				parameters: [nameParam(param)],
				responses: {
					200: json(ref(State), 'the snapshot'),
					400: error(badName),
					401: unauthorized,
					404: error(
						'`not_found`: no such stream, or one the credential may not read (existence does not leak)',
					),
					503: storeUnavailable,
				},
			},
		},
		...(agents && {
			[`/api/agents/${path}/executions`]: {
				get: {
					operationId: 'listAgentExecutions',
					tags: ['snapshots'],
					summary:
						"A page of the agent's executions, newest first (the running one first, `endId` null); pruned ones are left out",
					security: bearer,
					parameters: [
						nameParam(param),
						{
							name: 'before',
							in: 'query',
							description:
								'only executions that start below this id: the `next` of the page before',
							schema: { type: 'integer', minimum: 0, maximum: 999_999_999_999_999 },
						},
						{ ...limitParam, description: 'executions on the page' },
					],
					responses: {
						200: json(
							Type.Object({
								executions: Type.Array(ref('Execution')),
								next: Type.Union([Type.Integer(), Type.Null()], {
									description: 'the `before` of the following page; null when there is none',
								}),
							}),
							'executions, within 4 MiB, and the next page',
						),
						400: error(`${badName}, \`before\` or \`limit\` (named by \`field\`)`),
						401: unauthorized,
						404: error(
							'`not_found`: no such agent, or one the credential may not read (existence does not leak)',
						),
						503: storeUnavailable,
					},
				},
			},
		}),
		[`/api/${kind}/${path}/events`]: {
			get: {
				operationId: `list${Noun}Events`,
				tags: ['snapshots'],
				summary: 'A page of stored events, oldest first',
				security: bearer,
				parameters: [
					nameParam(param),
					{
						name: 'after',
						in: 'query',
						description: 'the id the page starts after',
						schema: { type: 'integer', minimum: 0, maximum: 999_999_999_999_999, default: 0 },
					},
					{ ...limitParam, description: 'events on the page' },
				],
				responses: {
					200: json(EventPage, 'events and the next cursor'),
					400: error(`${badName}, \`after\` or \`limit\``),
					401: unauthorized,
					404: error(
						'`not_found`: no such stream, or one the credential may not read (existence does not leak)',
					),
					503: storeUnavailable,
				},
			},
			post: {
				operationId: `publish${Noun}Events`,
				tags: ['publishing'],
				summary: `Append one event or a batch of up to ${MAX_BATCH}, atomically; 201 once durable`,
				security: bearer,
				parameters: [
					nameParam(param),
					{
						name: 'Idempotency-Key',
						in: 'header',
						description:
							'makes a retry safe: the same key with the same events appends nothing and gets the first answer',
						schema: { type: 'string', pattern: '^[\\x20-\\x7E]{1,128}$' },
					},
				],
				requestBody: {
					required: true,
					content: {
						'application/json': {
							schema: oneOf(
								[
									ref(`${Noun}Event`),
									Type.Array(ref(`${Noun}Event`), { minItems: 1, maxItems: MAX_BATCH }),
								],
								`one event, or an array of 1 to ${MAX_BATCH} appended atomically and in order`,
							),
						},
					},
				},
				responses: {
					201: json(
						Type.Object({
							ids: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 }),
							cancelRequested: Type.Optional(
								Type.Object(
									{
										reason: Type.Optional(Type.String()),
										id: Type.Integer({ minimum: 1 }),
									},
									{
										description: `the ${agents ? 'execution' : 'run'} was asked to stop (\`POST .../cancel\`) and has not ended: that request's reason, if it gave one, and its id; end it with \`cancelled\``,
									},
								),
							),
						}),
						'the ids of the appended events, durable',
						{
							'Idempotent-Replayed': header(
								'`true`: the answer of an earlier request with the same Idempotency-Key; nothing was appended',
								{ type: 'string', enum: ['true'] },
								false,
							),
						},
					),
					400: error(
						`${badName}, the Idempotency-Key, \`malformed_json\` (not JSON), or \`invalid_event\` (\`field\` points at the fault)`,
					),
					401: unauthorized,
					403: forbidden('the credential may not publish to this stream'),
					...(!agents && {
						409: error(
							'`stream_ended`: the run has ended, or the batch goes on after the event that ends it',
						),
					}),
					413: error('`payload_too_large`: the body is larger than `--max-body`'),
					422: error(
						'`idempotency_key_reused`: the Idempotency-Key was used on this stream with other events',
					),
					503: storeUnavailable,
					507: storageFull,
				},
			},
		},
		[`/api/${kind}/${path}/cancel`]: {
			post: {
				operationId: `cancel${Noun}`,
				tags: ['publishing'],
				summary: agents
					? "Ask the agent's running execution to stop: appends `cancel_requested`; the runner ends it"
					: 'Ask the workflow run to stop: appends `cancel_requested`; the runner ends it',
				security: bearer,
				parameters: [nameParam(param)],
				requestBody: {
					required: false,
					content: {
						'application/json': {
							schema: Type.Object(
								{
									reason: Type.Optional(
										Type.String({ maxLength: MAX_REASON_CHARS, description: 'why, for people' }),
									),
								},
								{ additionalProperties: false, description: 'optional: no body is as `{}`' },
							),
						},
					},
				},
				responses: {
					202: json(
						Type.Object({ id: Type.Integer({ minimum: 1 }) }),
						'the id of the `cancel_requested` event, durable; when one was pending already, its id (nothing is appended)',
					),
					400: error(
						`${badName}, \`malformed_json\`, or \`bad_request\` for the body (\`field\` \`/reason\`, or an unknown field)`,
					),
					401: unauthorized,
					403: forbidden('the credential may not publish to this stream (a ticket never may)'),
					409: error(
						`\`not_running\`: the ${agents ? 'agent has no events, or its last execution has ended' : 'run has no events, or has ended'}`,
					),
					413: error('`payload_too_large`: the body is larger than 64 KiB'),
					503: storeUnavailable,
					507: storageFull,
				},
			},
		},
		[`/api/streaming/${kind}/${path}/stream`]: {
			get: {
				operationId: `stream${Noun}`,
				tags: ['subscribing'],
				summary: 'Server-Sent Events: replay after Last-Event-ID, then live',
				security: streamAuth,
				parameters: [nameParam(param), ...resumeParams],
				responses: {
					200: sseResponse,
					204: {
						description: 'the run has ended and the client has all of it: stop reconnecting',
					},
					400: error(`${badName}, or Last-Event-ID`),
					401: unauthorized,
					403: forbidden('the credential may not read this stream'),
					429: tooManyStreams,
					503: streamRefused,
				},
			},
		},
	}
}

/**
 * The OpenAPI 3.1 description of the HTTP API, built from the TypeBox schemas the server
 * validates publishes with (`events.ts`) and folds snapshots into (`states.ts`), so that they
 * cannot drift apart. `servers` names the server that serves it first (a relative URL, so it is
 * right behind any host, port or proxy), then the default local address for a saved copy.
 */
export function openApiDocument(version: string = pkg.version) {
	return {
		openapi: '3.1.0',
		info: {
			title: 'cortex-stream',
			version,
			description: 'Durable, resumable SSE progress streams for agents and workflows',
			license: { name: pkg.license, identifier: pkg.license },
		},
		servers: [
			{ url: '/', description: 'the server that serves this document' },
			{
				url: 'http://127.0.0.1:8787',
				description: 'the default local server (`cortex-stream serve` without --host or --port)',
			},
		],
		tags: [
			{ name: 'publishing', description: 'Appending events to a stream' },
			{ name: 'subscribing', description: 'One stream, live, over Server-Sent Events' },
			{ name: 'feed', description: 'Every stream the credential may read, on one connection' },
			{ name: 'snapshots', description: 'Snapshots folded from the log, and pages of it' },
			{ name: 'credentials', description: 'Tickets, and what a credential may do' },
			{ name: 'administration', description: 'Pruning and backups, for admin tokens' },
			{ name: 'operations', description: 'Health, metrics and this document: no credential' },
		],
		components: {
			securitySchemes: {
				bearer: { type: 'http', scheme: 'bearer' },
				accessToken: { type: 'apiKey', in: 'query', name: 'access_token' },
			},
			schemas: {
				Error: ErrorBody,
				RunStatus,
				AgentState,
				WorkflowState,
				Execution,
				StatusCounts,
				AgentEvent: eventOf('agents'),
				WorkflowEvent: eventOf('workflows'),
				...Object.fromEntries(STANDARD_TYPES.map((type) => [`${type}Event`, standardEvent(type)])),
				customEvent: CustomEvent,
				...Object.fromEntries(STANDARD_TYPES.map((type) => [`${type}Data`, STANDARD_EVENTS[type]])),
			},
		},
		'x-event-type-pattern': EVENT_TYPE_PATTERN.source,
		paths: {
			...streamRoutes('agents', 'name'),
			...streamRoutes('workflows', 'id'),
			'/api/streaming/events': {
				get: {
					operationId: 'streamFeed',
					tags: ['feed'],
					summary:
						'Server-Sent Events of every stream the credential may read and `match` selects, numbered by the global cursor',
					security: streamAuth,
					parameters: [
						{
							name: 'match',
							in: 'query',
							description: 'stream patterns (`agents/*`); none: every stream',
							explode: true,
							schema: { type: 'array', maxItems: 64, items: { type: 'string' } },
						},
						...resumeParams,
					],
					responses: {
						200: sseResponse,
						400: error('`bad_request`: a `match` pattern, or Last-Event-ID'),
						401: unauthorized,
						403: forbidden('the credential has no `read` scope'),
						429: tooManyStreams,
						503: streamRefused,
					},
				},
			},
			'/api/ws': {
				get: {
					operationId: 'openFeedSocket',
					tags: ['feed'],
					summary:
						'WebSocket feed: send {"subscribe": ["agents/*"], "after": cursor}; receive one {"cursor", "stream", "id", "event", "data"} per event',
					security: streamAuth,
					parameters: [accessTokenParam],
					responses: {
						101: { description: 'switching to WebSocket' },
						401: unauthorized,
						403: forbidden('the credential has no `read` scope'),
						404: error('`not_found`: the request is not a WebSocket upgrade'),
						429: tooManyStreams,
						503: error(
							'`overloaded`: the server holds as many streams as `--max-streams` allows',
							retryAfter('5'),
						),
					},
				},
			},
			'/api/tickets': {
				post: {
					operationId: 'createTicket',
					tags: ['credentials'],
					summary:
						'A signed, read-only, expiring ticket for browser URLs, within what the caller may read',
					security: bearer,
					requestBody: {
						required: true,
						content: {
							'application/json': {
								schema: Type.Object({
									streams: Type.Array(Type.String({ minLength: 1, maxLength: 300 }), {
										minItems: 1,
										maxItems: 64,
									}),
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
						400: error(
							'`bad_request` or `malformed_json`: the body (`field` `/streams`, `/streams/<i>` or `/ttlSeconds`)',
						),
						401: unauthorized,
						403: forbidden(
							'a pattern reaches beyond what the token may read (`field` `/streams/<i>`), or the credential is a ticket',
						),
						413: error('`payload_too_large`: the body is larger than 64 KiB'),
					},
				},
			},
			'/api/whoami': {
				get: {
					operationId: 'whoami',
					tags: ['credentials'],
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
						401: unauthorized,
					},
				},
			},
			'/api/admin/prune': {
				post: {
					operationId: 'prune',
					tags: ['administration'],
					summary: 'Apply --retention now: drop ended executions and runs older than it, whole',
					security: bearer,
					responses: {
						200: json(
							Type.Object({ prunedEvents: Type.Integer(), prunedStreams: Type.Integer() }),
							'what went',
						),
						401: unauthorized,
						403: forbidden('the credential has no `admin` scope'),
						503: storeUnavailable,
						507: storageFull,
					},
				},
			},
			'/api/admin/backup': {
				post: {
					operationId: 'backup',
					tags: ['administration'],
					summary:
						'An online, consistent copy of the database (what `cortex-stream backup` fetches)',
					security: bearer,
					responses: {
						200: {
							description: 'the SQLite file',
							headers: {
								'Content-Disposition': header('`attachment; filename="cortex-stream.db"`', {
									type: 'string',
								}),
							},
							content: {
								'application/vnd.sqlite3': { schema: { type: 'string', format: 'binary' } },
							},
						},
						401: unauthorized,
						403: forbidden('the credential has no `admin` scope'),
						501: error('`not_supported`: the store is Postgres; use pg_dump'),
						503: storeUnavailable,
						507: storageFull,
					},
				},
			},
			'/healthz': {
				get: {
					operationId: 'health',
					tags: ['operations'],
					summary: 'Whether a publish would be taken now',
					security: noAuth,
					responses: {
						200: json(Type.Object({ ok: Type.Literal(true) }), 'writable'),
						503: json(
							Type.Object({
								ok: Type.Literal(false),
								error: Type.Object({
									code: Type.Union([
										Type.Literal('storage_full'),
										Type.Literal('store_unavailable'),
									]),
									message: Type.String(),
								}),
							}),
							'not writable, and why',
							retryAfter('5'),
						),
					},
				},
			},
			'/metrics': {
				get: {
					operationId: 'metrics',
					tags: ['operations'],
					summary: 'Prometheus metrics',
					security: noAuth,
					responses: {
						200: {
							description: 'the Prometheus text format, version 0.0.4',
							content: { 'text/plain': { schema: { type: 'string' } } },
						},
					},
				},
			},
			'/openapi.json': {
				get: {
					operationId: 'openApiDocument',
					tags: ['operations'],
					summary: 'This document',
					security: noAuth,
					responses: {
						200: json({ type: 'object' }, 'OpenAPI 3.1'),
					},
				},
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
