/** One JSON object per line on stdout, so any log shipper can read it. */
export type Fields = Record<string, unknown>

export interface Logger {
	info(msg: string, fields?: Fields): void
	warn(msg: string, fields?: Fields): void
	error(msg: string, fields?: Fields): void
}

export function createLogger(
	write: (line: string) => void = (line) => process.stdout.write(line),
): Logger {
	const emit = (level: string, msg: string, fields?: Fields) =>
		write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`)
	return {
		info: (msg, fields) => emit('info', msg, fields),
		warn: (msg, fields) => emit('warn', msg, fields),
		error: (msg, fields) => emit('error', msg, fields),
	}
}
