// The README's AI SDK example: test/client/ai-sdk.test.ts runs it with the SDK's mock model, and
// test/client/package.test.ts typechecks it against the packed package.
import { type RunOptions, withAgentRun } from '@cortex-stream/client/ai-sdk'
import { generateText, isStepCount, type LanguageModel, type ToolSet } from 'ai'

// Each step, tool call and result is an event of agents/researcher; the end, complete or failed.
export const research = (model: LanguageModel, tools: ToolSet, cortex: RunOptions) =>
	withAgentRun('agents/researcher', cortex, (options) =>
		generateText({ model, tools, stopWhen: isStepCount(5), prompt: 'What is SSE?', ...options }),
	)
