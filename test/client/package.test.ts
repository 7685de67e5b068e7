import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { launchChromium, ROOT, runProcess, startServer } from '../helpers.ts'
import { linkDevPackages, type PackedClient, packedClient, TSC5, TSC7 } from './packed.ts'

// @cortex-stream/client as a user gets it: `npm pack` (its prepack builds dist/), the tarball
// installed with npm into a project of its own, then typechecked, bundled and run there.
let packed: PackedClient
beforeAll(async () => {
	packed = await packedClient()
	// What a React app, an AI SDK agent or a LangGraph app has installed beside the client (its
	// optional peers).
	linkDevPackages(packed.project, [
		'react',
		'@types/react',
		'ai',
		'zod',
		'@langchain/langgraph',
		'@langchain/core',
		'@types/node',
	])
}, 120_000)

const installed = () => join(packed.project, 'node_modules/@cortex-stream/client')

describe('the tarball', () => {
	it('holds built JavaScript and declarations, a manifest with no dependencies, and nothing of the server', async () => {
		const files = packed.files
		for (const entry of ['index', 'react', 'ai-sdk', 'langgraph']) {
			expect(files).toContain(`dist/${entry}.js`)
			expect(files).toContain(`dist/${entry}.d.ts`)
		}
		expect(files).toContain('package.json')
		expect(files).toContain('README.md')
		expect(files).toContain('LICENSE')
		// No sources: a consumer's TypeScript must not compile ours (TS5097 under NodeNext).
		expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([])

		const manifest = await Bun.file(join(installed(), 'package.json')).json()
		expect(manifest.name).toBe('@cortex-stream/client')
		expect(manifest.dependencies).toBeUndefined()
		for (const peer of ['react', 'ai', '@langchain/langgraph', '@langchain/core'])
			expect({ peer, optional: manifest.peerDependenciesMeta[peer]?.optional }).toEqual({
				peer,
				optional: true,
			})
		expect(Object.keys(manifest.exports)).toEqual([
			'.',
			'./react',
			'./ai-sdk',
			'./langgraph',
			'./package.json',
		])

		// Every import of the built code is one of its own files, or react for ./react, or
		// LangChain's dispatchCustomEvent for ./langgraph; ./ai-sdk imports nothing of the SDK's.
		const foreign: Record<string, string> = {
			'langgraph.js': '@langchain/core/callbacks/dispatch/web',
		}
		const dist = join(installed(), 'dist')
		for (const file of readdirSync(dist).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'))) {
			const text = await Bun.file(join(dist, file)).text()
			// Without the doc comments, whose examples import the package itself.
			const code = text.replace(/\/\*[\s\S]*?\*\//g, '')
			for (const [, from, bare] of code.matchAll(
				/\bfrom\s*'([^']+)'|\bimport\s*\(?\s*'([^']+)'/g,
			)) {
				const spec = from ?? bare
				const ok = spec.startsWith('./')
					? spec.endsWith('.js')
					: spec === 'react' || spec === foreign[file]
				expect({ file, spec, ok }).toEqual({ file, spec, ok: true })
			}
		}
	})
})

// The adapters as an agent runs them: built JavaScript importing the frameworks the project
// installed (LangChain's dispatchCustomEvent resolved from the package's own folder).
const ADAPTERS = `
import { withAgentRun } from '@cortex-stream/client/ai-sdk'
import { stepProgress, withWorkflowRun } from '@cortex-stream/client/langgraph'
import { generateText } from 'ai'
import { MockLanguageModelV4 } from 'ai/test'
import { Annotation, START, StateGraph } from '@langchain/langgraph'
const [url, token] = process.argv.slice(2)
const usage = { inputTokens: { total: 1 }, outputTokens: { total: 2 } }
const model = new MockLanguageModelV4({
	doGenerate: { content: [{ type: 'text', text: 'hi' }], finishReason: { unified: 'stop' }, usage, warnings: [] },
})
await withAgentRun('agents/node', { url, token }, (o) => generateText({ model, prompt: 'x', ...o }))
const State = Annotation.Root({ n: Annotation() })
const graph = new StateGraph(State)
	.addNode('one', async (_, config) => { await stepProgress(config, { progress: 0.5 }); return { n: 1 } })
	.addEdge(START, 'one')
	.compile()
await withWorkflowRun('workflows/node', { url, token }, (config) => graph.invoke({}, config))
const read = async (stream) =>
	(await (await fetch(url + '/api/' + stream + '/events', { headers: { authorization: 'Bearer ' + token } })).json()).events.map((e) => e.event)
console.log(JSON.stringify([await read('agents/node'), await read('workflows/node')]))
`

describe('the packed adapters under Node.js', () => {
	it('publish an AI SDK call and a LangGraph run', async () => {
		const script = join(packed.project, 'adapters.mjs')
		await Bun.write(script, ADAPTERS)
		await using server = await startServer()
		const { code, stdout, stderr } = await runProcess(['node', script, server.url, server.token], {
			cwd: packed.project,
		})
		expect(stderr).toBe('')
		expect(code).toBe(0)
		expect(JSON.parse(stdout)).toEqual([
			['progress', 'progress', 'complete'],
			['step_start', 'step_progress', 'step_complete', 'complete'],
		])
	}, 30_000)
})

describe('a consumer typechecked with module NodeNext and strict', () => {
	// The README's SDK example, word for word, with what it leaves undeclared.
	async function readmeExample() {
		const readme = await Bun.file(join(ROOT, 'README.md')).text()
		const section = readme.slice(readme.indexOf('## From TypeScript or JavaScript'))
		const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
		expect(code).toBeDefined()
		return `declare const process: { env: Record<string, string | undefined> }
declare const signal: AbortSignal
declare const bar: { update(fraction: number): void }
${code}
export {}
`
	}

	/** Writes `files` into a folder of the consumer project and typechecks it with `tsc`. */
	async function typecheck(
		name: string,
		tsc: string,
		files: Record<string, string | Blob>,
		more: Record<string, unknown> = {},
	) {
		const dir = join(packed.project, name)
		for (const [file, text] of Object.entries(files)) await Bun.write(join(dir, file), text)
		const compilerOptions = {
			module: 'NodeNext',
			moduleResolution: 'NodeNext',
			target: 'ES2022',
			lib: ['ES2022', 'DOM'],
			types: [],
			strict: true,
			noEmit: true,
			// The package's own declarations are checked too.
			skipLibCheck: false,
			...more,
		}
		await Bun.write(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions }))
		return runProcess(['node', tsc, '-p', dir], { cwd: packed.project })
	}

	const consumers = async () => ({
		'types.ts': Bun.file(join(ROOT, 'test/client/consumer/types.ts')),
		'react.ts': Bun.file(join(ROOT, 'test/client/consumer/react.ts')),
		'readme.ts': await readmeExample(),
	})

	// The adapters' users and the README's examples of them, with the frameworks' own types,
	// which need Node's types and a newer lib (Buffer, node:http, Symbol.asyncDispose).
	const adapterConsumers = () => ({
		'ai-sdk.ts': Bun.file(join(ROOT, 'test/client/consumer/ai-sdk.ts')),
		'langgraph.ts': Bun.file(join(ROOT, 'test/client/consumer/langgraph.ts')),
		'example-ai-sdk.ts': Bun.file(join(ROOT, 'test/client/examples/ai-sdk.ts')),
		'example-langgraph.ts': Bun.file(join(ROOT, 'test/client/examples/langgraph.ts')),
	})
	const forNode = { lib: ['ESNext', 'DOM'], types: ['node'] }

	it('with TypeScript 5: events narrow by type, publish checks standard data, useRun is typed, the README compiles', async () => {
		const { code, stdout } = await typecheck('typecheck-5', TSC5, await consumers())
		expect(stdout).toBe('')
		expect(code).toBe(0)
	}, 60_000)

	it('with TypeScript 7 the same', async () => {
		const { code, stdout } = await typecheck('typecheck-7', TSC7, await consumers())
		expect(stdout).toBe('')
		expect(code).toBe(0)
	}, 60_000)

	it.each([
		['5', TSC5],
		['7', TSC7],
	])(
		'with TypeScript %s, the adapters fit the AI SDK and LangGraph, as their examples show',
		async (version, tsc) => {
			const { code, stdout } = await typecheck(
				`typecheck-adapters-${version}`,
				tsc,
				adapterConsumers(),
				forNode,
			)
			expect(stdout).toBe('')
			expect(code).toBe(0)
		},
		60_000,
	)

	it('fails where it should: a wrong use is reported, with the file and the error', async () => {
		const { code, stdout } = await typecheck('typecheck-wrong', TSC5, {
			'wrong.ts': `import { publish } from '@cortex-stream/client'
await publish('agents/a', { event: 'progress', data: { progress: 'half' } })
export {}
`,
		})
		expect(code).not.toBe(0)
		expect(stdout).toContain('wrong.ts(2,')
		expect(stdout).toContain("Type 'string' is not assignable to type 'number'")
	}, 60_000)
})

