import { Publisher } from '../../client/src/index.ts'
import { type ClientSettings, parseDuration, UsageError } from '../config.ts'
import { isValidName } from '../events.ts'
import { CLIENT_FLAG_ROWS, clientArgs, fail, shownUrl, table } from './client-args.ts'
import { watchForCancel } from './run/cancel.ts'
import { describe, flushOrSay } from './run/flush.ts'
import { GroupStopper, signalExitCode } from './run/group.ts'
import { readLine } from './run/lines.ts'
import { drain, pump } from './run/pump.ts'

export const RUN_HELP = `Usage: cortex-stream run --agent NAME [flags] -- <command> [args]

Runs a command as one execution of agent NAME, in a process group of its own. The execution
starts with "started <command>"; every line the command prints (on stdout or stderr; a "\\r"
ends a line too, and a line is at most 8192 characters) is then published, in order, as a
progress message; a line "::progress 0.4 Writing code" sets the progress (and the message).
Exit 0 publishes complete with the duration; any other exit publishes failed with the exit
code (or signal) as a string. The command's output still reaches this terminal, and run exits
with its exit code (127 if it could not be started).

SIGINT, SIGTERM or SIGHUP to run, or a cancel request on the stream (POST
/api/agents/NAME/cancel), sends that signal (SIGTERM for a request) to the command's whole
process group, SIGKILL after the grace period, and ends the execution with cancelled {reason};
run then exits 128 + the signal's number (130, 143, 129; 143 after a request). A second
signal kills the group at once.

While the server cannot be reached, events wait (at most 10,000 or 4 MiB of them; past that
the oldest progress messages are dropped, never the others) and are sent when it answers. At
the end run waits for the server as long as it takes events, and at most --flush-timeout
without an answer; then it says on stderr what it could not send.

${table([
	...CLIENT_FLAG_ROWS,
	['--agent NAME', 'the agent stream to publish to'],
	['--grace <time>', 'from the first signal to SIGKILL: 0, 5s, 2m (default 5s)'],
	['--flush-timeout <time>', 'at the end, the longest wait for an answer: 0, 5s (default 5s)'],
])}
`

/** Events that wait for a server that cannot be reached, at most; then progress is dropped. */
const MAX_QUEUED = 10_000
const MAX_QUEUED_BYTES = 4 << 20
/** After the command exited, its output is read until nothing came for this long... */
const QUIET_AFTER_EXIT_MS = 1_000
/** ...and for this long at most: processes it left behind may hold the pipes open. */
const DRAIN_LIMIT_MS = 10_000

interface RunArgs {
	stream: string
	command: string[]
	settings: ClientSettings
	graceMs: number
	flushMs: number
}

function runArgs(args: string[], env: Record<string, string | undefined>): RunArgs {
	const usage = 'usage: cortex-stream run --agent NAME -- <command> [args]'
	const dash = args.indexOf('--')
	if (dash < 0) throw new UsageError(usage)
	const extra = ['agent', 'grace', 'flush-timeout']
	const { positional, settings, flags } = clientArgs(args.slice(0, dash), env, extra)
	const command = args.slice(dash + 1)
	const agent = flags.agent
	if (typeof agent !== 'string' || !isValidName(agent))
		throw new UsageError('--agent NAME is required: 1-128 of A-Z a-z 0-9 . _ : -')
	if (positional.length > 0 || command.length === 0) throw new UsageError(usage)
	const time = (name: string) => {
		const value = String(flags[name] ?? '5s')
		return value === '0' ? 0 : parseDuration(`--${name}`, value)
	}
	const graceMs = time('grace')
	const flushMs = time('flush-timeout')
	return { stream: `agents/${agent}`, command, settings, graceMs, flushMs }
}

