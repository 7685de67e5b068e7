import { randomUUID } from 'node:crypto'
import { type FileHandle, open, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Elysia } from 'elysia'
import { authPlugin } from './auth.ts'
import type { AppDeps } from './deps.ts'
import { json } from './respond.ts'

/** `/api/admin/*`: pruning now, and an online backup. Admin tokens only. */
export function adminRoutes({ config, guard, retention, store }: AppDeps) {
	return new Elysia({ name: 'admin' })
		.use(authPlugin(guard))
		.post(
			'/api/admin/prune',
			async ({ request, server }) => {
				// A prune of many streams can take longer than the idle timeout of plain requests,
				// which would cut the answer off while the server is still working on it.
				server?.timeout(request, 0)
				return json(200, await retention.prune())
			},
			{ parse: 'none', auth: { scope: 'admin' } },
		)
		.post(
			'/api/admin/backup',
			async () => {
				// A consistent copy beside the database (same disk), sent from disk: the handle opened
				// before the unlink below keeps the copy readable, and the body closes it when done.
				const copy = join(dirname(config.db), `.backup-${randomUUID()}.db`)
				try {
					await store.backup(copy)
					return new Response(fileBody(await open(copy, 'r')), {
						headers: {
							'content-type': 'application/vnd.sqlite3',
							'content-disposition': 'attachment; filename="cortex-stream.db"',
						},
					})
				} finally {
					await rm(copy, { force: true })
				}
			},
			{ parse: 'none', auth: { scope: 'admin' } },
		)
}

const READ_BYTES = 1 << 20

/** An open file as a response body, read a MiB at a time as the client takes it, then closed. */
function fileBody(file: FileHandle): ReadableStream<Uint8Array> {
	let position = 0
	return new ReadableStream({
		async pull(controller) {
			try {
				const buffer = new Uint8Array(READ_BYTES)
				const { bytesRead } = await file.read(buffer, 0, READ_BYTES, position)
				if (bytesRead > 0) {
					position += bytesRead
					return controller.enqueue(buffer.subarray(0, bytesRead))
				}
				controller.close()
			} catch (error) {
				// A read failed: the client sees the body break off, and the CLI keeps no part of it.
				controller.error(error)
			}
			await file.close()
		},
		cancel: () => file.close(),
	})
}
