// The README's LangGraph example: test/client/langgraph.test.ts runs it, and
// test/client/package.test.ts typechecks it against the packed package.
import { type RunOptions, stepProgress, withWorkflowRun } from '@cortex-stream/client/langgraph'
import { Annotation, type LangGraphRunnableConfig, START, StateGraph } from '@langchain/langgraph'

// Each node the graph runs is a step of workflows/<id>; the end, complete with the state or failed.
export const summarize = (id: string, topic: string, cortex: RunOptions) =>
	withWorkflowRun(`workflows/${id}`, cortex, (config) => graph.invoke({ topic }, config))

async function research({ topic }: Topic, config: LangGraphRunnableConfig) {
	await stepProgress(config, { progress: 0.5, message: `reading about ${topic}` })
	return { notes: `${topic}: one-way streams over HTTP` }
}

const State = Annotation.Root({
	topic: Annotation<string>,
	notes: Annotation<string>,
	summary: Annotation<string>,
})
type Topic = typeof State.State
const graph = new StateGraph(State)
	.addSequence({ research, write: ({ notes }) => ({ summary: `In short: ${notes}` }) })
	.addEdge(START, 'research')
	.compile()
