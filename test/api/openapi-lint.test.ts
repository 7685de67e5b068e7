import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, runProcess, startServer, tempDir } from '../helpers.ts'

/**
 * /openapi.json as the real server serves it, checked by tools that read OpenAPI for a living:
 * Redocly's linter, and openapi-typescript's types compiled against code that uses them. Both
 * also run on a copy with a fault put in, so that a check which no longer looks would show.
 */

const BIN = join(ROOT, 'node_modules/.bin')
/** Each tool's run is bounded: a hung one is killed and its test fails. */
const TOOL_MS = 15_000

type Doc = {
	paths: Record<string, Record<string, { operationId?: string }>>
	components: { schemas: Record<string, { properties: Record<string, unknown> }> }
	servers?: unknown
}

let doc: Doc
const dir = tempDir('cortex-openapi-')

beforeAll(async () => {
	await using server = await startServer()
	const res = await fetch(`${server.url}/openapi.json`)
	expect(res.status).toBe(200)
	doc = await res.json()
})
afterAll(() => dir[Symbol.dispose]())

/** Writes `document` to `<dir>/<name>/openapi.json`; returns that folder. */
function writeDoc(name: string, document: unknown) {
	const folder = join(dir.path, name)
	mkdirSync(folder, { recursive: true })
	writeFileSync(join(folder, 'openapi.json'), JSON.stringify(document, null, 2))
	return folder
}

const run = (argv: string[], cwd: string, env: Record<string, string> = {}) =>
	runProcess(argv, { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, timeout: TOOL_MS })

interface LintReport {
	totals: { errors: number; warnings: number }
	problems: { ruleId: string; severity: string; location: { pointer: string }[] }[]
}

/**
 * `redocly lint` with the repository's redocly.yaml (the recommended rules, see there for the two
 * replaced). Offline: it phones home only for telemetry and the update notice, which these two
 * variables turn off (checked with no network at all: `unshare -n` and strace, no connect()).
 */
async function lint(folder: string): Promise<LintReport> {
	const { stdout, stderr } = await run(
		[
			join(BIN, 'redocly'),
			'lint',
			'openapi.json',
			`--config=${join(ROOT, 'redocly.yaml')}`,
			'--format=json',
		],
		folder,
		{ REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
	)
	try {
		return JSON.parse(stdout)
	} catch {
		throw new Error(`redocly printed no report:\n${stdout}\n${stderr}`)
	}
}

const summary = (report: LintReport) =>
	report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}`)

describe('redocly lint', () => {
	it(
		'finds nothing wrong with /openapi.json, and does find what is wrong with a broken copy',
		async () => {
			const broken = structuredClone(doc)
			delete broken.servers
			delete broken.paths['/api/whoami'].get.operationId
			const [clean, faulty] = await Promise.all([
				lint(writeDoc('lint', doc)),
				lint(writeDoc('lint-broken', broken)),
			])
			expect(summary(clean)).toEqual([])
			expect(clean.totals).toMatchObject({ errors: 0, warnings: 0 })
			expect(summary(faulty)).toEqual([
				'error no-empty-servers #/openapi',
				'warn operation-operationId #/paths/~1api~1whoami/get/operationId',
			])
		},
		2 * TOOL_MS,
	)
})

/**
 * openapi-typescript drives the TypeScript compiler's JS API (`ts.factory`), which the repo's
 * `typescript` package, TypeScript 7 (tsgo), does not have: it dies with "Cannot read properties
 * of undefined (reading 'createKeywordTypeNode')". So its Node process gets a resolve hook that
 * sends `import ... from 'typescript'` to TypeScript 5.9, installed as `typescript5`; nothing
 * else is redirected, and only in that process.
 */
const RESOLVE_HOOK = `export async function resolve(specifier, context, next) {
	return next(specifier === 'typescript' ? 'typescript5' : specifier, context)
}
`
const REGISTER_HOOK = `import { register } from 'node:module'
register('./typescript5-hook.mjs', import.meta.url)
`

/**
 * Code written against the generated types. Every line must compile, and every
 * `@ts-expect-error` must meet an error (TypeScript fails on one that does not), so a document
 * that types any of these wrongly, too loosely or too strictly, fails the check.
 */
const CONSUMER = `import type { components, operations, paths } from './schema'

