import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Elysia } from 'elysia'
import type { Grant } from '../auth/tokens.ts'
import { ForbiddenError } from '../errors.ts'
import type { AppDeps } from './deps.ts'
import { json } from './respond.ts'

/** `/api/admin/*`: pruning now, and an online backup. Admin tokens only. */
export function adminRoutes({ config, guard, retention, store }: AppDeps) {
	const admin = (request: Request): Grant => {
		const grant = guard.authenticate({ authorization: request.headers.get('authorization') })
		if (!grant.scopes.has('admin')) throw new ForbiddenError('this needs the "admin" scope')
		return grant
	}
	return new Elysia({ name: 'admin' })
		.post(
			'/api/admin/prune',
			async ({ request }) => {
				admin(request)
				return json(200, await retention.prune())
			},
			{ parse: 'none' },
		)
		.post(
			'/api/admin/backup',
			async ({ request }) => {
				admin(request)
				// A consistent copy beside the database (same disk, no cross-device move), sent whole.
				const copy = join(dirname(config.db), `.backup-${randomUUID()}.db`)
				try {
					await store.backup(copy)
					const bytes = await Bun.file(copy).bytes()
					return new Response(bytes, {
						headers: {
							'content-type': 'application/vnd.sqlite3',
							'content-disposition': 'attachment; filename="cortex-stream.db"',
						},
					})
				} finally {
					await rm(copy, { force: true })
				}
			},
			{ parse: 'none' },
		)
}
