/**
 * `@cortex-stream/client/ai-sdk`: a Vercel AI SDK (`ai` 7) call as one agent execution. Its
 * steps, tool calls and tool results become events of the execution, its end `complete` (the
 * final text and the token usage) or `failed`, and a cancel request (`POST .../cancel`) aborts
 * the call and ends it `cancelled`.
 *
 * It imports nothing from `ai`, not even types: the options it gives are plain functions whose
 * parameters are the few fields it reads, so any `generateText`, `streamText` or `Agent` call
 * takes them. What it shares with `@cortex-stream/client/langgraph` is in tracked-run.ts.
 *
 * @example
 * import { withAgentRun } from '@cortex-stream/client/ai-sdk'
 * const { text } = await withAgentRun('agents/researcher', { url, token }, (options) =>
 *   generateText({ model, tools, prompt: 'What is cortex-stream?', ...options }))
 */

import { bounded, errorMessage, LIMITS, type RunOptions, TrackedRun } from './tracked-run.js'

export { LIMITS, type RunOptions } from './tracked-run.js'

/** The token counts the AI SDK reports (`LanguageModelUsage`), as far as they are published. */
export interface UsageLike {
	inputTokens?: number | undefined
	outputTokens?: number | undefined
	totalTokens?: number | undefined
}

/** What `onStepEnd` is given (`StepResult`), as far as it is read. */
export interface StepLike {
	text: string
	finishReason?: string
	usage?: UsageLike
	toolCalls?: ReadonlyArray<{ toolName: string }>
}

/** A tool call, as `onToolExecutionStart` and `onToolExecutionEnd` give it. */
export interface ToolCallLike {
	toolCallId: string
	toolName: string
	input?: unknown
}

/**
 * The options `AgentRun.options()` gives, to spread into a `generateText`, `streamText` or
 * `agent.generate()`/`agent.stream()` call. A call takes the ones it knows; `onError` and
 * `onAbort` are streamText's.
 */
export interface AiSdkCallOptions {
	/** The run's `signal`: a cancel request aborts the call. */
	abortSignal: AbortSignal
	/** Publishes `tool_call`. */
	onToolExecutionStart: (event: { toolCall: ToolCallLike }) => void
	/** Publishes `tool_result`, or `tool_error` for a tool that threw. */
	onToolExecutionEnd: (event: {
		toolCall: ToolCallLike
		toolExecutionMs?: number
		toolOutput: { type: string; output?: unknown; error?: unknown }
	}) => void
	/** Publishes a `progress` that sums the step up. */
	onStepEnd: (step: StepLike) => void
	/** Ends the run `complete`. */
	onEnd: (event: { text: string; usage?: UsageLike }) => void
	/** Ends the run `failed` (streamText). */
	onError: (event: { error: unknown }) => void
	/** Ends the run `cancelled` (streamText). */
	onAbort: (event: { reason?: unknown }) => void
}

/** The data of the custom events an `AgentRun` publishes, for `subscribe<AiSdkEvents>()`. */
export type AiSdkEvents = {
	/** A tool is called; `input` bounded to `LIMITS.value`. */
	tool_call: { toolCallId: string; tool: string; input?: unknown }
	/** It returned; `output` bounded to `LIMITS.value`, `duration` in milliseconds. */
	tool_result: { toolCallId: string; tool: string; output?: unknown; duration?: number }
	/** It threw. */
	tool_error: { toolCallId: string; tool: string; message: string }
}

/**
 * One execution of an agent (`agents/<name>`) made of AI SDK calls. It starts at once with a
 * `progress` `{"message": "started"}`, so that the execution is running (and can be asked to
 * stop) before the model answers. Spread `options()` into the call; its `onEnd` ends the run
 * `complete`, and streamText's `onError` and `onAbort` end it `failed` or `cancelled`. A
 * generateText that throws calls none of them: end it with `fail(error)`, or use
 * `withAgentRun()`, which does.
 *
 * Events: `tool_call` `{toolCallId, tool, input}` as a tool starts, then `tool_result`
 * `{toolCallId, tool, output, duration}` or `tool_error` `{toolCallId, tool, message}`; after
 * each step a `progress` `{message: "step 1: called search", finishReason, usage}` (the start of
 * the step's text when it called no tool); at the end `complete` `{result: text, usage,
 * duration}`, `failed` `{message, code?, duration}` or `cancelled` `{reason, duration}`.
 *
 * @example
 * const run = new AgentRun('agents/writer', { url, token })
 * const result = streamText({ model, prompt: 'Write a haiku', ...run.options() })
 * for await (const text of result.textStream) process.stdout.write(text)
 * await run.done
 */
