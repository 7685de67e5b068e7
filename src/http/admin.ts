import { Elysia } from 'elysia'
import { hasScope } from '../auth/tokens.ts'
import { ForbiddenError } from '../errors.ts'
import type { AppDeps } from './deps.ts'
import { json } from './respond.ts'

/** `POST /api/admin/prune`: apply `--retention` now (nothing to prune without it). */
export function adminRoutes({ guard, retention }: AppDeps) {
	return new Elysia({ name: 'admin' }).post(
		'/api/admin/prune',
		async ({ request }) => {
			const grant = guard.authenticate({ authorization: request.headers.get('authorization') })
			if (!hasScope(grant, 'admin') || !grant.scopes.has('admin'))
				throw new ForbiddenError('pruning needs the "admin" scope')
			return json(200, await retention.prune())
		},
		{ parse: 'none' },
	)
}
