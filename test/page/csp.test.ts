import { describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { startServer, tempDir } from '../helpers.ts'

describe('the page without a browser', () => {
	it('is one document with one inline script, served with a strict content security policy', async () => {
		using dir = tempDir()
		await using server = await startServer({ dbPath: join(dir.path, 'p.db') })
		const res = await fetch(server.url)
		expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
		expect(res.headers.get('content-security-policy')).toContain("default-src 'none'")
		const html = await res.text()
		expect(html).not.toMatch(/https?:\/\//)
		// src/page/dashboard.ts and the modules it imports, bundled in as the one script, inline,
		// and allowed by its hash.
		const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
		expect(scripts.map((m) => m[1])).toEqual([' type="module"'])
		const script = scripts[0]?.[2] ?? ''
		const hash = new Bun.CryptoHasher('sha256').update(script).digest('base64')
		expect(res.headers.get('content-security-policy')).toContain(`script-src 'sha256-${hash}';`)
		// What it shows is built from text nodes: no markup from strings, no code from strings,
		// and no handlers in attributes (the policy would refuse them anyway).
		expect(script).not.toMatch(
			/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|\beval\(|new Function\(/,
		)
		expect(html).not.toMatch(/\son[a-z]+=/)
		// A query string (the stale threshold, ?stale=) gets the same page.
		expect(await (await fetch(`${server.url}/?stale=3`)).text()).toBe(html)
	})
})
