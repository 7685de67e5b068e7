// The page's files are imported as text (`with { type: 'text' }`) to be bundled into the binary.
declare module '*.html' {
	const text: string
	export default text
}
