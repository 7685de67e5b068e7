// What the page knows of each run: its fold (the server's own, client/src/runs.ts, so a run
// looks the same here as in a snapshot; its `updatedAt` is when the last event was stored, or
// for the feed's events when it arrived), and a pending cancel request.
// Snapshots and feed events both land here; an event the page already has (by id) is skipped.

import { emptyFold, type Fold, foldEvent, foldOf } from '../../client/src/runs.ts'
import type { Snapshot } from './api.ts'
import { msOf } from './format.ts'

export interface Run {
	fold: Fold
	/** The id of a `cancel_requested` in the execution going on, until it ends. */
	cancelRequested: number | null
}

/** Every run the page has seen, by stream. */
export const runs = new Map<string, Run>()

export const isAgent = (stream: string) => stream.startsWith('agents/')
/** The name or id: `agents/writer` is `writer`. */
export const nameOf = (stream: string) => stream.slice(stream.indexOf('/') + 1)

export function streamOf(snapshot: Snapshot): string {
	return 'name' in snapshot ? `agents/${snapshot.name}` : `workflows/${snapshot.id}`
}

/** Takes a snapshot, unless the page already has the stream as far or further. */
export function adopt(snapshot: Snapshot): Run {
	const stream = streamOf(snapshot)
	const known = runs.get(stream)
	if (known && known.fold.lastId >= snapshot.lastEventId) {
		// The same event: the store's time for it rather than the time it arrived.
		if (known.fold.lastId === snapshot.lastEventId)
			known.fold.updatedAt = msOf(snapshot.updatedAt) ?? known.fold.updatedAt
		return known
	}
	const fold = foldOf(snapshot)
	const run: Run = {
		fold,
		cancelRequested:
			known && known.fold.start === fold.start && fold.status === 'running'
				? known.cancelRequested
				: null,
	}
	runs.set(stream, run)
	return run
}

/** What an event did to the page's runs. */
export interface Applied {
	run: Run
	/** The stream was not known before: the run is new, or a page never showed it. */
	added: boolean
	/** Its status changed, or a new execution began: the lists' counts moved. */
	statusChanged: boolean
}

/**
 * Folds a feed event into its run, once. An event of a stream the page has never seen folds
 * into a new run only when it is the stream's first (id 1); otherwise the page cannot know the
 * run's state from it, and undefined asks for the stream's snapshot instead.
 */
export function applyEvent(
	stream: string,
	id: number,
	event: string,
	data: Record<string, unknown>,
	at: number,
): Applied | undefined | null {
	const known = runs.get(stream)
	if (known && id <= known.fold.lastId) return null
	if (!known && id !== 1) return undefined
	const run = known ?? { fold: emptyFold(stream, id), cancelRequested: null }
	const before = run.fold
	const status = before.status
	run.fold = foldEvent(before, id, event, data, at)
	if (run.fold !== before || run.fold.status !== 'running') run.cancelRequested = null
	if (event === 'cancel_requested') run.cancelRequested = id
	if (!known) runs.set(stream, run)
	return {
		run,
		added: !known,
		statusChanged: !known || run.fold.status !== status || run.fold !== before,
	}
}
