/** Plain-text tables and target checks for the terminal; the JSON summary is written by run.ts. */

export type Cell = string | number

export function fmt(value: number, digits?: number): string {
	if (!Number.isFinite(value)) return '-'
	const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2)
	return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
}

export const ratio = (value: number, floor: number) =>
	Number.isFinite(value) && Number.isFinite(floor) && floor !== 0 ? value / floor : Number.NaN

export const fmtRatio = (value: number) => (Number.isFinite(value) ? `${fmt(value, 2)}x` : '-')

export function table(title: string, header: string[], rows: Cell[][]): string {
	const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))]
	const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
	const line = (r: string[]) =>
		r
			.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
			.join('  ')
			.trimEnd()
	const rule = widths.map((w) => '-'.repeat(w)).join('  ')
	return [`\n${title}`, line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n')
}

export interface Check {
	target: string
	measured: string
	pass: boolean
	/** Why the figure may not be trusted, e.g. the load generator saturated its core. */
	note?: string
}

export function checksTable(title: string, checks: Check[]): string {
	return table(
		title,
		['target', 'measured', 'result', 'note'],
		checks.map((c) => [c.target, c.measured, c.pass ? 'PASS' : 'FAIL', c.note ?? '']),
	)
}

/** A load generator above this share of its core adds its own queueing to every latency. */
export const CLIENT_SATURATED_PCT = 90

export const clientNote = (pct: number) =>
	pct >= CLIENT_SATURATED_PCT ? `load generator at ${fmt(pct, 0)}% CPU: client-bound` : undefined

/** What every scenario hands back to run.ts. */
export interface ScenarioOutput {
	text: string
	checks: Check[]
	data: unknown
}

export interface ScenarioContext {
	/** Scratch space for databases and server logs; removed at the end. */
	dir: string
	/** Set to write a CPU profile of each cortex-stream server there. */
	profileDir?: string
	/** `compare`: the git revision to measure against (`--against=<ref>`). */
	against?: string
	/** `compare`: how many alternating pairs to run (`--pairs=<n>`). */
	pairs?: number
	/** `compare`: which loads, `ingest` (the default) or `fanout` (`--load=<name>`). */
	load?: string
}

/** Other processes or the hypervisor took enough CPU to disturb the figures. */
export function machineNote(otherPct: number, stealPct: number) {
	const notes: string[] = []
	if (otherPct >= 15) notes.push(`other CPU ${fmt(otherPct, 0)}%`)
	if (stealPct >= 5) notes.push(`steal ${fmt(stealPct, 0)}%`)
	return notes.length > 0 ? `${notes.join(', ')}: machine busy` : undefined
}

export const joinNotes = (...notes: (string | undefined)[]) =>
	notes.filter(Boolean).join('; ') || undefined
