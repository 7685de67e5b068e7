import { type ClientSettings, ConfigError, loadClientSettings, parseFlags } from '../config.ts'

export const CLIENT_FLAGS = `  --url <url>       server URL, or CORTEX_URL (default http://127.0.0.1:8787)
  --token <token>   bearer token, or CORTEX_TOKEN`

/** The positional arguments and client settings of publish, tail and run; throws ConfigError. */
export function clientArgs(
	args: string[],
	env: Record<string, string | undefined>,
	extraFlags: readonly string[] = [],
): { positional: string[]; settings: ClientSettings; flags: Record<string, string | true> } {
	const { flags, positional } = parseFlags(args)
	for (const name of Object.keys(flags))
		if (!['url', 'token', ...extraFlags].includes(name))
			throw new ConfigError(`unknown flag --${name} (see --help)`)
	return { positional, settings: loadClientSettings(flags, env), flags }
}

/** Prints a failure in one line and gives the exit code for it. */
export function fail(error: unknown): number {
	if (error instanceof ConfigError) {
		console.error(`cortex-stream: ${error.message}`)
		return 2
	}
	const e = error as { message?: string; field?: string }
	console.error(`cortex-stream: ${e.message ?? String(error)}${e.field ? ` (at ${e.field})` : ''}`)
	return 1
}