/** `cortex-stream run`. */
export async function runCommand(
	args: string[],
	env: Record<string, string | undefined>,
): Promise<number> {
	let options: RunArgs
	try {
		options = runArgs(args, env)
	} catch (error) {
		return fail(error, { command: 'run' })
	}
	const { stream, command, settings } = options
	const url = shownUrl(settings.url)
	const say = (text: string) => console.error(`cortex-stream run: ${text}`)

	// Aborted when run stops waiting for the server: the publisher retries until then.
	const giveUp = new AbortController()
	const watching = new AbortController()
	let stopper: GroupStopper | undefined
	let firstId: number | undefined
	let acknowledgedAt = Date.now()
	let outage = false
	let exited = false
	// A request that comes once the command has ended by itself changes nothing.
	const cancel = (reason: unknown) => {
		if (!exited)
			stopper?.stop(typeof reason === 'string' && reason ? reason : 'cancel requested', 'SIGTERM')
	}
	const publisher = new Publisher(stream, {
		...settings,
		retryForMs: Number.POSITIVE_INFINITY,
		maxQueued: MAX_QUEUED,
		maxQueuedBytes: MAX_QUEUED_BYTES,
		signal: giveUp.signal,
		onPublished(ids) {
			acknowledgedAt = Date.now()
			if (outage) say(`${url} answers again`)
			outage = false
			if (firstId !== undefined || ids.length === 0) return
			firstId = ids[0]
			watchForCancel(stream, settings, firstId, cancel, watching.signal)
		},
		onCancelRequested(request) {
			// One left in an execution that an earlier run never ended is not for this one.
			if (firstId !== undefined && request.id > firstId) cancel(request.reason)
		},
		onRetry(error) {
			if (!outage) say(`${describe(error, url)}; the events wait until it answers`)
			outage = true
		},
	})

	let child: ReturnType<typeof Bun.spawn>
	const started = Date.now()
	try {
		// detached: setsid(), so the command leads a process group (and session) of its own that
		// a signal can reach whole, grandchildren included.
		child = Bun.spawn(command, { stdin: 'inherit', stdout: 'pipe', stderr: 'pipe', detached: true })
	} catch (error) {
		publisher.send('failed', {
			message: `could not start ${command[0]}: ${(error as Error).message}`,
			code: String((error as { code?: unknown }).code ?? 'ENOENT'),
		})
		fail(error, { command: 'run', settings })
		await flushOrSay(publisher, url, options.flushMs, giveUp, () => acknowledgedAt)
		return 127
	}
	publisher.send('progress', { message: `started ${command[0]}` })
	// A refusal (a wrong token) would otherwise only show at the end.
	publisher.flush().catch((error) => {
		if (!giveUp.signal.aborted) say(`${describe(error, url)}; nothing more is published`)
	})
	const group = new GroupStopper(child.pid, options.graceMs)
	stopper = group
	const onSignal = (signal: NodeJS.Signals) => {
		if (exited) giveUp.abort(new Error(`interrupted by ${signal}`))
		else group.stop(signal, signal, true)
	}
	const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
	for (const signal of signals) process.on(signal, onSignal)

	const report = (line: string) => {
		const read = readLine(line)
		if ('warning' in read && read.warning) say(read.warning)
		publisher.send('progress', 'progress' in read ? read : { message: read.message })
	}
	// While the server takes events, a command that prints faster than it does is made to wait
	// (its writes block on the full pipe) rather than have its lines dropped; only while the
	// server cannot take them do they pile up, to the publisher's bound.
	const backedUp = () =>
		(publisher.pending > MAX_QUEUED / 2 || publisher.pendingBytes > MAX_QUEUED_BYTES / 2) &&
		publisher.retrying === undefined &&
		!publisher.failed
	const pumps = [
		pump(child.stdout as ReadableStream<Uint8Array>, process.stdout, report, backedUp),
		pump(child.stderr as ReadableStream<Uint8Array>, process.stderr, report, backedUp),
	]
	const code = await child.exited
	const duration = Date.now() - started
	exited = true
	await group.gone
	await drain(pumps, QUIET_AFTER_EXIT_MS, DRAIN_LIMIT_MS)
	watching.abort()

	let exitCode: number
	const signal = child.signalCode === null ? null : String(child.signalCode)
	if (group.reason !== undefined) {
		publisher.send('cancelled', { reason: group.reason })
		exitCode = signalExitCode(group.signal ?? 'SIGTERM')
	} else if (code === 0) {
		publisher.send('complete', { duration })
		exitCode = 0
	} else {
		publisher.send('failed', {
			message: signal
				? `${command[0]} was killed by ${signal}`
				: `${command[0]} exited with code ${code}`,
			code: String(signal ?? code),
			duration,
		})
		exitCode = signal ? signalExitCode(signal) : code
	}
	await flushOrSay(publisher, url, options.flushMs, giveUp, () => acknowledgedAt)
	for (const signal of signals) process.off(signal, onSignal)
	return exitCode
}
