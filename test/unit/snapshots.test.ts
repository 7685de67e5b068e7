import { describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { openSqliteStore } from '../../src/store/sqlite/index.ts'
import type { StreamState } from '../../src/store/store.ts'
import { createSnapshots } from '../../src/streams/snapshots.ts'
import { tempDir } from '../helpers.ts'

describe('snapshots', () => {
	it("give a kept snapshot from before updatedAt the time of the stream's last event", async () => {
		using dir = tempDir()
		const store = openSqliteStore(join(dir.path, 'cortex.db'))
		try {
			await store.append('agents/old', [
				{ event: 'progress', data: '{}' },
				{ event: 'complete', data: '{"result":"ok"}' },
			])
			// What retention kept before snapshots had updatedAt.
			const kept = {
				name: 'old',
				status: 'complete' as const,
				progress: 1,
				message: null,
				lastEventId: 2,
				execution: { startId: 1, startedAt: null, endedAt: null, result: 'ok' },
			}
			expect(await store.prune('agents/old', 2, JSON.stringify(kept))).toBe(2)
			const state = (await store.state('agents/old')) as StreamState
			const snapshot = await createSnapshots(store).one('agents', state)
			expect(snapshot).toEqual({ ...kept, updatedAt: new Date(state.updatedAt).toISOString() })
		} finally {
			await store.close()
		}
	})
})
