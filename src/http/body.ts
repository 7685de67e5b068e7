import { ClientClosedError, MalformedJsonError, PayloadTooLargeError } from '../errors.ts'

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads a JSON request body of at most `maxBytes`. A declared length over the limit is refused
 * before reading, a declared length within it is read in one piece (the runtime reads exactly
 * that much), and a chunked body is counted as it arrives and refused once it passes the limit,
 * so an oversized request never sits in memory whole. An empty body is a 400, or undefined
 * where the route says the body is `optional`.
 */
export async function readJson(
	request: Request,
	maxBytes: number,
	{ optional = false }: { optional?: boolean } = {},
): Promise<unknown> {
	const tooLarge = () => new PayloadTooLargeError(`the body is larger than ${maxBytes} bytes`)
	const declared = request.headers.get('content-length')
	if (declared !== null && Number(declared) > maxBytes) throw tooLarge()
	let bytes: Uint8Array
	try {
		bytes =
			declared !== null ? await request.bytes() : await readChunked(request, maxBytes, tooLarge)
	} catch (error) {
		if (error instanceof PayloadTooLargeError) throw error
		// The only way a body in reach of the limit fails to arrive: its client went away.
		throw new ClientClosedError('the client closed the connection before its body arrived')
	}
	if (bytes.byteLength > maxBytes) throw tooLarge()
	if (bytes.byteLength === 0) {
		if (optional) return undefined
		throw new MalformedJsonError('the body is empty; send a JSON event or array of events')
	}
	let text: string
	try {
		text = decoder.decode(bytes)
	} catch {
		throw new MalformedJsonError('the body is not valid UTF-8')
	}
	try {
		return JSON.parse(text)
	} catch (error) {
		throw new MalformedJsonError(`the body is not valid JSON: ${(error as Error).message}`)
	}
}

async function readChunked(request: Request, maxBytes: number, tooLarge: () => Error) {
	const chunks: Uint8Array[] = []
	let length = 0
	if (request.body)
		for await (const chunk of request.body) {
			length += chunk.byteLength
			if (length > maxBytes) throw tooLarge()
			chunks.push(chunk)
		}
	return chunks.length === 1 ? chunks[0] : new Uint8Array(Buffer.concat(chunks))
}
