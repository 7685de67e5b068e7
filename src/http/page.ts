import { createHash } from 'node:crypto'
import { Elysia } from 'elysia'
// Imported as text, so `bun build --compile` carries the page inside the binary.
import html from '../page/index.html' with { type: 'text' }

/** The dashboard page: one file, no build step, no external fonts or scripts (the VM may be offline). */
export function pageRoutes() {
	const page = html as unknown as string
	// The page's one inline script is allowed by its hash, so no other script can run in it.
	const script = /<script type="module">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? ''
	const hash = createHash('sha256').update(script).digest('base64')
	const headers = {
		'content-type': 'text/html; charset=utf-8',
		'cache-control': 'no-cache',
		'content-security-policy': `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'`,
		'x-content-type-options': 'nosniff',
		'referrer-policy': 'no-referrer',
	}
	return new Elysia({ name: 'page' }).get('/', () => new Response(page, { headers }))
}
