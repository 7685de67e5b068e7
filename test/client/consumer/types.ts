// A user's file, typechecked by test/client/package.test.ts against the packed package with
// TypeScript 5 and 7 (module NodeNext, strict). Each @ts-expect-error must be an error: an
// unused one fails the check, so the types cannot quietly widen.
import {
	CortexRequestError,
	type OutgoingEvent,
	Publisher,
	publish,
	type StreamEvent,
	subscribe,
} from '@cortex-stream/client'

declare const token: string

export async function narrowing() {
	for await (const e of subscribe('agents/a', { token })) {
		if (e.event === 'progress') {
			const progress: number | undefined = e.data.progress
			const message: string | undefined = e.data.message
			// @ts-expect-error progress is a number
			const wrong: string = e.data.progress
			void [progress, message, wrong]
		}
		switch (e.event) {
			case 'failed': {
				const message: string = e.data.message
				void message
				break
			}
			case 'step_start': {
				const stepId: string = e.data.stepId
				void stepId
				break
			}
			case 'gap': {
				const firstAvailable: number = e.data.firstAvailable
				// @ts-expect-error a gap has no id
				const id: number = e.id
				void [firstAvailable, id]
				break
			}
			case 'cancel_requested': {
				const reason: string | undefined = e.data.reason
				void reason
				break
			}
		}
		// @ts-expect-error undeclared custom types are not in the union
		if (e.event === 'tool_call') void e
	}
}

export async function customTypes() {
	for await (const e of subscribe<{ tool_call: { tool: string }; note: unknown }>('agents/a')) {
		if (e.event === 'tool_call') {
			const tool: string = e.data.tool
			void tool
		}
		if (e.event === 'note') {
			// @ts-expect-error data of unknown shape must be looked at first
			void e.data.text
		}
		if (e.event === 'progress') void (e.data.progress ?? 0)
	}
}

export async function publishing() {
	await publish('agents/a', { event: 'progress', data: { progress: 0.5, tokens: 120 } })
	await publish('agents/a', { event: 'tool_call', data: { tool: 'grep', progress: 'custom' } })
	await publish('workflows/w', [
		{ event: 'step_start', data: { stepId: 'lint' } },
		{ event: 'step_complete', data: { stepId: 'lint', duration: 1200 } },
	])
	// @ts-expect-error progress is a number from 0 to 1
	await publish('agents/a', { event: 'progress', data: { progress: 'half' } })
	// @ts-expect-error failed needs a message
	await publish('agents/a', { event: 'failed', data: { code: 'E1' } })
	await publish('workflows/w', [
		{ event: 'step_start', data: { stepId: 'lint' } },
		// @ts-expect-error a step event needs its stepId
		{ event: 'step_complete', data: { duration: 1 } },
	])
	const events: OutgoingEvent<'progress' | 'note'>[] = [{ event: 'note', data: { text: 'hi' } }]
	await publish('agents/a', events)

	const p = new Publisher('agents/a', { token })
	p.progress({ progress: 0.2, message: 'Reading' })
	// @ts-expect-error progress is a number
	p.progress({ progress: '20%' })
	p.send('step_start', { stepId: 'plan' })
	p.send('anything', { free: 'form' })
	// @ts-expect-error a terminal failed needs a message
	p.send('failed', {})
	try {
		await p.close()
	} catch (error) {
		if (error instanceof CortexRequestError) {
			const field: string | undefined = error.field
			void [error.status, error.code, field]
		}
	}
}

export function show(e: StreamEvent) {
	if (e.event === 'complete') return e.data.duration ?? 0
	return e.id
}
