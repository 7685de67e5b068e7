import { ConfigError, loadConfig, SETTINGS } from '../config.ts'
import { createLogger } from '../log.ts'
import { startServer } from '../serve.ts'

export const SERVE_HELP = `Usage: cortex-stream serve [flags]

Each setting is a flag or an environment variable; the flag wins.

  flag                    variable              meaning
${SETTINGS.map((s) => {
	const flag = `  --${s.flag} <value>`.padEnd(26)
	return `${flag}${s.env.padEnd(22)}${s.help}${s.default ? ` (default ${s.default})` : ''}`
}).join('\n')}
  --no-auth                                     serve without authentication (local development only)
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
		console.error(`cortex-stream: ${error.message}`)
		return 2
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
