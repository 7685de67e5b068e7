// bun-types makes an .html import the HTMLBundle that Bun.serve takes; imported `with { type:
// 'text' }`, as the compiled binary imports the page `bun run build` bundled, it is the text.
// TypeScript cannot tell the two apart by the attribute, so such an import is either.
declare module '*.html' {
	const text: string
	export default text
}
