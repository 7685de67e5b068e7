import { describe, expect, it } from 'bun:test'
import { ConfigError, DEFAULT_DB, loadConfig, parseDuration } from '../../src/config.ts'

describe('loadConfig', () => {
	it('has the contract defaults', () => {
		expect(loadConfig([], { CORTEX_TOKEN: 't' })).toEqual({
			port: 8787,
			host: '127.0.0.1',
			db: DEFAULT_DB,
			tokens: [{ token: 't', scopes: ['admin'], streams: ['*'] }],
			token: 't',
			noAuth: false,
			heartbeatMs: 15_000,
			retryMs: 1_000,
			retentionMs: undefined,
			maxBody: 4_194_304,
			corsOrigins: [],
			maxStreams: 20_000,
			maxStreamsPerToken: 10_000,
			maxConnectsPerSecond: 1000,
			logLevel: 'info',
		})
	})

	it('lets a flag win over its variable, in both flag forms', () => {
		const c = loadConfig(['--port=9000', '--retry-ms', '50', '--retention', '30d'], {
			CORTEX_TOKEN: 't',
			CORTEX_PORT: '1',
			CORTEX_RETRY_MS: '7',
			CORTEX_HOST: '0.0.0.0',
		})
		expect([c.port, c.retryMs, c.host, c.retentionMs]).toEqual([
			9000,
			50,
			'0.0.0.0',
			30 * 86_400_000,
		])
	})

	it('refuses to start with no token unless --no-auth', () => {
		expect(() => loadConfig([], {})).toThrow(ConfigError)
		expect(loadConfig(['--no-auth'], {}).noAuth).toBe(true)
	})

	it('parses retention durations', () => {
		expect(parseDuration('r', '90s')).toBe(90_000)
		expect(parseDuration('r', '15m')).toBe(900_000)
		expect(parseDuration('r', '12h')).toBe(43_200_000)
		for (const bad of ['30', 'd', '0d', '1w', '1.5h', '-1h'])
			expect(() => parseDuration('r', bad)).toThrow(ConfigError)
	})
})
