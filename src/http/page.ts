import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { Elysia } from 'elysia'

/**
 * The page's source: markup, style, and a `<script src>` of its TypeScript, dashboard.ts, which
 * imports the modules beside it; the bundle is one document with one inline script.
 */
const SOURCE = join(import.meta.dir, '../page/index.html')

/** The page as served: one HTML document, its one script inline, and headers that allow just it. */
export interface Page {
	html: string
	headers: Record<string, string>
}

// The same bundler and options as `bun run build` uses on the command line for dist/page.html:
// keep the two alike.
async function bundle(): Promise<string> {
	const build = await Bun.build({
		entrypoints: [SOURCE],
		target: 'browser',
		compile: true,
		// Failing, the build's messages go in the error (the log shows its message, not these).
		throw: false,
	})
	const [output] = build.outputs
	if (!build.success || !output)
		throw new Error(`bundling ${SOURCE} failed:\n${build.logs.join('\n')}`)
	return output.text()
}

// What `bun run build` bundled, carried in the binary as text.
async function bundled(): Promise<string> {
	const { default: html } = await import('../../dist/page.html', { with: { type: 'text' } })
	if (typeof html !== 'string') throw new Error('dist/page.html was not imported as text')
	return html
}

/**
 * The dashboard page with its Content-Security-Policy. Run from source, the page is bundled
 * now, from the files as they are (a few milliseconds, and no build step before `bun run start`
 * or `bun test`). The compiled binary has no source files beside it: `bun run build` bundles
 * the page into dist/page.html first, and `bun build --compile` carries that text inside it.
 *
 * @example
 * const { html, headers } = await loadPage()
 * new Response(html, { headers })
 */
export async function loadPage(): Promise<Page> {
	const html = (await Bun.file(SOURCE).exists()) ? await bundle() : await bundled()
	// The page's one inline script is allowed by its hash, so no other script can run in it.
	const scripts = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)]
	const script = scripts[0]?.[1]
	if (scripts.length !== 1 || !script)
		throw new Error('the dashboard page must hold exactly one script, inline')
	const hash = createHash('sha256').update(script).digest('base64')
	return {
		html,
		headers: {
			'content-type': 'text/html; charset=utf-8',
			'cache-control': 'no-cache',
			'content-security-policy': `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'`,
			'x-content-type-options': 'nosniff',
			'referrer-policy': 'no-referrer',
		},
	}
}

let page: Promise<Page> | undefined

/**
 * `GET /`: the dashboard page, one document with nothing to fetch from elsewhere (the VM may be
 * offline). The page is loaded once, starting when the routes are made; a page that does not
 * bundle answers 500 (and is logged) instead of taking the API down with it.
 *
 * @example
 * new Elysia().use(pageRoutes())
 */
export function pageRoutes() {
	if (!page) {
		page = loadPage()
		// Awaited by each request; until one comes, a failure must not be an unhandled rejection.
		page.catch(() => {})
	}
	const loaded = page
	return new Elysia({ name: 'page' }).get('/', async () => {
		const { html, headers } = await loaded
		return new Response(html, { headers })
	})
}
