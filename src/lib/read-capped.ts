/**
 * @module A body's bytes, never more than a limit of them read: a request's (the callbacks: 64 KiB; the API:
 * 1 MiB) or a webhook receiver's answer (64 KiB). A declared length over the limit is refused before
 * reading; a body without one (chunked) is counted as it streams and dropped as soon as it passes the limit.
 * `tooLarge` makes the error of the caller's shape.
 */
export interface HasBody {
  readonly headers: Headers
  readonly body: ReadableStream<Uint8Array> | null
  arrayBuffer(): Promise<ArrayBuffer>
}

export const readBytesCapped = async (message: HasBody, limit: number, tooLarge: () => Error): Promise<Uint8Array> => {
  const declared = Number(message.headers.get('content-length') ?? NaN)
  if (Number.isFinite(declared) && declared > limit) {
    void message.body?.cancel().catch(() => undefined)
    throw tooLarge()
  }
  if (!message.body) return new Uint8Array(0)
  if (Number.isFinite(declared)) {
    // A declared length within the limit: read it in one go (Bun holds a body to its declared length).
    const bytes = new Uint8Array(await message.arrayBuffer())
    if (bytes.byteLength > limit) throw tooLarge()
    return bytes
  }
  const reader = message.body.getReader()
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
