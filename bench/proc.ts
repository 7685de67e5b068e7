import { readFileSync } from 'node:fs'

/** Linux reports utime and stime in clock ticks; 100 per second on every mainstream kernel. */
const TICK_US = 10_000

/** User + system CPU of a whole process (all threads), in microseconds. */
export function cpuMicros(pid: number | 'self'): number {
	const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
	// The command name may hold spaces or parentheses; the fields start after the last ')'.
	const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
	return (Number(fields[11]) + Number(fields[12])) * TICK_US
}

/** Resident set size in KiB, from VmRSS. */
export function rssKiB(pid: number | 'self'): number {
	const status = readFileSync(`/proc/${pid}/status`, 'utf8')
	const match = /VmRSS:\s+(\d+) kB/.exec(status)
	return match ? Number(match[1]) : Number.NaN
}

/** Epoch milliseconds with sub-millisecond precision: comparable across processes. */
export const now = () => performance.timeOrigin + performance.now()

/**
 * Busy and stolen CPU of the whole machine (all cores), in microseconds. Busy time that is
 * neither the server's nor the load generator's is someone else's: another process, or kernel
 * work not charged to a process. Steal is time the hypervisor gave to other guests.
 */
export function machineMicros(): { busy: number; steal: number } {
	const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
	const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number)
	return { busy: (user + nice + system + irq + softirq) * TICK_US, steal: steal * TICK_US }
}

export interface CpuSnapshot {
	at: number
	server: number
	self: number
	machine: { busy: number; steal: number }
}

export const snapshot = (serverPid: number): CpuSnapshot => ({
	at: now(),
	server: cpuMicros(serverPid),
	self: cpuMicros('self'),
	machine: machineMicros(),
})

export interface CpuShares {
	seconds: number
	serverUs: number
	/** Percent of one core. */
	serverPct: number
	clientPct: number
	otherPct: number
	stealPct: number
}

export function shares(a: CpuSnapshot, b: CpuSnapshot): CpuShares {
	const seconds = (b.at - a.at) / 1000
	const pct = (us: number) => us / 1e4 / seconds
	const serverUs = b.server - a.server
	const selfUs = b.self - a.self
	return {
		seconds,
		serverUs,
		serverPct: pct(serverUs),
		clientPct: pct(selfUs),
		otherPct: pct(b.machine.busy - a.machine.busy - serverUs - selfUs),
		stealPct: pct(b.machine.steal - a.machine.steal),
	}
}
