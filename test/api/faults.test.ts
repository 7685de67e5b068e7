import { describe, expect, it } from 'bun:test'
import { auth, eventually, onPostgres, openStream, publish, startServer } from '../helpers.ts'

const blob = 'x'.repeat(8_000)

describe('a full store', () => {
	it.skipIf(onPostgres)(
		'answers 507 and appends nothing, keeps serving reads, and publishes again once space is freed',
		async () => {
			await using server = await startServer({
				args: ['--max-db-bytes', String(256 * 1024), '--retention', '1s'],
			})
			const old = await publish(server, 'workflows/w-old', [
				...Array.from({ length: 12 }, (_, i) => ({
					event: 'step_progress',
					data: { stepId: 's', message: `${i}${blob}` },
				})),
				{ event: 'complete' },
			])
			expect(old.status).toBe(201)
			let full: Awaited<ReturnType<typeof publish>> | undefined
			let stored = 0
			for (let i = 0; i < 200 && !full; i++) {
				const res = await publish(server, 'agents/filler', {
					event: 'progress',
					data: { message: `${i}${blob}` },
				})
				if (res.status === 201) stored = res.body.ids[0]
				else full = res
			}
			expect(full?.status).toBe(507)
			expect(full?.body.error.code).toBe('storage_full')
			// A probe that says ok while every publish is 507 would send publishers here in vain.
			const health = await fetch(`${server.url}/healthz`)
			expect(health.status).toBe(503)
			expect(health.headers.get('retry-after')).toBe('5')
			expect((await health.json()).error.code).toBe('storage_full')
			// Still so once its own probe has had a turn: it needs a page, as a publish does.
			await Bun.sleep(1_100)
			expect((await fetch(`${server.url}/healthz`)).status).toBe(503)
			const snapshot = await (
				await fetch(`${server.url}/api/agents/filler`, { headers: auth() })
			).json()
			expect(snapshot.lastEventId).toBe(stored)

			// Reads and streams go on.
			await using s = await openStream(server, 'agents/filler', {
				'last-event-id': String(stored - 1),
			})
			await s.until((x) => x.events().length === 1)
			expect(s.events()[0].id).toBe(String(stored))

			// Retention frees the old run's pages; publishing works again, with the next id.
			await Bun.sleep(1_200)
			await fetch(`${server.url}/api/admin/prune`, { method: 'POST', headers: auth() })
			await eventually(
				async () => (await fetch(`${server.url}/healthz`)).status === 200,
				5_000,
				'/healthz to see the room retention made',
			)
			const again = await publish(server, 'agents/filler', {
				event: 'progress',
				data: { message: blob },
			})
			expect(again).toMatchObject({ status: 201, body: { ids: [stored + 1] } })
			await s.until((x) => x.events().length === 2)
		},
		30_000,
	)
})
