/** One JSON object per line on stdout, so any log shipper can read it. */
export type Fields = Record<string, unknown>

export interface Logger {
	/** Dropped unless the logger was made with `debug: true` (`--log-level debug`). */
	debug(msg: string, fields?: Fields): void
	info(msg: string, fields?: Fields): void
	warn(msg: string, fields?: Fields): void
	error(msg: string, fields?: Fields): void
	/** Writes out what is buffered; call before exiting. */
	flush(): void
}

/**
 * Lines written in one turn of the event loop go out in one write: under load an access line
 * per request would otherwise cost a system call per request. Warnings and errors, and
 * anything logged while idle, still appear at once.
 */
export function createLogger(
	write: (text: string) => void = (text) => process.stdout.write(text),
	{ debug = false }: { debug?: boolean } = {},
): Logger {
	let buffer = ''
	let scheduled = false
	// Under load many lines share a millisecond, and so its timestamp.
	let ms = 0
	let time = ''
	const flush = () => {
		scheduled = false
		if (buffer === '') return
		const text = buffer
		buffer = ''
		write(text)
	}
	const emit = (level: string, msg: string, fields?: Fields) => {
		const now = Date.now()
		if (now !== ms) {
			ms = now
			time = new Date(now).toISOString()
		}
		// The fields' own JSON, spliced in: no merged copy of them to build and stringify.
		const rest = fields === undefined ? '{}' : JSON.stringify(fields)
		buffer += `{"time":"${time}","level":"${level}","msg":${JSON.stringify(msg)}${rest === '{}' ? '}' : `,${rest.slice(1)}`}\n`
		if (level !== 'info' && level !== 'debug') flush()
		else if (!scheduled) {
			scheduled = true
			setImmediate(flush)
		}
	}
	return {
		debug: debug ? (msg, fields) => emit('debug', msg, fields) : () => {},
		info: (msg, fields) => emit('info', msg, fields),
		warn: (msg, fields) => emit('warn', msg, fields),
		error: (msg, fields) => emit('error', msg, fields),
		flush,
	}
}
