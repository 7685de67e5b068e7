import { rename, rm, writeFile } from 'node:fs/promises'
import { authHeaders, endpoint } from '../../client/src/http.ts'
import { CortexRequestError } from '../../client/src/index.ts'
import { ConfigError } from '../config.ts'
import { CLIENT_FLAGS, clientArgs, fail } from './client-args.ts'

export const BACKUP_HELP = `Usage: cortex-stream backup <file>

Asks a running server for an online, consistent copy of its database and writes it to <file>,
while the server goes on serving and taking events. Start a server on the copy
(cortex-stream serve --db <file>) to restore: every stream resumes where the copy ends.
Needs an admin token.

${CLIENT_FLAGS}
`

/** `cortex-stream backup`. */
export async function backupCommand(
	args: string[],
	env: Record<string, string | undefined>,
): Promise<number> {
	try {
		const { positional, settings } = clientArgs(args, env)
		const [file, ...extra] = positional
		if (!file || extra.length > 0)
			throw new ConfigError('usage: cortex-stream backup <file> (see --help)')
		const res = await fetch(endpoint(settings, '/api/admin/backup'), {
			method: 'POST',
			headers: authHeaders(settings),
		})
		if (!res.ok) throw await CortexRequestError.from(res)
		// Written beside the target and renamed, so <file> is never half a database.
		const partial = `${file}.partial`
		try {
			await writeFile(partial, new Uint8Array(await res.arrayBuffer()))
			await rename(partial, file)
		} finally {
			await rm(partial, { force: true })
		}
		console.log(JSON.stringify({ file, bytes: Bun.file(file).size }))
		return 0
	} catch (error) {
		return fail(error)
	}
}
