import { describe, expect, it } from 'bun:test'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { ROOT } from './helpers.ts'

const readme = await Bun.file(join(ROOT, 'README.md')).text()

/** The non-blank lines of `text`, without their indentation. */
const lines = (text: string) =>
	text
		.split('\n')
		.map((l) => l.trim())
		.filter((l) => l !== '')

describe('the README', () => {
	it('stays a front door: under 12 KiB', () => {
		expect(new TextEncoder().encode(readme).length).toBeLessThan(12 * 1024)
	})

	it('quotes its agent examples, line for line, from the files the tests run', async () => {
		const section = readme.slice(
			readme.indexOf('## Use it from your agent'),
			readme.indexOf('\n## ', readme.indexOf('## Use it from your agent') + 1),
		)
		// Each block follows the link to the file it is quoted from.
		const quotes = [...section.matchAll(/\]\(([^)\s]+)\)[^`]*```[a-z]+\n([\s\S]*?)```/g)]
		expect(quotes.map((q) => q[1])).toEqual([
			'clients/python/examples/agent.py',
			'test/client/examples/ai-sdk.ts',
			'test/client/examples/langgraph.ts',
		])
		for (const [, path, block] of quotes) {
			const source = lines(await Bun.file(join(ROOT, path as string)).text())
			const quoted = lines(block as string)
			const at = source.indexOf(quoted[0] as string)
			expect({ path, quoted }).toEqual({ path, quoted: source.slice(at, at + quoted.length) })
		}
	})

	it('links only to files that exist', () => {
		for (const [, target] of readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
			if (/^[a-z]+:/.test(target as string)) continue
			expect({
				target,
				exists: existsSync(join(dirname(join(ROOT, 'README.md')), target as string)),
			}).toEqual({
				target,
				exists: true,
			})
		}
	})
})
