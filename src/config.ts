import { readFileSync } from 'node:fs'
import { jsonErrorAt } from './json-position.ts'
import { patternListFault } from './patterns.ts'

export const DEFAULT_PORT = 8787
export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_DB = './data/cortex-stream.db'
export const DEFAULT_HEARTBEAT_MS = 15_000
export const DEFAULT_RETRY_MS = 1_000
export const DEFAULT_MAX_BODY = 4 * 1024 * 1024
export const DEFAULT_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`

export type Scope = 'read' | 'publish' | 'admin'
export const SCOPES: readonly Scope[] = ['read', 'publish', 'admin']

/** One entry of the tokens file: exactly one of `token` and `sha256`. */
export interface TokenSpec {
	token?: string
	sha256?: string
	scopes: Scope[]
	streams: string[]
}

export interface Config {
	port: number
	host: string
	db: string
	/** `CORTEX_TOKEN` and the tokens file, both in force. */
	tokens: TokenSpec[]
	/** `--token` / `CORTEX_TOKEN` and the tokens file, from which `tokens` came. */
	token?: string
	tokensFile?: string
	noAuth: boolean
	heartbeatMs: number
	retryMs: number
	retentionMs?: number
	maxBody: number
	corsOrigins: string[]
	maxDbBytes?: number
	maxStreams: number
	maxStreamsPerToken: number
	maxConnectsPerSecond: number
	logLevel: LogLevel
}

export const LOG_LEVELS = ['debug', 'info'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export class ConfigError extends Error {}

interface Setting {
	flag: string
	env: string
	help: string
	default?: string
}

/** Every setting of the contract: a flag and an environment variable, the flag winning. */
export const SETTINGS: Setting[] = [
	{
		flag: 'port',
		env: 'CORTEX_PORT',
		help: 'TCP port (0 picks a free one)',
		default: `${DEFAULT_PORT}`,
	},
	{ flag: 'host', env: 'CORTEX_HOST', help: 'address to listen on', default: DEFAULT_HOST },
	{
		flag: 'db',
		env: 'CORTEX_DB',
		help: 'SQLite database file, or a postgres:// URL to share one database between instances',
		default: DEFAULT_DB,
	},
	{ flag: 'token', env: 'CORTEX_TOKEN', help: 'a token with every scope on every stream' },
	{ flag: 'tokens-file', env: 'CORTEX_TOKENS_FILE', help: 'JSON file of scoped tokens' },
	{
		flag: 'heartbeat-ms',
		env: 'CORTEX_HEARTBEAT_MS',
		help: 'interval of `: heartbeat` comments',
		default: `${DEFAULT_HEARTBEAT_MS}`,
	},
	{
		flag: 'retry-ms',
		env: 'CORTEX_RETRY_MS',
		help: 'reconnect delay sent as `retry:`',
		default: `${DEFAULT_RETRY_MS}`,
	},
	{
		flag: 'retention',
		env: 'CORTEX_RETENTION',
		help: 'prune ended runs older than this (30d, 12h, 90s)',
	},
	{
		flag: 'max-body',
		env: 'CORTEX_MAX_BODY',
		help: 'largest request body in bytes',
		default: `${DEFAULT_MAX_BODY}`,
	},
	{ flag: 'cors-origin', env: 'CORTEX_CORS_ORIGIN', help: 'allowed CORS origins, comma-separated' },
	{
		flag: 'max-streams',
		env: 'CORTEX_MAX_STREAMS',
		help: 'open streams in all (503 past it)',
		default: '20000',
	},
	{
		flag: 'max-streams-per-token',
		env: 'CORTEX_MAX_STREAMS_PER_TOKEN',
		help: 'open streams per token or ticket (429 past it)',
		default: '10000',
	},
	{
		flag: 'max-connects-per-second',
		env: 'CORTEX_MAX_CONNECTS_PER_SECOND',
		help: 'new streams per token or ticket each second (429 past it)',
		default: '1000',
	},
	{
		flag: 'log-level',
		env: 'CORTEX_LOG_LEVEL',
		help: 'info, or debug to also log what clients did wrong on their side',
		default: 'info',
	},
	{
		flag: 'max-db-bytes',
		env: 'CORTEX_MAX_DB_BYTES',
		help: 'cap on the database size; appends past it answer 507',
	},
]

/** `--url` / `CORTEX_URL` and `--token` / `CORTEX_TOKEN`, shared by the client commands. */
export interface ClientSettings {
	url: string
	token?: string
	/** Where `url` came from, so that a message about the server can say which setting to change. */
	urlFrom: '--url' | 'CORTEX_URL' | 'default'
	/** Where `token` came from; never the token itself, which no message repeats. */
	tokenFrom?: '--token' | 'CORTEX_TOKEN'
}

/** The client settings, the flag winning and an empty variable counting as unset, as for `serve`. */
export function loadClientSettings(
	flags: Record<string, string | true>,
	env: Record<string, string | undefined>,
): ClientSettings {
	const pick = <F extends string, E extends string>(flag: F, variable: E) => {
		const value = flags[flag.slice(2)]
		if (value === true) throw new ConfigError(`${flag} needs a value`)
		if (value !== undefined) return { value, from: flag }
		const fromEnv = env[variable]
		return fromEnv ? { value: fromEnv, from: variable } : undefined
	}
	const url = pick('--url', 'CORTEX_URL') ?? { value: DEFAULT_URL, from: 'default' as const }
	if (!/^https?:\/\/[^/]/.test(url.value))
		throw new ConfigError(`${url.from} must be an http(s) URL, got "${url.value.slice(0, 200)}"`)
	const token = pick('--token', 'CORTEX_TOKEN')
	if (token && token.value !== '' && !isTokenText(token.value))
		throw new ConfigError(
			`the token from ${token.from} must be 1-4096 characters of A-Z a-z 0-9 - . _ ~ + / (then = padding)`,
		)
	return {
		url: url.value,
		urlFrom: url.from,
		...(token?.value && { token: token.value, tokenFrom: token.from }),
	}
}

/** A mistake in how a command was called; its message ends with a pointer to that command's --help. */
export class UsageError extends ConfigError {}

/**
 * Splits `--name value`, `--name=value` and bare `--name` switches, knowing every flag the
 * command takes: an unknown one is refused by its name before it can swallow the next argument
 * as its value. `-` alone is an argument (stdin); after `--` everything is.
 */
export function parseFlags(
	argv: string[],
	known: { values: readonly string[]; switches?: readonly string[] },
) {
	const flags: Record<string, string | true> = {}
	const positional: string[] = []
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i]
		if (arg === '--') {
			positional.push(...argv.slice(i + 1))
			break
		}
		if (!arg.startsWith('-') || arg === '-') {
			positional.push(arg)
			continue
		}
		const eq = arg.indexOf('=')
		const written = eq < 0 ? arg : arg.slice(0, eq)
		const name = written.startsWith('--') ? written.slice(2) : ''
		const isSwitch = known.switches?.includes(name) === true
		if (!isSwitch && !known.values.includes(name))
			throw new UsageError(`unknown flag ${written.slice(0, 100)}`)
		if (eq >= 0) {
			if (isSwitch) throw new UsageError(`${written} takes no value`)
			flags[name] = arg.slice(eq + 1)
		} else if (isSwitch) flags[name] = true
		else if (i + 1 < argv.length) flags[name] = argv[++i]
		else throw new UsageError(`${written} needs a value`)
	}
	return { flags, positional }
}

function integer(name: string, value: string, min: number, max: number) {
	if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max)
		throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${value}"`)
	return Number(value)
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** `30d`, `12h`, `90s`, `15m` to milliseconds. */
export function parseDuration(name: string, value: string): number {
	const match = /^([0-9]{1,9})([smhd])$/.exec(value)
	if (!match || Number(match[1]) === 0)
		throw new ConfigError(
			`${name} must be a number and a unit (s, m, h, d), such as 30d; got "${value}"`,
		)
	return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
}

