// A React user's file, typechecked by test/client/package.test.ts against the packed package
// (@cortex-stream/client/react) with React's own types, as test/client/consumer/types.ts is.

import { useRun } from '@cortex-stream/client/react'
import { createElement } from 'react'

export function RunBadge({
	stream,
	getTicket,
}: {
	stream: string
	getTicket: () => Promise<string>
}) {
	const run = useRun<{ tool_call: { tool: string } }>(stream, { token: getTicket, maxEvents: 50 })
	if (run.error) return createElement('p', null, run.error.message)
	const progress: number | null = run.progress
	// @ts-expect-error progress may be null
	const percent: number = run.progress
	const last = run.events.at(-1)
	const tool = last?.event === 'tool_call' ? last.data.tool : undefined
	// @ts-expect-error a step's status is one of three words
	const wrong: 'pending' = run.steps[0].status
	void [percent, wrong]
	return createElement(
		'p',
		null,
		`${run.status} ${Math.round((progress ?? 0) * 100)}% ${run.message ?? ''} ${tool ?? ''} #${run.lastEventId ?? '-'}`,
	)
}