export class AgentRun extends TrackedRun {
	private steps = 0
	private callOptions: AiSdkCallOptions | undefined

	constructor(stream: string, settings: RunOptions = {}) {
		super(stream, settings)
		this.send('progress', { message: 'started' })
	}

	/** The call options that publish the call's events; the same object each time. */
	options(): AiSdkCallOptions {
		this.callOptions ??= {
			abortSignal: this.signal,
			onToolExecutionStart: ({ toolCall }) =>
				this.send('tool_call', {
					toolCallId: toolCall.toolCallId,
					tool: toolCall.toolName,
					input: bounded(toolCall.input, LIMITS.value),
				}),
			onToolExecutionEnd: ({ toolCall, toolOutput, toolExecutionMs }) => {
				const ids = { toolCallId: toolCall.toolCallId, tool: toolCall.toolName }
				if (toolOutput.type === 'tool-error')
					this.send('tool_error', { ...ids, message: errorMessage(toolOutput.error) })
				else
					this.send('tool_result', {
						...ids,
						output: bounded(toolOutput.output, LIMITS.value),
						...(toolExecutionMs !== undefined && { duration: Math.round(toolExecutionMs) }),
					})
			},
			onStepEnd: (step) => {
				this.steps++
				this.send('progress', {
					message: `step ${this.steps}: ${summary(step)}`,
					...(step.finishReason !== undefined && { finishReason: step.finishReason }),
					...(step.usage && { usage: usage(step.usage) }),
				})
			},
			onEnd: (event) => {
				this.complete(event)
			},
			onError: ({ error }) => {
				this.fail(error)
			},
			onAbort: () => {
				this.cancel()
			},
		}
		return this.callOptions
	}

	/**
	 * Ends the run `complete`: with `{result: text, usage}` for a call's result (or `onEnd`'s
	 * event), with `{result}` for anything else. Resolves as `done` does.
	 */
	complete(result?: unknown): Promise<void> {
		const r = result as { text?: unknown; usage?: UsageLike } | undefined
		if (typeof r?.text === 'string')
			return this.end('complete', {
				result: bounded(r.text, LIMITS.result),
				...(r.usage && { usage: usage(r.usage) }),
			})
		return this.end(
			'complete',
			result === undefined ? {} : { result: bounded(result, LIMITS.result) },
		)
	}
}

function summary(step: StepLike): string {
	const tools = step.toolCalls?.map((c) => c.toolName) ?? []
	if (tools.length > 0) return `called ${tools.join(', ')}`
	const text = (step.text ?? '').replace(/\s+/g, ' ').trim()
	if (text) return text.length > 200 ? `${text.slice(0, 200)}…` : text
	return `finished (${step.finishReason ?? 'no text'})`
}

function usage(u: UsageLike) {
	return { inputTokens: u.inputTokens, outputTokens: u.outputTokens, totalTokens: u.totalTokens }
}

/**
 * Runs `call` as one execution of the agent: `call` gets the options to spread into its
 * generateText (or `agent.generate()`). Resolves with what `call` resolved with, once the
 * execution's `complete` is durable; when `call` throws, the execution ends `failed` (or
 * `cancelled`, after a cancel request, which aborts the call) and this rejects with that
 * error. A streamText call's run is ended by its own callbacks, later, as it is read.
 *
 * @example
 * const { text } = await withAgentRun('agents/researcher', { url, token }, (options) =>
 *   generateText({ model, tools: { search }, stopWhen: isStepCount(5), prompt, ...options }))
 */
export async function withAgentRun<T>(
	stream: string,
	settings: RunOptions,
	call: (options: AiSdkCallOptions, run: AgentRun) => T | PromiseLike<T>,
): Promise<T> {
	const run = new AgentRun(stream, settings)
	let value: T
	try {
		value = await call(run.options(), run)
	} catch (error) {
		await run.fail(error)
		throw error
	}
	// A streamText result (or an agent's stream()) ends by its callbacks as it is read.
	const streaming =
		typeof (value as { consumeStream?: unknown } | null)?.consumeStream === 'function'
	if (!streaming) await run.complete(value)
	return value
}