/**
 * Reads and checks a tokens file; a mistake in it stops the server with the entry's index, or
 * the line and column where it stops being JSON. Nothing of its content is ever repeated: it
 * holds secrets.
 */
export function loadTokensFile(path: string): TokenSpec[] {
	let text: string
	try {
		text = readFileSync(path, 'utf8')
	} catch (error) {
		throw new ConfigError(`tokens file ${path}: ${(error as Error).message}`)
	}
	let raw: unknown
	try {
		raw = JSON.parse(text)
	} catch {
		const at = jsonErrorAt(text)
		throw new ConfigError(
			`tokens file ${path}: not valid JSON${at ? ` at line ${at.line}, column ${at.column}` : ''}`,
		)
	}
	if (!Array.isArray(raw)) throw new ConfigError(`tokens file ${path}: must be a JSON array`)
	return raw.map((entry, i) => {
		const where = `tokens file ${path}, entry ${i}`
		if (typeof entry !== 'object' || entry === null)
			throw new ConfigError(`${where}: must be an object`)
		const { token, sha256, scopes, streams = ['*'] } = entry as Record<string, unknown>
		if ((token === undefined) === (sha256 === undefined))
			throw new ConfigError(`${where}: needs exactly one of "token" and "sha256"`)
		if (token !== undefined && (typeof token !== 'string' || !isTokenText(token)))
			throw new ConfigError(
				`${where}: "token" must be 1-4096 characters of A-Z a-z 0-9 - . _ ~ + / (then = padding)`,
			)
		if (sha256 !== undefined && (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)))
			throw new ConfigError(`${where}: "sha256" must be 64 hex digits`)
		if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => SCOPES.includes(s)))
			throw new ConfigError(`${where}: "scopes" must list some of ${SCOPES.join(', ')}`)
		const fault = patternListFault(streams, { min: 1 })
		if (fault)
			throw new ConfigError(
				`${where}: "streams"${fault.index === undefined ? '' : ` entry ${fault.index}`}: ${fault.message}`,
			)
		return {
			...(token !== undefined
				? { token: token as string }
				: { sha256: (sha256 as string).toLowerCase() }),
			scopes: scopes as Scope[],
			streams: streams as string[],
		}
	})
}

