import { describe, expect, it } from 'bun:test'
import { generateText, simulateReadableStream, streamText, ToolLoopAgent, tool } from 'ai'
import { MockLanguageModelV4 } from 'ai/test'
import { z } from 'zod'
import { AgentRun, LIMITS, withAgentRun } from '../../client/src/ai-sdk.ts'
import { eventually, startServer, type TestServer } from '../helpers.ts'
import { research } from './examples/ai-sdk.ts'

// @cortex-stream/client/ai-sdk with the AI SDK's own mock model: no network but the real
// cortex-stream server's, whose stream is read back after each run.

const cortex = (server: TestServer) => ({ url: server.url, token: server.token })

/** The stream's events as stored, without their ids and times; none before it exists. */
async function readBack(server: TestServer, stream: string) {
	const res = await fetch(`${server.url}/api/${stream}/events?limit=1000`, {
		headers: { authorization: `Bearer ${server.token}` },
	})
	if (res.status === 404) return []
	expect(res.status).toBe(200)
	const page = (await res.json()) as { events: { event: string; data: unknown }[] }
	return page.events.map(({ event, data }) => ({ event, data }))
}

const cancel = (server: TestServer, stream: string, reason: string) =>
	fetch(`${server.url}/api/${stream}/cancel`, {
		method: 'POST',
		headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
		body: JSON.stringify({ reason }),
	})

const usage = (input: number, output: number) => ({
	inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
	outputTokens: { total: output, text: output, reasoning: undefined },
})
const stop = { unified: 'stop', raw: 'stop' } as const
const toolCalls = { unified: 'tool-calls', raw: 'tool_use' } as const
const duration = expect.any(Number)

const tools = {
	search: tool({
		description: 'Search the documentation',
		inputSchema: z.object({ query: z.string() }),
		execute: async ({ query }) => ({ hits: [`${query}: one-way streams over HTTP`] }),
	}),
}

