import { describe, expect, it } from 'bun:test'
import {
	IdempotencyConflictError,
	InsufficientStorageError,
	StoreUnavailableError,
	StreamEndedError,
} from '../../src/errors.ts'
import {
	createGroupCommit,
	type GroupWriter,
	type Pending,
	replay,
} from '../../src/store/group-commit.ts'
import { createHealth, HEALTHY } from '../../src/store/health.ts'

const ev = (n: number) => [{ event: 'progress', data: `{"n":${n}}` }]

/** A writer that records its groups and answers each append with the ids it is told. */
function recorder(answer: (req: Pending, i: number) => number[] | Error = () => [1]) {
	const groups: string[][] = []
	let release: () => void = () => {}
	let hold: Promise<void> | undefined
	const write: GroupWriter = async (batch) => {
		groups.push(batch.map((r) => r.events[0].data))
		if (hold) await hold
		return batch.map((req, i) => {
			const a = answer(req, i)
			return a instanceof Error ? { error: a } : { result: { ids: a, replayed: false } }
		})
	}
	return {
		write,
		groups,
		/** Makes the next writes wait until `go` is called. */
		pause() {
			hold = new Promise((resolve) => {
				release = () => {
					hold = undefined
					resolve()
				}
			})
			return () => release()
		},
	}
}

const health = () => createHealth(async () => HEALTHY)

describe('group commit', () => {
	it('puts the appends of one turn in one group, and those that come during a write in the next', async () => {
		const writer = recorder()
		const commits = createGroupCommit(writer.write, health())
		const go = writer.pause()
		const first = [commits.append('a', ev(1)), commits.append('b', ev(2))]
		await Bun.sleep(5)
		// The first group is being written: these wait, and then go together.
		const second = [
			commits.append('a', ev(3)),
			commits.append('c', ev(4)),
			commits.append('a', ev(5)),
		]
		await Bun.sleep(5)
		expect(writer.groups).toEqual([['{"n":1}', '{"n":2}']])
		go()
		await Promise.all([...first, ...second])
		expect(writer.groups).toEqual([
			['{"n":1}', '{"n":2}'],
			['{"n":3}', '{"n":4}', '{"n":5}'],
		])
	})

	it('gives each append its own outcome: a refusal fails its own append only', async () => {
		const writer = recorder((req, i) =>
			req.stream === 'bad' ? new StreamEndedError('ended') : [i + 1],
		)
		const commits = createGroupCommit(writer.write, health())
		const [a, bad, b] = await Promise.allSettled([
			commits.append('a', ev(1)),
			commits.append('bad', ev(2)),
			commits.append('b', ev(3)),
		])
		expect(a).toEqual({ status: 'fulfilled', value: { ids: [1], replayed: false } })
		expect(bad.status === 'rejected' && bad.reason).toBeInstanceOf(StreamEndedError)
		expect(b).toEqual({ status: 'fulfilled', value: { ids: [3], replayed: false } })
	})

	it('fails every append of a group that could not be written, 507 for no room, 503 else, and goes on', async () => {
		let failWith: Error | undefined = Object.assign(new Error('database or disk is full'), {
			name: 'SQLiteError',
			code: 'SQLITE_FULL',
		})
		const h = health()
		const commits = createGroupCommit(async (batch) => {
			if (failWith) throw failWith
			return batch.map(() => ({ result: { ids: [7], replayed: false } }))
		}, h)
		const full = await Promise.allSettled([commits.append('a', ev(1)), commits.append('b', ev(2))])
		for (const r of full)
			expect(r.status === 'rejected' && r.reason).toBeInstanceOf(InsufficientStorageError)
		expect(await h.current()).toMatchObject({ ok: false, code: 'storage_full' })
		failWith = Object.assign(new Error('Connection closed'), {
			code: 'ERR_POSTGRES_CONNECTION_CLOSED',
		})
		const away = await commits.append('a', ev(3)).catch((e) => e)
		expect(away).toBeInstanceOf(StoreUnavailableError)
		expect(await h.current()).toMatchObject({ ok: false, code: 'store_unavailable' })
		failWith = undefined
		expect(await commits.append('a', ev(4))).toEqual({ ids: [7], replayed: false })
		expect(await h.current()).toEqual({ ok: true })
	})

	it('writes what is queued before it closes, and refuses what comes after', async () => {
		const writer = recorder()
		const commits = createGroupCommit(writer.write, health())
		const queued = commits.append('a', ev(1))
		await commits.close()
		expect(await queued).toEqual({ ids: [1], replayed: false })
		expect(await commits.append('a', ev(2)).catch((e) => e)).toBeInstanceOf(StoreUnavailableError)
	})
})

describe('an Idempotency-Key seen before', () => {
	it('gets the first answer again for the same body, and 422 for another', () => {
		const hit = { fingerprint: 'f', firstId: 7, count: 3 }
		expect(replay({ key: 'k', fingerprint: 'f' }, hit)).toEqual({ ids: [7, 8, 9], replayed: true })
		expect(() => replay({ key: 'k', fingerprint: 'g' }, hit)).toThrow(IdempotencyConflictError)
	})
})
