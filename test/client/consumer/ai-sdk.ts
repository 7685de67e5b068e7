// An AI SDK user's file, typechecked by test/client/package.test.ts against the packed package
// (@cortex-stream/client/ai-sdk) with the SDK's own types: the options spread into each kind of
// call, and the call's result keeps its type.
import { type StreamEvent, subscribe } from '@cortex-stream/client'
import { AgentRun, type AiSdkEvents, withAgentRun } from '@cortex-stream/client/ai-sdk'
import { generateText, type LanguageModel, streamText, ToolLoopAgent, tool } from 'ai'
import { z } from 'zod'

declare const model: LanguageModel
const tools = {
	search: tool({
		inputSchema: z.object({ query: z.string() }),
		execute: async ({ query }) => ({ hits: [query] }),
	}),
}

export async function generating() {
	const result = await withAgentRun('agents/a', { token: 't' }, (options) =>
		generateText({ model, tools, prompt: 'Find', ...options }),
	)
	const text: string = result.text
	// @ts-expect-error the text is a string
	const wrong: number = result.text
	void [text, wrong, result.toolCalls[0]?.toolName]
}

export function streaming() {
	const run = new AgentRun('agents/a', { token: 't', signal: AbortSignal.timeout(60_000) })
	const result = streamText({ model, tools, prompt: 'Write', ...run.options() })
	void run.done.then(() => run.status)
	return result.toTextStreamResponse()
}

export async function agents() {
	const agent = new ToolLoopAgent({ model, tools, instructions: 'Be brief' })
	const { text } = await withAgentRun('agents/a', {}, (options, run) => {
		run.send('note', { by: 'me' })
		return agent.generate({ prompt: 'Find', ...options })
	})
	void text
}

export async function following() {
	for await (const e of subscribe<AiSdkEvents>('agents/a')) {
		if (e.event === 'tool_call') {
			const tool: string = e.data.tool
			void [tool, e.data.input]
		}
		if (e.event === 'tool_result') void (e.data.duration ?? 0)
	}
}

export function wrong(e: StreamEvent<AiSdkEvents>) {
	// @ts-expect-error a tool_error has no output
	if (e.event === 'tool_error') void e.data.output
	// @ts-expect-error an agent run's stream is a string
	void new AgentRun(42)
}
