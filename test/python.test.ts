import { describe, expect, it } from 'bun:test'
import { ROOT, runProcess } from './helpers.ts'

// The Python client (clients/python) is tested with its own unittest suite, which starts real
// servers the way helpers.ts does, with this Bun. This runs it, so that `bun test` (and CI) does.
const python = Bun.which('python3')

describe('the Python client', () => {
	it.skipIf(!python)(
		'passes its unittest suite against real servers',
		async () => {
			const version = await runProcess([
				python as string,
				'-c',
				'import sys; print("%d.%d" % sys.version_info[:2])',
			])
			const [major, minor] = version.stdout.trim().split('.').map(Number)
			expect({ python: version.stdout.trim(), supported: major === 3 && minor >= 9 }).toEqual({
				python: version.stdout.trim(),
				supported: true,
			})
			// Killed before this test's own timeout; the servers it started die with it.
			const proc = Bun.spawn(
				[python as string, '-m', 'unittest', 'discover', '-s', 'clients/python/tests', '-v'],
				{
					cwd: ROOT,
					env: {
						...process.env,
						BUN: process.execPath,
						CORTEX_URL: '',
						CORTEX_TOKEN: '',
						PYTHONDONTWRITEBYTECODE: '1',
					},
					stdin: 'ignore',
					stdout: 'pipe',
					stderr: 'pipe',
					timeout: 100_000,
					killSignal: 'SIGKILL',
				},
			)
			const [code, stdout, stderr] = await Promise.all([
				proc.exited,
				new Response(proc.stdout).text(),
				new Response(proc.stderr).text(),
			])
			const output = `${stdout}${stderr}`
			// The whole output on a failure: unittest names each test and shows each traceback.
			expect({ code, signal: proc.signalCode, output: code === 0 ? 'ok' : output }).toEqual({
				code: 0,
				signal: null,
				output: 'ok',
			})
			expect(output).toMatch(/^OK/m)
		},
		120_000,
	)
})
