// How the page writes times, durations and fractions.

const pad = (n: number, width = 2) => String(n).padStart(width, '0')

/**
 * A duration for people: `0.4s` and `4.2s` under ten seconds, then `42s`, `3m 05s`, `2h 03m`,
 * `3d 04h`.
 */
export function duration(ms: number): string {
	const t = Math.max(0, ms)
	if (t < 10_000) return `${(t / 1000).toFixed(1)}s`
	const s = Math.floor(t / 1000)
	if (s < 60) return `${s}s`
	if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`
	if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`
	return `${Math.floor(s / 86_400)}d ${pad(Math.floor((s % 86_400) / 3600))}h`
}

/** How long ago `ms` (Unix milliseconds) was, coarsely: `just now`, `42s ago`, `16m ago`. */
export function ago(ms: number, now = Date.now()): string {
	const s = Math.floor((now - ms) / 1000)
	if (s < 2) return 'just now'
	if (s < 60) return `${s}s ago`
	if (s < 3600) return `${Math.floor(s / 60)}m ago`
	if (s < 86_400) return `${Math.floor(s / 3600)}h ago`
	return `${Math.floor(s / 86_400)}d ago`
}

/** The local time of day to the millisecond, `14:03:27.481`: a log line's time. */
export function clock(ms: number): string {
	const d = new Date(ms)
	return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

/** A local date and time to the second, `2026-12-07 14:03:27`, for when a run started or ended. */
export function dateTime(ms: number): string {
	const d = new Date(ms)
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

/** The full ISO time, for a `title` or a `<time datetime>`. */
export const iso = (ms: number) => new Date(ms).toISOString()

/** A fraction from 0 to 1 as a whole percentage, `37 %` being shown as `37%`. */
export const percent = (fraction: number) =>
	`${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`

/** Milliseconds from an ISO time, null for null or a string that is not one. */
export function msOf(time: string | null | undefined): number | null {
	if (!time) return null
	const ms = Date.parse(time)
	return Number.isNaN(ms) ? null : ms
}