type Json<R> = R extends { content: { 'application/json': infer B } } ? B : never
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false

type AgentBody = paths['/api/agents/{name}/events']['post']['requestBody']['content']['application/json']
type WorkflowBody = operations['publishWorkflowEvents']['requestBody']['content']['application/json']
type AgentEvent = components['schemas']['AgentEvent']
type WorkflowEvent = components['schemas']['WorkflowEvent']

// A publish body is one event or an array of them.
export const bodies: Equal<AgentBody, AgentEvent | AgentEvent[]> = true
export const one: AgentBody = { event: 'progress', data: { message: 'Reading codebase...', progress: 0.5 } }
export const bare: AgentBody = { event: 'progress' }
export const batch: WorkflowBody = [
	{ event: 'step_start', data: { stepId: 'step-1', name: 'Code Review', agent: 'reviewer-agent' } },
	{ event: 'deploy_started', data: { region: 'eu', attempt: 2 } },
	{ event: 'complete', data: { result: { files: 3 }, duration: 12500 } },
]

// Each standard type has its own data. (Through the union as a whole TypeScript would let a bad
// progress event pass as a custom one: it cannot say "any type name but the standard ones",
// which the document says with "not". Each type's own branch must hold.)
type Progress = Extract<AgentEvent, { event: 'progress' }>
export const progress: Progress = { event: 'progress', data: { progress: 0.5 } }
// @ts-expect-error progress is a number from 0 to 1, not a string
export const half: Progress = { event: 'progress', data: { progress: 'half' } }
// @ts-expect-error a failed event's data has a message
export const failed: Extract<AgentEvent, { event: 'failed' }> = { event: 'failed', data: {} }
// @ts-expect-error a step event needs its data (stepId)
export const bareStep: Extract<WorkflowEvent, { event: 'step_failed' }> = { event: 'step_failed' }
export const step: Extract<WorkflowEvent, { event: 'step_failed' }> = { event: 'step_failed', data: { stepId: 's', message: 'boom' } }
// @ts-expect-error step types are for workflow runs, not agents
export const stepOnAgent: Extract<AgentEvent, { event: 'step_start' }> = { event: 'step_start', data: { stepId: 's' } }
// @ts-expect-error an event has "event" and "data", nothing else
export const withId: Progress = { event: 'progress', id: 1 }

// Snapshots.
type Agent = Json<paths['/api/agents/{name}']['get']['responses'][200]>
type Workflow = Json<operations['getWorkflow']['responses'][200]>
type RunStatus = 'running' | 'complete' | 'failed' | 'cancelled'
export const agentStatus: Equal<Agent['status'], RunStatus> = true
export const workflowStatus: Equal<Workflow['status'], RunStatus> = true
export const listed: Equal<Json<operations['listAgents']['responses'][200]>['agents'][number]['status'], RunStatus> = true
export const agent: Agent = {
	name: 'my-agent', status: 'complete', progress: 1, message: null, lastEventId: 3,
	updatedAt: '2026-12-07T06:22:15.714Z',
	execution: { startId: 1, startedAt: '2026-12-07T06:22:03.214Z', endedAt: null, result: 'ok' },
}
// @ts-expect-error lastEventId is a number
export const stringId: Agent = { ...agent, lastEventId: '3' }
// @ts-expect-error status is one of the four
export const paused: Agent = { ...agent, status: 'paused' }
// updatedAt is a time or null, never absent.
export const silent: Agent = { ...agent, updatedAt: null }
const { updatedAt: _, ...withoutUpdatedAt } = agent
// @ts-expect-error updatedAt is there, null until the stream has an event
export const noUpdatedAt: Agent = withoutUpdatedAt

