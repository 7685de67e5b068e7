/**
 * `@cortex-stream/client/langgraph`: a LangGraph (`@langchain/langgraph` 1) graph's run as a
 * cortex-stream workflow run. Each node it runs is a step (`step_start`, then `step_complete`
 * with its duration, or `step_failed`), a node reports progress with `stepProgress()`, and the
 * run ends `complete` with the final state, or `failed`; a cancel request (`POST .../cancel`)
 * aborts the graph and ends it `cancelled`.
 *
 * It watches the graph through LangChain's callbacks, with a handler that is a plain object
 * (LangChain wraps it), so that it needs nothing of LangGraph's at run time, and of LangChain's
 * only `dispatchCustomEvent`, for `stepProgress()`.
 *
 * @example
 * import { withWorkflowRun } from '@cortex-stream/client/langgraph'
 * const state = await withWorkflowRun(`workflows/${id}`, { url, token }, (config) => graph.invoke(input, config))
 */

import { dispatchCustomEvent } from '@langchain/core/callbacks/dispatch/web'
import { bounded, errorMessage, LIMITS, type RunOptions, TrackedRun } from './tracked-run.js'

export { LIMITS, type RunOptions } from './tracked-run.js'

/**
 * A LangChain callback handler: what `WorkflowRun.config()` puts in `callbacks`. Its handlers
 * run as the graph calls them (`awaitHandlers`), not in LangChain's background queue, so the
 * steps' times are the nodes' own.
 */
export interface WorkflowCallbacks {
	readonly awaitHandlers: true
	handleChainStart(
		chain: unknown,
		inputs: unknown,
		runId: string,
		parentRunId?: string,
		tags?: string[],
		metadata?: Record<string, unknown>,
	): void
	handleChainEnd(outputs: unknown, runId: string): void
	handleChainError(error: unknown, runId: string): void
	handleCustomEvent(
		eventName: string,
		data: unknown,
		runId: string,
		tags?: string[],
		metadata?: Record<string, unknown>,
	): void
}

/** What `WorkflowRun.config()` gives: a graph's `invoke()` or `stream()` config. */
export interface WorkflowRunConfig {
	callbacks: WorkflowCallbacks[]
	/** The run's `signal`: a cancel request aborts the graph. */
	signal: AbortSignal
}

interface Step {
	stepId: string
	started: number
}

/** The name of the custom event that `stepProgress()` dispatches. */
export const STEP_PROGRESS = 'step_progress'

/**
 * A graph's run as a workflow run (`workflows/<id>`). Pass `config()` to the graph's `invoke()`
 * or `stream()`; spread it to add your own (`{ ...run.config(), configurable: { thread_id } }`).
 * Each node the graph runs (not `__start__`, and not the nodes of a subgraph, which are part of
 * their node's step) is a step whose `stepId` is `<node>#<n>`, n counting that node's runs
 * from 1, so a node in a loop is a new step each time: `step_start` `{stepId, name: node}`,
 * then `step_complete` `{stepId, duration, result}` (what the node returned, bounded to
 * `LIMITS.value`) or `step_failed` `{stepId, message}`. The graph's end ends the run:
 * `complete` `{result: final state, duration}` (bounded to `LIMITS.result`), or `failed`
 * `{message, duration}`, or `cancelled` `{reason, duration}` after a cancel request; steps
 * still open then are closed with `step_failed`.
 *
 * @example
 * const run = new WorkflowRun(`workflows/${id}`, { url, token })
 * for await (const update of await graph.stream(input, { ...run.config(), streamMode: 'updates' })) console.log(update)
 * await run.done
 */
export class WorkflowRun extends TrackedRun {
	private graphRunId: string | undefined
	/** The open steps, by the run id LangChain gave their node. */
	private readonly open = new Map<string, Step>()
	/** The same, by their task's checkpoint namespace (`node:<task id>`), which nested runs share. */
	private readonly byTask = new Map<string, Step>()
	private readonly runs = new Map<string, number>()
	private readonly callbacks: WorkflowCallbacks

