import { Publisher } from '../../client/src/index.ts'
import { ConfigError } from '../config.ts'
import { isValidName } from '../events.ts'
import { CLIENT_FLAGS, clientArgs, fail } from './client-args.ts'

export const RUN_HELP = `Usage: cortex-stream run --agent NAME -- <command> [args]

Runs a command as one execution of agent NAME. Every line it prints is published, in order,
as a progress message (batched, never dropped); a line "::progress 0.4 Writing code" sets the
progress too. Exit 0 publishes complete with the duration; any other exit publishes failed
with the exit code (or signal) as a string. The command's output still reaches this terminal,
SIGINT and SIGTERM are passed on to it, and run exits with its exit code.

${CLIENT_FLAGS}
  --agent NAME      the agent stream to publish to
`

const PROGRESS_LINE = /^::progress\s+([0-9]*\.?[0-9]+)\s*(.*)$/

/** `cortex-stream run`. */
export async function runCommand(
	args: string[],
	env: Record<string, string | undefined>,
): Promise<number> {
	let publisher: Publisher
	let command: string[]
	try {
		const dash = args.indexOf('--')
		if (dash < 0) throw new ConfigError('usage: cortex-stream run --agent NAME -- <command> [args]')
		const { positional, settings, flags } = clientArgs(args.slice(0, dash), env, ['agent'])
		command = args.slice(dash + 1)
		const agent = flags.agent
		if (typeof agent !== 'string' || !isValidName(agent))
			throw new ConfigError('--agent NAME is required: 1-128 of A-Z a-z 0-9 . _ : -')
		if (positional.length > 0 || command.length === 0)
			throw new ConfigError('usage: cortex-stream run --agent NAME -- <command> [args]')
		publisher = new Publisher(`agents/${agent}`, settings)
	} catch (error) {
		return fail(error)
	}

	const started = Date.now()
	let child: ReturnType<typeof Bun.spawn>
	try {
		child = Bun.spawn(command, { stdin: 'inherit', stdout: 'pipe', stderr: 'pipe' })
	} catch (error) {
		publisher.send('failed', {
			message: `could not start ${command[0]}: ${(error as Error).message}`,
			code: 'ENOENT',
		})
		await publisher.close().catch(() => {})
		return fail(error)
	}
	const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
	const onInt = forward('SIGINT')
	const onTerm = forward('SIGTERM')
	process.on('SIGINT', onInt)
	process.on('SIGTERM', onTerm)

	const report = (line: string) => {
		const match = PROGRESS_LINE.exec(line)
		if (match && Number(match[1]) <= 1)
			publisher.send('progress', {
				progress: Number(match[1]),
				...(match[2] && { message: match[2] }),
			})
		else publisher.send('progress', { message: line })
	}
	// Lines of stdout and stderr interleave in the order they are read.
	const pump = async (from: ReadableStream<Uint8Array>, to: NodeJS.WriteStream) => {
		const decoder = new TextDecoder()
		let partial = ''
		for await (const chunk of from) {
			to.write(chunk)
			partial += decoder.decode(chunk, { stream: true })
			const lines = partial.split(/\r?\n/)
			partial = lines.pop() ?? ''
			for (const line of lines) report(line)
		}
		if (partial !== '') report(partial)
	}
	await Promise.all([
		pump(child.stdout as ReadableStream<Uint8Array>, process.stdout),
		pump(child.stderr as ReadableStream<Uint8Array>, process.stderr),
	])
	const code = await child.exited
	process.off('SIGINT', onInt)
	process.off('SIGTERM', onTerm)
	const signal = child.signalCode
	const duration = Date.now() - started
	if (code === 0) publisher.send('complete', { duration })
	else
		publisher.send('failed', {
			message: signal
				? `${command[0]} was killed by ${signal}`
				: `${command[0]} exited with code ${code}`,
			code: String(signal ?? code),
			duration,
		})
	try {
		await publisher.close()
	} catch (error) {
		fail(error)
	}
	return signal ? 128 + (signalNumber[signal] ?? 0) : code
}

const signalNumber: Record<string, number> = {
	SIGHUP: 1,
	SIGINT: 2,
	SIGQUIT: 3,
	SIGKILL: 9,
	SIGTERM: 15,
}