// The lists' counts, by status, and an agent's executions.
type AgentList = Json<operations['listAgents']['responses'][200]>
export const counted: Equal<keyof AgentList['counts'], RunStatus> = true
export const countsAreNumbers: Equal<AgentList['counts']['failed'], number> = true
type Executions = Json<paths['/api/agents/{name}/executions']['get']['responses'][200]>
export const running: Executions = {
	executions: [
		{ startId: 7, endId: null, status: 'running', startedAt: '2026-12-07T06:22:03.214Z', endedAt: null, message: 'Writing code', result: null },
		{ startId: 1, endId: 6, status: 'complete', startedAt: '2026-12-07T06:20:03.214Z', endedAt: '2026-12-07T06:21:03.214Z', message: null, result: null, resultOmitted: true },
	],
	next: 1,
}
// @ts-expect-error an execution's status is one of the four
export const halted: Executions['executions'][number] = { ...running.executions[0], status: 'halted' }
export type ExecutionsNotFound = operations['listAgentExecutions']['responses'][404]

// Refusals: the shared error body, and only the statuses a route answers.
export const code: string = ({} as Json<operations['publishAgentEvents']['responses'][507]>).error.code
export type Ended = operations['publishWorkflowEvents']['responses'][409]
// @ts-expect-error an agent takes events after a terminal one: no 409
export type NeverEnded = operations['publishAgentEvents']['responses'][409]
`

/** The line of CONSUMER that starts with `start`, counted from 1 as TypeScript does. */
const lineOf = (start: string) =>
	CONSUMER.split('\n').findIndex((line) => line.startsWith(start)) + 1

/** openapi-typescript on `<folder>/openapi.json`, then TypeScript 5 on CONSUMER against its types. */
async function typecheck(folder: string) {
	writeFileSync(join(folder, 'typescript5-hook.mjs'), RESOLVE_HOOK)
	writeFileSync(join(folder, 'register.mjs'), REGISTER_HOOK)
	writeFileSync(join(folder, 'consumer.ts'), CONSUMER)
	// Run where it finds no redocly.yaml: openapi-typescript reads one from its working directory.
	const generated = await run(
		[
			'node',
			'--import=./register.mjs',
			join(ROOT, 'node_modules/openapi-typescript/bin/cli.js'),
			'openapi.json',
			'--output=schema.d.ts',
		],
		folder,
	)
	if (generated.code !== 0) throw new Error(`openapi-typescript failed:\n${generated.stderr}`)
	const tsc = await run(
		[
			'node',
			join(ROOT, 'node_modules/typescript5/bin/tsc'),
			'--noEmit',
			'--strict',
			'--pretty',
			'false',
			'consumer.ts',
		],
		folder,
	)
	return { code: tsc.code, errors: tsc.stdout.trim() }
}

describe('openapi-typescript', () => {
	it(
		'types code written against /openapi.json as the server validates, and a broken copy fails',
		async () => {
			// The same document, with progress allowed to be a string and a snapshot's status any string.
			const broken = structuredClone(doc)
			broken.components.schemas.progressData.properties.progress = { type: ['number', 'string'] }
			broken.components.schemas.AgentState.properties.status = { type: 'string' }
			const [good, bad] = await Promise.all([
				typecheck(writeDoc('types', doc)),
				typecheck(writeDoc('types-broken', broken)),
			])
			expect(good).toEqual({ code: 0, errors: '' })
			// Each fault caught where it shows: an expected error that no longer is one, or a type
			// that is no longer the run-status union.
			expect(bad.code).not.toBe(0)
			expect(bad.errors.split('\n').map((line) => line.split(')')[0])).toEqual([
				`consumer.ts(${lineOf('// @ts-expect-error progress is')},1`,
				`consumer.ts(${lineOf('export const agentStatus')},14`,
				`consumer.ts(${lineOf('export const listed')},14`,
				`consumer.ts(${lineOf('// @ts-expect-error status is')},1`,
			])
		},
		3 * TOOL_MS,
	)
})
