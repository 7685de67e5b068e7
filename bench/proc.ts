import { readdirSync, readFileSync } from 'node:fs'

/** Linux reports utime and stime in clock ticks; 100 per second on every mainstream kernel. */
const TICK_US = 10_000

/** The fields of /proc/<pid>/stat after the command name, which may hold spaces or parentheses. */
function statFields(pid: number | 'self'): string[] {
	const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
	return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** User + system CPU of a whole process (all threads), in microseconds. */
export function cpuMicros(pid: number | 'self'): number {
	const fields = statFields(pid)
	return (Number(fields[11]) + Number(fields[12])) * TICK_US
}

/** The summed CPU of several processes: the instances of one cluster. */
export const cpuMicrosOf = (pids: number[]) => pids.reduce((us, pid) => us + cpuMicros(pid), 0)

/** A process and all its descendants, from one pass over /proc. */
export function processTree(root: number): number[] {
	const children = new Map<number, number[]>()
	for (const entry of readdirSync('/proc')) {
		const pid = Number(entry)
		if (!Number.isInteger(pid)) continue
		try {
			const ppid = Number(statFields(pid)[1])
			children.set(ppid, [...(children.get(ppid) ?? []), pid])
		} catch {
			// Gone between the listing and the read.
		}
	}
	const tree = [root]
	for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []))
	return tree
}

/**
 * CPU of a process and all its descendants, in microseconds: what a forking server such as
 * Postgres (one process per connection) costs. Children that have exited and been waited for are
 * in their parent's cutime and cstime, so the total only grows.
 */
export function treeMicros(root: number): number {
	let total = 0
	for (const pid of processTree(root))
		try {
			const [utime, stime, cutime, cstime] = statFields(pid).slice(11, 15).map(Number)
			total += (utime + stime + cutime + cstime) * TICK_US
		} catch {
			// Exited since the listing: its CPU is in its parent's cutime now.
		}
	return total
}

/** Resident set size in KiB, from VmRSS. */
export function rssKiB(pid: number | 'self'): number {
	const status = readFileSync(`/proc/${pid}/status`, 'utf8')
	const match = /VmRSS:\s+(\d+) kB/.exec(status)
	return match ? Number(match[1]) : Number.NaN
}

/** Summed VmRSS of several processes, in KiB. */
export const rssKiBOf = (pids: number[]) => pids.reduce((kib, pid) => kib + rssKiB(pid), 0)

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
	/** Summed over every server instance. */
	server: number
	/** The database server's process tree; 0 for an embedded store. */
	database: number
	self: number
	machine: { busy: number; steal: number }
}

/** `serverPid` is one server or the instances of a cluster; `databasePid` a Postgres postmaster. */
export const snapshot = (serverPid: number | number[], databasePid?: number): CpuSnapshot => ({
	at: now(),
	server: cpuMicrosOf([serverPid].flat()),
	database: databasePid === undefined ? 0 : treeMicros(databasePid),
	self: cpuMicros('self'),
	machine: machineMicros(),
})

export interface CpuShares {
	seconds: number
	serverUs: number
	databaseUs: number
	/** Percent of one core. */
	serverPct: number
	databasePct: number
	clientPct: number
	otherPct: number
	stealPct: number
}

export function shares(a: CpuSnapshot, b: CpuSnapshot): CpuShares {
	const seconds = (b.at - a.at) / 1000
	const pct = (us: number) => us / 1e4 / seconds
	const serverUs = b.server - a.server
	const databaseUs = b.database - a.database
	const selfUs = b.self - a.self
	return {
		seconds,
		serverUs,
		databaseUs,
		serverPct: pct(serverUs),
		databasePct: pct(databaseUs),
		clientPct: pct(selfUs),
		otherPct: pct(b.machine.busy - a.machine.busy - serverUs - databaseUs - selfUs),
		stealPct: pct(b.machine.steal - a.machine.steal),
	}
}
