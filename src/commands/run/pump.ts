import { LineSplitter } from './lines.ts'

export interface Pump {
	/** Resolves once the output ended (or stop() ended it) and every line was reported. */
	done: Promise<void>
	stop(): void
	/** Since when nothing was read, in ms since the epoch; now while it waits on `backedUp`. */
	quietSince(): number
}

/**
 * Copies one of the command's outputs to ours as it comes and reports it line by line. While
 * `backedUp()` holds it waits between lines, and so stops reading: the command's writes then
 * block on the full pipe, which slows it down rather than have its lines dropped.
 */
export function pump(
	from: ReadableStream<Uint8Array>,
	to: NodeJS.WritableStream,
	report: (line: string) => void,
	backedUp: () => boolean,
): Pump {
	const reader = from.getReader()
	const lines = new LineSplitter()
	let stopped = false
	let waiting = false
	let readAt = Date.now()
	const done = (async () => {
		try {
			for (;;) {
				const { value, done } = await reader.read()
				if (done) break
				readAt = Date.now()
				to.write(value)
				// One read may hold thousands of lines: the wait is between lines.
				for (const line of lines.push(value)) {
					waiting = true
					while (backedUp() && !stopped) await Bun.sleep(10)
					waiting = false
					readAt = Math.max(readAt, Date.now())
					report(line)
				}
			}
		} catch {
			// Cancelled by stop(), or the pipe broke: what was read is reported below.
		}
		for (const line of lines.end()) report(line)
	})()
	return {
		done,
		stop() {
			stopped = true
			reader.cancel().catch(() => {})
		},
		quietSince: () => (waiting ? Date.now() : readAt),
	}
}

/**
 * Once the command has exited, reads on until its outputs end. Processes it left behind may
 * hold them open: reading stops when nothing came for `quietMs`, and after `limitMs` at most,
 * so that they cannot keep run from ending.
 */
export async function drain(pumps: Pump[], quietMs: number, limitMs: number) {
	const exitedAt = Date.now()
	const all = Promise.all(pumps.map((p) => p.done)).then(() => true)
	for (;;) {
		const ended = await Promise.race([all, Bun.sleep(50).then(() => false)])
		if (ended) return
		const now = Date.now()
		const quiet = pumps.every((p) => now - Math.max(p.quietSince(), exitedAt) >= quietMs)
		if (quiet || now - exitedAt >= limitMs) break
	}
	for (const p of pumps) p.stop()
	await all
}
