import pkg from '../package.json' with { type: 'json' }
import { ConfigError, loadConfig, SETTINGS } from './config.ts'
import { createLogger } from './log.ts'
import { startServer } from './serve.ts'

export const VERSION: string = pkg.version

const USAGE = `cortex-stream ${VERSION}: durable, resumable SSE progress streams for agents and workflows

Usage:
  cortex-stream serve [flags]     run the server
  cortex-stream --version         print the version
  cortex-stream --help            this help

Run "cortex-stream serve --help" for the server's settings.
`

function serveHelp() {
	const rows = SETTINGS.map((s) => {
		const flag = `  --${s.flag} <value>`.padEnd(26)
		return `${flag}${s.env.padEnd(22)}${s.help}${s.default ? ` (default ${s.default})` : ''}`
	})
	return `Usage: cortex-stream serve [flags]

Each setting is a flag or an environment variable; the flag wins.

  flag                    variable              meaning
${rows.join('\n')}
  --no-auth                                     serve without authentication (local development only)
`
}

/** Runs one command; resolves to the process exit code, or never for `serve`. */
export async function run(
	argv: string[],
	env: Record<string, string | undefined>,
): Promise<number> {
	const [command, ...rest] = argv
	if (command === '--version' || command === '-v') {
		console.log(VERSION)
		return 0
	}
	if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
		console.log(USAGE)
		return command === undefined ? 2 : 0
	}
	if (command !== 'serve') {
		console.error(`cortex-stream: unknown command "${command}"\n\n${USAGE}`)
		return 2
	}
	if (rest.includes('--help') || rest.includes('-h')) {
		console.log(serveHelp())
		return 0
	}
	const log = createLogger()
	let config: ReturnType<typeof loadConfig>
	try {
		config = loadConfig(rest, env)
	} catch (error) {
		if (!(error instanceof ConfigError)) throw error
		console.error(`cortex-stream: ${error.message}`)
		return 2
	}
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
	})
}
