import { createGuard } from './auth/guard.ts'
import { createTickets } from './auth/tickets.ts'
import { type Config, tokensAfterReload } from './config.ts'
import { createApp } from './http/app.ts'
import { createLimits } from './http/limits.ts'
import type { Logger } from './log.ts'
import { createMetrics } from './metrics.ts'
import { openStore } from './store/open.ts'
import { redactUrl } from './store/postgres/index.ts'
import { createHub } from './streams/hub.ts'
import { createRetention } from './streams/retention.ts'
import { createSnapshots } from './streams/snapshots.ts'

/** How long SIGTERM waits for streams to finish their last write before closing connections. */
export const SHUTDOWN_GRACE_MS = 5_000

export interface RunningServer {
	url: string
	port: number
	/**
	 * Reads the tokens file again and puts its tokens in force; the open streams of a token it
	 * removed or changed end (their clients reconnect, and are asked again). Throws ConfigError,
	 * and changes nothing, for a file with a mistake in it.
	 */
	reloadTokens(): { tokens: number; endedStreams: number }
	/** Stop accepting, end open streams cleanly, then close the store. */
	stop(): Promise<void>
}

/** Opens the store and serves the API until `stop`. */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
	const store = await openStore({ url: config.db, maxBytes: config.maxDbBytes })
	const metrics = createMetrics()
	const hub = createHub(store, { heartbeatMs: config.heartbeatMs })
	const tickets = createTickets(await store.secret('ticket-key'))
	const snapshots = createSnapshots(store)
	const retention = createRetention(store, snapshots, hub, log, config.retentionMs)
	const limits = createLimits(config)
	const guard = createGuard(config, tickets)
	const app = createApp({
		config,
		store,
		hub,
		guard,
		limits,
		tickets,
		snapshots,
		retention,
		metrics,
		log,
	})
	try {
		app.listen({
			port: config.port,
			hostname: config.host,
			// Every route that reads a body bounds it itself (http/body.ts) and answers a JSON 413,
			// before reading a declared length and while counting a chunked one; Bun's own cap
			// would answer an empty 413 instead.
			maxRequestBodySize: Number.MAX_SAFE_INTEGER,
			idleTimeout: 10,
			// Elysia turns Bun's development mode on unless NODE_ENV=production; a server is never that.
			development: false,
			// Elysia asks for SO_REUSEPORT, which lets a second server bind the same port and take
			// half its requests, into another database.
			reusePort: false,
		})
	} catch (error) {
		hub.close()
		await retention.stop()
		await store.close()
		if ((error as { code?: string }).code === 'EADDRINUSE')
			throw new Error(
				`port ${config.port} on ${config.host} is already in use (another cortex-stream?); stop that server or choose another port with --port`,
			)
		throw error
	}
	const server = app.server
	if (!server) throw new Error('the server did not start')
	const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${server.port}`
	if (config.noAuth)
		log.warn(
			'AUTHENTICATION IS OFF (--no-auth): anyone who can reach this port can read and publish every stream; use it for local development only',
		)
	// Pruning runs at start too, in the background: the server answers meanwhile.
	retention.prune().catch((error) => log.error('pruning failed', { error: String(error) }))
	log.info('listening', {
		url,
		port: server.port,
		db: redactUrl(config.db),
		tokens: config.tokens.length,
	})

	let stopping: Promise<void> | undefined
	return {
		url,
		port: server.port as number,
		reloadTokens() {
			const tokens = tokensAfterReload(config)
			return { tokens: tokens.length, endedStreams: limits.revoke(guard.reload(tokens)) }
		},
		stop() {
			stopping ??= (async () => {
				const closed = server.stop(false)
				hub.close()
				await retention.stop()
				await Promise.race([closed, Bun.sleep(SHUTDOWN_GRACE_MS)])
				await server.stop(true)
				await store.close()
				log.info('stopped')
				log.flush()
			})()
			return stopping
		},
	}
}