describe('withAgentRun around generateText', () => {
	it("publishes the call's tool call, its result, each step, then complete with the text and usage", async () => {
		await using server = await startServer()
		const model = new MockLanguageModelV4({
			doGenerate: [
				{
					content: [
						{
							type: 'tool-call',
							toolCallId: 'call-1',
							toolName: 'search',
							input: JSON.stringify({ query: 'SSE' }),
						},
					],
					finishReason: toolCalls,
					usage: usage(10, 5),
					warnings: [],
				},
				{
					content: [{ type: 'text', text: 'Server-Sent Events: one-way streams over HTTP.' }],
					finishReason: stop,
					usage: usage(20, 7),
					warnings: [],
				},
			],
		})

		const result = await research(model, tools, cortex(server))

		expect(result.text).toBe('Server-Sent Events: one-way streams over HTTP.')
		// The model was given the run's signal, which a cancel request aborts.
		expect(model.doGenerateCalls[0].abortSignal).toBeInstanceOf(AbortSignal)
		expect(await readBack(server, 'agents/researcher')).toEqual([
			{ event: 'progress', data: { message: 'started' } },
			{
				event: 'tool_call',
				data: { toolCallId: 'call-1', tool: 'search', input: { query: 'SSE' } },
			},
			{
				event: 'tool_result',
				data: {
					toolCallId: 'call-1',
					tool: 'search',
					output: { hits: ['SSE: one-way streams over HTTP'] },
					duration,
				},
			},
			{
				event: 'progress',
				data: {
					message: 'step 1: called search',
					finishReason: 'tool-calls',
					usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
				},
			},
			{
				event: 'progress',
				data: {
					message: 'step 2: Server-Sent Events: one-way streams over HTTP.',
					finishReason: 'stop',
					usage: { inputTokens: 20, outputTokens: 7, totalTokens: 27 },
				},
			},
			{
				event: 'complete',
				data: {
					result: 'Server-Sent Events: one-way streams over HTTP.',
					usage: { inputTokens: 30, outputTokens: 12, totalTokens: 42 },
					duration,
				},
			},
		])
	})

	it('publishes a tool that threw as tool_error, and bounds a large tool output with a marker', async () => {
		await using server = await startServer()
		const big = 'x'.repeat(100_000)
		const model = new MockLanguageModelV4({
			doGenerate: [
				{
					content: [
						{ type: 'tool-call', toolCallId: 'a', toolName: 'dump', input: '{}' },
						{ type: 'tool-call', toolCallId: 'b', toolName: 'broken', input: '{}' },
					],
					finishReason: toolCalls,
					usage: usage(1, 1),
					warnings: [],
				},
				{ content: [], finishReason: stop, usage: usage(1, 0), warnings: [] },
			],
		})
		const more = {
			dump: tool({ inputSchema: z.object({}), execute: async () => big }),
			broken: tool({
				inputSchema: z.object({}),
				execute: async (): Promise<string> => {
					throw new Error('the index is down')
				},
			}),
		}

		await research(model, more, cortex(server))

		const events = await readBack(server, 'agents/researcher')
		// The two tools run at once: which ends first is theirs to say.
		expect(events.map((e) => e.event)).toEqual([
			'progress',
			'tool_call',
			'tool_call',
			expect.stringMatching(/^tool_(result|error)$/),
			expect.stringMatching(/^tool_(result|error)$/),
			'progress',
			'progress',
			'complete',
		])
		const output = events.find((e) => e.event === 'tool_result')?.data as { output: string }
		expect(output.output.startsWith('xxxx')).toBe(true)
		expect(output.output).toMatch(/ … \[\d{5} more characters\]$/)
		const bytes = new TextEncoder().encode(JSON.stringify(output.output)).length
		expect(bytes).toBeLessThanOrEqual(LIMITS.value)
		expect(bytes).toBeGreaterThan(LIMITS.value - 100)
		expect(events.find((e) => e.event === 'tool_error')?.data).toEqual({
			toolCallId: 'b',
			tool: 'broken',
			message: 'the index is down',
		})
		expect(events[5].data).toMatchObject({ message: 'step 1: called dump, broken' })
		expect(events[6].data).toMatchObject({ message: 'step 2: finished (stop)' })
		expect(events[7].data).toEqual({
			result: '',
			usage: { inputTokens: 2, outputTokens: 1, totalTokens: 3 },
			duration,
		})
	})

	it('ends the execution failed with the error, and rethrows it', async () => {
		await using server = await startServer()
		const model = new MockLanguageModelV4({
			doGenerate: async () => {
				throw new Error('model overloaded')
			},
		})

		const error = await research(model, tools, cortex(server)).catch((e) => e)

		expect(error).toBeInstanceOf(Error)
		expect(error.message).toBe('model overloaded')
		expect(await readBack(server, 'agents/researcher')).toEqual([
			{ event: 'progress', data: { message: 'started' } },
			{ event: 'failed', data: { message: 'model overloaded', duration } },
		])
	})

	it('aborts a model call that publishes nothing when a cancel is requested, and ends it cancelled', async () => {
		await using server = await startServer()
		let aborted: unknown
		// A model that answers after a minute, unless its call is aborted.
		const model = new MockLanguageModelV4({
			doGenerate: ({ abortSignal }) =>
				new Promise((_, reject) => {
					const timer = setTimeout(() => reject(new Error('not aborted')), 60_000)
					abortSignal?.addEventListener('abort', () => {
						clearTimeout(timer)
						aborted = abortSignal.reason
						reject(abortSignal.reason)
					})
				}),
		})
		const started = performance.now()
		const call = research(model, tools, cortex(server)).catch((e) => e)
		await eventually(async () => (await readBack(server, 'agents/researcher')).length === 1)
		expect((await cancel(server, 'agents/researcher', 'from the test')).status).toBe(202)

		const error = await call
		expect(performance.now() - started).toBeLessThan(10_000)
		expect(aborted).toBe(error)
		expect(error).toMatchObject({ name: 'AbortError', message: 'cancelled: from the test' })
		expect(await readBack(server, 'agents/researcher')).toEqual([
			{ event: 'progress', data: { message: 'started' } },
			{ event: 'cancel_requested', data: { reason: 'from the test' } },
			{ event: 'cancelled', data: { reason: 'from the test', duration } },
		])
	})

	it("takes an Agent's generate() too", async () => {
		await using server = await startServer()
		const model = new MockLanguageModelV4({
			doGenerate: [
				{
					content: [
						{ type: 'tool-call', toolCallId: 'c', toolName: 'search', input: '{"query":"SSE"}' },
					],
					finishReason: toolCalls,
					usage: usage(4, 2),
					warnings: [],
				},
				{
					content: [{ type: 'text', text: 'Done.' }],
					finishReason: stop,
					usage: usage(6, 1),
					warnings: [],
				},
			],
		})
		const agent = new ToolLoopAgent({ model, tools, instructions: 'Be brief' })

		const { text } = await withAgentRun('agents/agent', cortex(server), (options) =>
			agent.generate({ prompt: 'What is SSE?', ...options }),
		)

		expect(text).toBe('Done.')
		const events = await readBack(server, 'agents/agent')
		expect(events.map((e) => e.event)).toEqual([
			'progress',
			'tool_call',
			'tool_result',
			'progress',
			'progress',
			'complete',
		])
		expect(events.at(-1)?.data).toEqual({
			result: 'Done.',
			usage: { inputTokens: 10, outputTokens: 3, totalTokens: 13 },
			duration,
		})
	})

	it("never fails the call for cortex-stream's own failure: it is reported instead", async () => {
		await using server = await startServer()
		const model = new MockLanguageModelV4({
			doGenerate: {
				content: [{ type: 'text', text: 'ok' }],
				finishReason: stop,
				usage: usage(1, 1),
				warnings: [],
			},
		})
		const reported: unknown[] = []

		const { text } = await withAgentRun(
			'agents/refused',
			{ url: server.url, token: 'not-the-token', reportError: (e) => reported.push(e) },
			(options) => generateText({ model, prompt: 'Say ok', ...options }),
		)

		expect(text).toBe('ok')
		expect(reported).toHaveLength(1)
		expect(reported[0]).toMatchObject({ name: 'CortexRequestError', status: 401 })
	})
})

