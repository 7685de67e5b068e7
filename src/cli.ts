import pkg from '../package.json' with { type: 'json' }
import { BACKUP_HELP, backupCommand } from './commands/backup.ts'
import { table } from './commands/client-args.ts'
import { PUBLISH_HELP, publishCommand } from './commands/publish.ts'
import { RUN_HELP, runCommand } from './commands/run.ts'
import { SERVE_HELP, serveCommand } from './commands/serve.ts'
import { TAIL_HELP, tailCommand } from './commands/tail.ts'

export const VERSION: string = pkg.version

const USAGE = `cortex-stream ${VERSION}: durable, resumable SSE progress streams for agents and workflows

Usage:
${table([
	['cortex-stream serve [flags]', 'run the server'],
	[
		'cortex-stream publish <stream> <event> [json]',
		'publish one event (- reads NDJSON from stdin)',
	],
	['cortex-stream tail <stream>', 'follow a stream until its run ends'],
	['cortex-stream run --agent NAME -- <command> [args]', 'run a command as one agent execution'],
	['cortex-stream backup <file>', "an online copy of a running server's database"],
	['cortex-stream --version', 'print the version'],
])}

<stream> is agents/NAME or workflows/ID. "cortex-stream <command> --help" tells more; every
command takes --version too.
`

type Command = (args: string[], env: Record<string, string | undefined>) => Promise<number>

const COMMANDS: Record<string, { run: Command; help: string }> = {
	serve: { run: serveCommand, help: SERVE_HELP },
	publish: { run: publishCommand, help: PUBLISH_HELP },
	tail: { run: tailCommand, help: TAIL_HELP },
	run: { run: runCommand, help: RUN_HELP },
	backup: { run: backupCommand, help: BACKUP_HELP },
}

/** Runs one command and resolves to the process exit code (`serve` only at shutdown). */
export async function run(
	argv: string[],
	env: Record<string, string | undefined>,
): Promise<number> {
	const [name, ...rest] = argv
	if (name === '--version' || name === '-v') {
		console.log(VERSION)
		return 0
	}
	if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
		console.log(USAGE)
		return name === undefined ? 2 : 0
	}
	const command = COMMANDS[name]
	if (!command) {
		console.error(`cortex-stream: unknown command "${name}"\n\n${USAGE}`)
		return 2
	}
	// For `run`, flags after `--` belong to the wrapped command.
	const own = name === 'run' && rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest
	if (own.includes('--help') || own.includes('-h')) {
		console.log(command.help)
		return 0
	}
	if (own.includes('--version') || own.includes('-v')) {
		console.log(VERSION)
		return 0
	}
	return command.run(rest, env)
}
