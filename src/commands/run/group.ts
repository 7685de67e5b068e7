import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { constants } from 'node:os'

/** The shell's exit code for a process that died of `signal`: 128 and its number. */
export const signalExitCode = (signal: string) =>
	128 + (constants.signals[signal as keyof typeof constants.signals] ?? 0)

/**
 * Whether any process of group `pgid` is alive. A zombie does not count: where PID 1 does not
 * reap orphans (some containers), the command's dead grandchildren stay zombies for good.
 */
export function groupAlive(pgid: number): boolean {
	try {
		process.kill(-pgid, 0)
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM'
	}
	if (!existsSync('/proc/self/stat')) return true
	for (const entry of readdirSync('/proc')) {
		if (!/^[0-9]+$/.test(entry)) continue
		let stat: string
		try {
			stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
		} catch {
			continue
		}
		// After the command name, which may hold spaces and parentheses: state, ppid, pgrp.
		const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
		if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true
	}
	return false
}

function signalGroup(pgid: number, signal: NodeJS.Signals) {
	try {
		process.kill(-pgid, signal)
	} catch {
		// The group is gone already.
	}
}

/**
 * Stops the process group the command leads: a signal to every process in it, then SIGKILL
 * for whatever is still alive after the grace period.
 */
export class GroupStopper {
	/** Why it was stopped (the cancelled event's reason), once stop() was called. */
	reason: string | undefined
	/** The signal sent first, which gives run's exit code. */
	signal: NodeJS.Signals | undefined
	/** Resolves once no process of the group is left alive (or none could be killed). */
	gone: Promise<void> = Promise.resolve()
	private killNow: () => void = () => {}

	constructor(
		private readonly pgid: number,
		private readonly graceMs: number,
	) {}

	/** The first call stops the group; a later one, if `insist`, kills it at once. */
	stop(reason: string, signal: NodeJS.Signals, insist = false) {
		if (this.reason !== undefined) {
			if (insist) this.killNow()
			return
		}
		this.reason = reason
		this.signal = signal
		signalGroup(this.pgid, signal)
		this.gone = this.watch()
	}

	private async watch() {
		const deadline = Date.now() + this.graceMs
		let killed = false
		const kill = () => {
			if (killed) return
			killed = true
			signalGroup(this.pgid, 'SIGKILL')
		}
		this.killNow = kill
		// Checked between signals, so that SIGKILL never goes to a group that has left, whose
		// number a new group could have taken.
		while (groupAlive(this.pgid)) {
			if (Date.now() >= deadline) kill()
			// A process stuck in the kernel may outlive SIGKILL for a while; run does not wait on it.
			if (Date.now() >= deadline + 2_000) return
			await Bun.sleep(killed ? 20 : 50)
		}
	}
}