/** `CORTEX_TOKEN` / `--token`: every scope on every stream. */
const adminToken = (token: string): TokenSpec => ({ token, scopes: ['admin'], streams: ['*'] })

/**
 * The tokens in force once the tokens file is read again (SIGHUP): those of `--token`, which
 * stays as it was, and the file's as it is now. Throws ConfigError, as at start, for a file
 * with a mistake in it.
 */
export function tokensAfterReload(config: Pick<Config, 'token' | 'tokensFile'>): TokenSpec[] {
	return [
		...(config.token === undefined ? [] : [adminToken(config.token)]),
		...(config.tokensFile === undefined ? [] : loadTokensFile(config.tokensFile)),
	]
}

/** RFC 6750's token68: what a Bearer header can carry unquoted. */
export const isTokenText = (text: string) =>
	text.length <= 4096 && /^[A-Za-z0-9\-._~+/]+=*$/.test(text)

/** The settings of `serve`, from its arguments and the environment, the flag winning. */
export function loadConfig(argv: string[], env: Record<string, string | undefined>): Config {
	const { flags, positional } = parseFlags(argv, {
		values: SETTINGS.map((s) => s.flag),
		switches: ['no-auth'],
	})
	if (positional.length > 0)
		throw new UsageError(`unexpected argument "${positional[0].slice(0, 100)}"`)

	const get = (flag: string): string | undefined => {
		const setting = SETTINGS.find((s) => s.flag === flag)
		if (!setting) throw new Error(`no setting ${flag}`)
		const value = flags[flag] ?? env[setting.env]
		if (value === true) throw new ConfigError(`--${flag} needs a value`)
		return value === '' ? undefined : (value ?? setting.default)
	}
	const number = (flag: string, min: number, max: number) =>
		integer(`--${flag}`, get(flag) as string, min, max)

	const tokens: TokenSpec[] = []
	const token = get('token')
	if (token !== undefined) {
		if (!isTokenText(token))
			throw new ConfigError(
				'--token must be 1-4096 characters of A-Z a-z 0-9 - . _ ~ + / (then = padding)',
			)
		tokens.push(adminToken(token))
	}
	const tokensFile = get('tokens-file')
	if (tokensFile !== undefined) tokens.push(...loadTokensFile(tokensFile))
	const noAuth = flags['no-auth'] === true
	if (tokens.length === 0 && !noAuth)
		throw new ConfigError(
			'no token configured: set CORTEX_TOKEN (or --token), or a tokens file with --tokens-file; ' +
				'for local development only, --no-auth turns authentication off',
		)

	const retention = get('retention')
	const cors = get('cors-origin')
	const logLevel = get('log-level') as LogLevel
	if (!LOG_LEVELS.includes(logLevel))
		throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`)
	return {
		port: number('port', 0, 65535),
		host: get('host') as string,
		db: get('db') as string,
		tokens,
		...(token !== undefined && { token }),
		...(tokensFile !== undefined && { tokensFile }),
		noAuth,
		heartbeatMs: number('heartbeat-ms', 10, 3_600_000),
		retryMs: number('retry-ms', 0, 3_600_000),
		retentionMs: retention === undefined ? undefined : parseDuration('--retention', retention),
		maxBody: number('max-body', 1024, 1024 * 1024 * 1024),
		maxStreams: number('max-streams', 1, 10_000_000),
		maxStreamsPerToken: number('max-streams-per-token', 1, 10_000_000),
		maxConnectsPerSecond: number('max-connects-per-second', 1, 1_000_000),
		logLevel,
		maxDbBytes:
			get('max-db-bytes') === undefined ? undefined : number('max-db-bytes', 65_536, 2 ** 52),
		corsOrigins:
			cors === undefined
				? []
				: cors
						.split(',')
						.map((o) => o.trim())
						.filter(Boolean),
	}
}