describe('the packed client bundled for a browser', () => {
	let browser: Browser
	beforeAll(async () => {
		browser = await launchChromium()
	})
	afterAll(() => browser?.close())

	it('bundles with no Node.js built-ins, then publishes and follows a stream in Chromium', async () => {
		const entry = join(packed.project, 'browser.ts')
		await Bun.write(
			entry,
			`export { publish, subscribe, Publisher } from '@cortex-stream/client'\n`,
		)
		const build = await Bun.build({ entrypoints: [entry], target: 'browser', format: 'esm' })
		expect(build.success).toBe(true)
		const code = await build.outputs[0].text()
		expect(code).not.toMatch(/\bnode:|\brequire\(/)

		await using server = await startServer()
		const context = await browser.newContext()
		const page = await context.newPage()
		// A page of the server's own origin, so no CORS is needed.
		await page.goto(`${server.url}/healthz`)
		const seen = await page.evaluate(
			async ({ code, token }) => {
				const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }))
				const { publish, subscribe, Publisher } = await import(url)
				const options = { url: location.origin, token }
				const events: unknown[] = []
				const done = (async () => {
					for await (const e of subscribe('agents/browser', options))
						events.push([e.id, e.event, e.data])
				})()
				await publish('agents/browser', { event: 'progress', data: { progress: 0.5 } }, options)
				const p = new Publisher('agents/browser', options)
				for (let i = 0; i <= 50; i++) p.progress({ progress: i / 50 })
				p.send('complete', { result: 'from a browser' })
				await p.close()
				await done
				return events
			},
			{ code, token: server.token },
		)
		expect(seen[0]).toEqual([1, 'progress', { progress: 0.5 }])
		expect(seen.at(-1)).toEqual([seen.length, 'complete', { result: 'from a browser' }])
		await context.close()
	}, 30_000)
})