	constructor(stream: string, settings: RunOptions = {}) {
		super(workflow(stream), settings)
		this.callbacks = {
			awaitHandlers: true,
			handleChainStart: (_chain, _inputs, runId, parentRunId, _tags, metadata) => {
				// The first chain is the graph; its nodes are the chains it starts itself.
				if (this.graphRunId === undefined) {
					this.graphRunId = runId
					return
				}
				const node = metadata?.langgraph_node
				if (parentRunId !== this.graphRunId || typeof node !== 'string' || node.startsWith('__'))
					return
				const n = (this.runs.get(node) ?? 0) + 1
				this.runs.set(node, n)
				const step = { stepId: `${node}#${n}`, started: performance.now() }
				this.open.set(runId, step)
				const task = metadata?.langgraph_checkpoint_ns
				if (typeof task === 'string') this.byTask.set(task, step)
				this.send('step_start', { stepId: step.stepId, name: node })
			},
			handleChainEnd: (outputs, runId) => {
				if (runId === this.graphRunId) {
					this.complete(outputs)
					return
				}
				const step = this.close(runId)
				if (step)
					this.send('step_complete', {
						stepId: step.stepId,
						duration: Math.round(performance.now() - step.started),
						result: bounded(outputs, LIMITS.value),
					})
			},
			handleChainError: (error, runId) => {
				if (runId === this.graphRunId) {
					this.fail(error)
					return
				}
				const step = this.close(runId)
				if (step) this.send('step_failed', { stepId: step.stepId, message: errorMessage(error) })
			},
			handleCustomEvent: (eventName, data, runId, _tags, metadata) => {
				if (eventName !== STEP_PROGRESS) return
				const task = String(metadata?.langgraph_checkpoint_ns ?? '').split('|')[0]
				const step = this.open.get(runId) ?? this.byTask.get(task)
				if (!step) return
				const { progress, message } = (data ?? {}) as { progress?: unknown; message?: unknown }
				this.send('step_progress', {
					stepId: step.stepId,
					...(typeof progress === 'number' &&
						Number.isFinite(progress) && { progress: Math.min(1, Math.max(0, progress)) }),
					...(typeof message === 'string' && {
						message: bounded(message, LIMITS.message) as string,
					}),
				})
			},
		}
	}

	/** The config that makes the graph's run this workflow run: `callbacks` and `signal`. */
	config(): WorkflowRunConfig {
		return { callbacks: [this.callbacks], signal: this.signal }
	}

	/** Ends the run `complete`, with `{result: state}` when given one. Resolves as `done` does. */
	complete(state?: unknown): Promise<void> {
		return this.end(
			'complete',
			state === undefined ? {} : { result: bounded(state, LIMITS.result) },
		)
	}

	protected override beforeEnd(type: 'complete' | 'failed' | 'cancelled') {
		const message = type === 'cancelled' ? 'cancelled' : `stopped: the run ${type}`
		for (const runId of [...this.open.keys()]) {
			const step = this.close(runId)
			if (step) this.send('step_failed', { stepId: step.stepId, message })
		}
	}

	private close(runId: string): Step | undefined {
		const step = this.open.get(runId)
		if (!step) return undefined
		this.open.delete(runId)
		for (const [task, s] of this.byTask) if (s === step) this.byTask.delete(task)
		return step
	}
}

function workflow(stream: string) {
	if (!stream.startsWith('workflows/'))
		throw new TypeError(`a workflow run's stream is "workflows/<id>", not "${stream}"`)
	return stream
}

/**
 * Runs `call` as one workflow run: `call` gets the config to pass to the graph's `invoke()` (or
 * `stream()`, read to its end within `call`). Resolves with what `call` resolved with, once the
 * run's `complete` is durable; when `call` throws, the run ends `failed` (or `cancelled`, after
 * a cancel request, which aborts the graph) and this rejects with that error.
 *
 * @example
 * const state = await withWorkflowRun(`workflows/${id}`, { url, token }, (config) =>
 *   graph.invoke({ topic: 'SSE' }, config))
 */
export async function withWorkflowRun<T>(
	stream: string,
	settings: RunOptions,
	call: (config: WorkflowRunConfig, run: WorkflowRun) => T | PromiseLike<T>,
): Promise<T> {
	const run = new WorkflowRun(stream, settings)
	let value: T
	try {
		value = await call(run.config(), run)
	} catch (error) {
		await run.fail(error)
		throw error
	}
	await run.complete(value)
	return value
}

/**
 * Reports a node's progress, from inside the node, with the config LangGraph gave it (typed
 * `LangGraphRunnableConfig`, or `Runtime` in a node declared inline): a
 * `step_progress` `{stepId, progress, message}` of the node's step (`progress` is a fraction
 * from 0 to 1). It dispatches a LangChain custom event, `step_progress`, which a graph run
 * without a `WorkflowRun` ignores (as it does without a config).
 *
 * @example
 * graph.addNode('fetch', async (state, config) => {
 *   for (const [i, url] of state.urls.entries()) {
 *     await stepProgress(config, { progress: i / state.urls.length, message: `fetching ${url}` })
 *     ...
 *   }
 * })
 */
export function stepProgress(
	config: object | undefined,
	data: { progress?: number; message?: string },
): Promise<void> {
	if (!config) return Promise.resolve()
	// dispatchCustomEvent's config is a RunnableConfig, whose type is LangChain's own.
	return dispatchCustomEvent(
		STEP_PROGRESS,
		data,
		config as Parameters<typeof dispatchCustomEvent>[2],
	)
}
