import { statSync } from 'node:fs'
import { rename, rm, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { authHeaders, endpoint } from '../../client/src/http.ts'
import { CortexRequestError } from '../../client/src/index.ts'
import { ConfigError, UsageError } from '../config.ts'
import { CLIENT_FLAGS, type CliSettings, clientArgs, fail } from './client-args.ts'

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
	let settings: CliSettings | undefined
	try {
		const parsed = clientArgs(args, env)
		settings = parsed.settings
		const [file, ...extra] = parsed.positional
		if (!file || extra.length > 0) throw new UsageError('usage: cortex-stream backup <file>')
		// Said before the server copies what may be gigabytes, not after.
		checkWritableTarget(file)
		const res = await settings.fetch(endpoint(settings, '/api/admin/backup'), {
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
		return fail(error, { command: 'backup', settings })
	}
}

function checkWritableTarget(file: string) {
	const directory = dirname(resolve(file))
	let isDirectory: boolean
	try {
		isDirectory = statSync(directory).isDirectory()
	} catch (error) {
		const code = (error as { code?: string }).code
		if (code === 'ENOENT' || code === 'ENOTDIR')
			throw new ConfigError(`the directory ${directory} does not exist; create it first`)
		throw new ConfigError(`cannot use the directory ${directory}: ${(error as Error).message}`)
	}
	if (!isDirectory) throw new ConfigError(`${directory} is not a directory`)
	if (statSync(file, { throwIfNoEntry: false })?.isDirectory())
		throw new ConfigError(`${file} is a directory; give the backup a file name in it`)
}
