import type { StreamKind } from '../events.ts'
import type { RunStatus, StatusCounts } from './store.ts'

/** What the lists of both engines share. */

export const RUN_STATUSES: readonly RunStatus[] = ['running', 'complete', 'failed', 'cancelled']

export const noCounts = (): StatusCounts => ({ running: 0, complete: 0, failed: 0, cancelled: 0 })

/** Whether `patterns` take every stream of `kind`, so that nothing need ask them. */
export const takesAll = (kind: StreamKind, patterns: readonly string[]) =>
	patterns.some((p) => p === '*' || p === `${kind}/*`)

/** The string right after every string that starts with `prefix`, in byte order. */
export const pastPrefix = (prefix: string) =>
	prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