describe('AgentRun around streamText', () => {
	const chunks = [
		{ type: 'text-start' as const, id: 't' },
		...Array.from({ length: 40 }, (_, i) => ({
			type: 'text-delta' as const,
			id: 't',
			delta: `w${i} `,
		})),
		{ type: 'text-end' as const, id: 't' },
		{ type: 'finish' as const, finishReason: stop, usage: usage(3, 40) },
	]

	it('ends the run complete when the stream has been read', async () => {
		await using server = await startServer()
		const model = new MockLanguageModelV4({
			doStream: async () => ({ stream: simulateReadableStream({ chunks }) }),
		})
		const run = new AgentRun('agents/writer', cortex(server))

		const result = streamText({ model, prompt: 'Write', ...run.options() })
		let text = ''
		for await (const delta of result.textStream) text += delta
		await run.done

		expect(run.status).toBe('complete')
		const events = await readBack(server, 'agents/writer')
		expect(events.map((e) => e.event)).toEqual(['progress', 'progress', 'complete'])
		expect(events[2].data).toEqual({
			result: text,
			usage: { inputTokens: 3, outputTokens: 40, totalTokens: 43 },
			duration,
		})
	})

	it('aborts a slow stream at a cancel request and ends the run cancelled', async () => {
		await using server = await startServer()
		const model = new MockLanguageModelV4({
			doStream: async () => ({
				stream: simulateReadableStream({ chunks, initialDelayInMs: 0, chunkDelayInMs: 250 }),
			}),
		})
		const run = new AgentRun('agents/writer', cortex(server))
		const result = streamText({ model, prompt: 'Write', ...run.options() })
		let text = ''
		const read = (async () => {
			for await (const delta of result.textStream) text += delta
		})()

		await eventually(() => text.length > 0)
		expect((await cancel(server, 'agents/writer', 'enough')).status).toBe(202)
		await read.catch(() => {})
		await run.done

		expect(run.signal.aborted).toBe(true)
		expect(run.status).toBe('cancelled')
		// Cut short: 40 words at 4 a second would take 10 s.
		expect(text.split(' ').length).toBeLessThan(30)
		expect(await readBack(server, 'agents/writer')).toEqual([
			{ event: 'progress', data: { message: 'started' } },
			{ event: 'cancel_requested', data: { reason: 'enough' } },
			{ event: 'cancelled', data: { reason: 'enough', duration } },
		])
	})

	it('ends the run failed when the stream errs', async () => {
		await using server = await startServer()
		const model = new MockLanguageModelV4({
			doStream: async () => {
				throw new Error('stream refused')
			},
		})
		const run = new AgentRun('agents/writer', cortex(server))

		const result = streamText({ model, prompt: 'Write', ...run.options() })
		await result.consumeStream()
		await run.done

		expect(await readBack(server, 'agents/writer')).toEqual([
			{ event: 'progress', data: { message: 'started' } },
			{ event: 'failed', data: { message: 'stream refused', duration } },
		])
	})
})
