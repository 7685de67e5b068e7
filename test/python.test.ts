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
			const { code, stdout, stderr } = await runProcess(
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
				},
			)
			const output = `${stdout}${stderr}`
			// The whole output on a failure: unittest names each test and shows each traceback.
			expect({ code, output: code === 0 ? 'ok' : output }).toEqual({ code: 0, output: 'ok' })
			expect(output).toMatch(/^OK/m)
		},
		120_000,
	)
})
