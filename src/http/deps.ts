import type { Guard } from '../auth/guard.ts'
import type { Tickets } from '../auth/tickets.ts'
import type { Config } from '../config.ts'
import { BadRequestError } from '../errors.ts'
import { isValidName, type StreamKind, streamName } from '../events.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { Store } from '../store/store.ts'
import type { Hub } from '../streams/hub.ts'
import type { Retention } from '../streams/retention.ts'
import type { Snapshots } from '../streams/snapshots.ts'
import type { Limits } from './limits.ts'

/** What the routes are built from; `createApp` receives it whole. */
export interface AppDeps {
	config: Config
	store: Store
	hub: Hub
	guard: Guard
	limits: Limits
	tickets: Tickets
	snapshots: Snapshots
	retention: Retention
	metrics: Metrics
	log: Logger
}

/** The stream a route's `:name` or `:id` names; the router has percent-decoded it once. */
export function streamOf(kind: StreamKind, name: string): string {
	if (!isValidName(name))
		throw new BadRequestError(
			`the ${kind === 'agents' ? 'agent name' : 'workflow id'} must be 1-128 characters of A-Z a-z 0-9 . _ : - and not . or ..`,
		)
	return streamName(kind, name)
}
