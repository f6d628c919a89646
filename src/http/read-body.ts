/**
 * @module A request body's bytes, never more than a limit of them read (the callbacks: 64 KiB; the API: 1 MiB).
 * A declared length over the limit is refused before reading; a body without one (chunked) is counted as it
 * streams and dropped as soon as it passes the limit. `tooLarge` makes the error of the caller's shape.
 */
export const readBytesCapped = async (request: Request, limit: number, tooLarge: () => Error): Promise<Uint8Array> => {
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (Number.isFinite(declared) && declared > limit) throw tooLarge()
  if (!request.body) return new Uint8Array(0)
  if (Number.isFinite(declared)) {
    // A declared length within the limit: read it in one go (Bun holds a body to its declared length).
    const bytes = new Uint8Array(await request.arrayBuffer())
    if (bytes.byteLength > limit) throw tooLarge()
    return bytes
  }
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      void reader.cancel().catch(() => undefined)
      throw tooLarge()
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}
