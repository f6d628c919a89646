/**
 * @module A multipart/form-data body read as it streams (RFC 7578), never holding more of a part than the
 * limit the caller gives for it: `limitFor` is asked when a part's headers have been read (it sees the parts
 * read before it, so a `type` field sent before the file decides the file's limit), and the part is refused
 * the moment its bytes pass that limit: the rest of the body is not read. Hand-written because Bun's
 * `Request.formData()` buffers the whole body first, and this is a small state machine, not a dependency.
 */

export interface MultipartPart {
  /** The form field name (Content-Disposition `name`). */
  name: string
  /** Set for a file field (Content-Disposition `filename`). */
  filename?: string
  contentType?: string
  bytes: Uint8Array
}

export type PartHead = Omit<MultipartPart, 'bytes'>

export interface ReadMultipartOptions {
  /** The part's byte limit, and the error to throw when it is passed; may throw itself (an unwanted part). */
  limitFor: (head: PartHead, before: readonly MultipartPart[]) => { limit: number; tooLarge: () => Error }
  /** The error for a body that is not well-formed multipart. */
  malformed: (why: string) => Error
  /** At most this many parts (default 16): a body of thousands of tiny parts is refused. */
  maxParts?: number
}

/** A part's header block is a few hundred bytes; one larger than this is not a form. */
const MAX_HEAD_BYTES = 16 * 1024

/** The boundary parameter of a multipart/form-data Content-Type, or undefined. */
export const boundaryOf = (contentType: string | null): string | undefined => {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType)
  return m?.[1] ?? m?.[2]
}

const headParam = (value: string, key: string): string | undefined => {
  const m = new RegExp(`;\\s*${key}="((?:[^"\\\\]|\\\\.)*)"`, 'i').exec(value) ?? new RegExp(`;\\s*${key}=([^;\\s]+)`, 'i').exec(value)
  return m?.[1]?.replace(/\\(.)/g, '$1')
}

const parseHead = (text: string): PartHead | undefined => {
  let disposition: string | undefined
  let contentType: string | undefined
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':')
    if (i < 0) continue
    const key = line.slice(0, i).trim().toLowerCase()
    const value = line.slice(i + 1).trim()
    if (key === 'content-disposition') disposition = value
    else if (key === 'content-type') contentType = value
  }
  if (!disposition || !/^form-data\s*(;|$)/i.test(disposition)) return undefined
  const name = headParam(disposition, 'name')
  if (name === undefined) return undefined
  const filename = headParam(disposition, 'filename')
  return { name, ...(filename !== undefined ? { filename } : {}), ...(contentType ? { contentType } : {}) }
}

const utf8 = new TextDecoder('utf-8')

/**
 * Reads the whole form. Throws `tooLarge()` of the part that passed its limit (the stream is cancelled
 * there), `malformed(why)` for a body that is not multipart with this boundary.
 */
export const readMultipart = async (body: ReadableStream<Uint8Array>, boundary: string, o: ReadMultipartOptions): Promise<MultipartPart[]> => {
  const maxParts = o.maxParts ?? 16
  // Every delimiter is CRLF "--" boundary; the first one has no CRLF before it, so one is put there.
  const delim = Buffer.from(`\r\n--${boundary}`)
  const keep = delim.length - 1
  const parts: MultipartPart[] = []
  const reader = body.getReader()
  let buf: Buffer = Buffer.from('\r\n')
  type State = 'preamble' | 'after' | 'head' | 'data' | 'done'
  let state = 'preamble' as State
  let head: PartHead | undefined
  let limit = { limit: 0, tooLarge: (): Error => new Error('too large') }
  let chunks: Uint8Array[] = []
  let size = 0
  let ended = false

  const fail = (e: Error): never => {
    void reader.cancel().catch(() => undefined)
    throw e
  }
  const take = (bytes: Uint8Array) => {
    if (bytes.byteLength === 0) return
    size += bytes.byteLength
    if (size > limit.limit) fail(limit.tooLarge())
    chunks.push(bytes)
  }

  for (;;) {
    // Run the state machine over what is buffered until it needs more bytes.
    let progressed = true
    while (progressed && state !== 'done') {
      progressed = false
      if (state === 'preamble') {
        const i = buf.indexOf(delim)
        if (i >= 0) { buf = buf.subarray(i + delim.length); state = 'after'; progressed = true }
        else if (buf.length > keep) buf = buf.subarray(buf.length - keep)
      } else if (state === 'after') {
        if (buf.length < 2) break
        if (buf[0] === 0x2d && buf[1] === 0x2d) { state = 'done'; break }
        // Transport padding (spaces, tabs) may follow a delimiter before its CRLF.
        let j = 0
        while (j < buf.length && (buf[j] === 0x20 || buf[j] === 0x09)) j++
        if (buf.length < j + 2) break
        if (buf[j] !== 0x0d || buf[j + 1] !== 0x0a) fail(o.malformed('a boundary is not followed by a line break'))
        buf = buf.subarray(j + 2)
        state = 'head'
        progressed = true
      } else if (state === 'head') {
        const i = buf.indexOf('\r\n\r\n')
        if (i < 0) {
          if (buf.length > MAX_HEAD_BYTES) fail(o.malformed(`a part's headers are over ${MAX_HEAD_BYTES} bytes`))
          break
        }
        head = parseHead(utf8.decode(buf.subarray(0, i)))
        if (!head) fail(o.malformed('a part has no Content-Disposition: form-data with a name'))
        if (parts.length >= maxParts) fail(o.malformed(`more than ${maxParts} parts`))
        try { limit = o.limitFor(head!, parts) } catch (e) { fail(e as Error) }
        chunks = []
        size = 0
        buf = buf.subarray(i + 4)
        state = 'data'
        progressed = true
      } else {
        const i = buf.indexOf(delim)
        if (i >= 0) {
          take(buf.subarray(0, i))
          parts.push({ ...head!, bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) })
          buf = buf.subarray(i + delim.length)
          state = 'after'
          progressed = true
        } else if (buf.length > keep) {
          // All but the tail that may be the start of a delimiter split across reads.
          take(buf.subarray(0, buf.length - keep))
          buf = buf.subarray(buf.length - keep)
        }
      }
    }
    if ((state as State) === 'done') {
      void reader.cancel().catch(() => undefined)
      return parts
    }
    if (ended) fail(o.malformed('the body ended before its closing boundary'))
    const { done, value } = await reader.read()
    if (done) { ended = true; continue }
    // Copy-on-concat: the parts keep subarrays of buffers that are never written again.
    buf = buf.length === 0 ? Buffer.from(value) : Buffer.concat([buf, value])
  }
}
