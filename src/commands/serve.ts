import { ConfigError, loadConfig, SETTINGS } from '../config.ts'
import { createLogger } from '../log.ts'
import { startServer } from '../serve.ts'
import { fail, table } from './client-args.ts'

export const SERVE_HELP = `Usage: cortex-stream serve [flags]

Each setting is a flag or an environment variable; the flag wins. Every flag but --no-auth
takes a value: --port 8080 or --port=8080.

${table([
	['flag', 'variable', 'meaning'],
	...SETTINGS.map((s) => [
		`--${s.flag}`,
		s.env,
		`${s.help}${s.default ? ` (default ${s.default})` : ''}`,
	]),
	['--no-auth', '', 'serve without authentication (local development only)'],
])}
`

/** `cortex-stream serve`: runs until SIGTERM or SIGINT, then resolves to the exit code. */
export async function serveCommand(
	args: string[],
	env: Record<string, string | undefined>,
): Promise<number> {
	let config: ReturnType<typeof loadConfig>
	try {
		config = loadConfig(args, env)
	} catch (error) {
		if (!(error instanceof ConfigError)) throw error
		return fail(error, { command: 'serve' })
	}
	const log = createLogger(undefined, { debug: config.logLevel === 'debug' })
	let server: Awaited<ReturnType<typeof startServer>>
	try {
		server = await startServer(config, log)
	} catch (error) {
		console.error(`cortex-stream: cannot start: ${(error as Error).message}`)
		return 1
	}
	return new Promise<number>((resolve) => {
		const shutdown = (signal: string) => {
			log.info('shutting down', { signal })
			server.stop().then(
				() => resolve(0),
				(error) => {
					log.error('shutdown failed', { error: String(error) })
					log.flush()
					resolve(1)
				},
			)
		}
		process.once('SIGTERM', () => shutdown('SIGTERM'))
		process.once('SIGINT', () => shutdown('SIGINT'))
		process.on('SIGHUP', () => {
			try {
				log.info('tokens reloaded', { ...server.reloadTokens() })
			} catch (error) {
				// A mistake in the file leaves the tokens in force as they were.
				log.error('tokens file not reloaded; the tokens in force stay', {
					error: (error as Error).message,
				})
			}
		})
	})
}
