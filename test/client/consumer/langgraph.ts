// A LangGraph user's file, typechecked by test/client/package.test.ts against the packed package
// (@cortex-stream/client/langgraph) with LangGraph's own types: the config fits invoke() and
// stream(), a node's config fits stepProgress(), and the graph's state keeps its type.
import { stepProgress, WorkflowRun, withWorkflowRun } from '@cortex-stream/client/langgraph'
import { Annotation, type LangGraphRunnableConfig, START, StateGraph } from '@langchain/langgraph'

const State = Annotation.Root({ count: Annotation<number> })
const graph = new StateGraph(State)
	.addNode('increment', async ({ count }, config) => {
		await stepProgress(config, { progress: 0.5, message: 'half way' })
		return { count: count + 1 }
	})
	.addEdge(START, 'increment')
	.compile()

export async function invoking() {
	const state = await withWorkflowRun('workflows/w', { token: 't' }, (config) =>
		graph.invoke({ count: 1 }, { ...config, configurable: { thread_id: 'w' } }),
	)
	const count: number = state.count
	// @ts-expect-error the count is a number
	const wrong: string = state.count
	void [count, wrong]
}

export async function streaming() {
	const run = new WorkflowRun('workflows/w', { token: 't' })
	for await (const update of await graph.stream(
		{ count: 1 },
		{ ...run.config(), streamMode: 'updates' },
	))
		void update
	await run.done
}

export async function reporting(config: LangGraphRunnableConfig) {
	await stepProgress(config, { message: 'no fraction' })
	// @ts-expect-error progress is a number from 0 to 1
	await stepProgress(config, { progress: 'half' })
}
