/**
 * @module Reading an API body as JSON without letting any body hurt the process (SPEC §4): at most
 * API_BODY_LIMIT bytes whether or not a length is declared (a chunked body is counted as it streams and
 * dropped at the limit), strict UTF-8, at most JSON_MAX_DEPTH levels (checked on the raw text before
 * JSON.parse, so 100k nested arrays cost one linear scan), and no lone surrogate in any string or key.
 */
import { MalformedBodyError, PayloadTooLargeError, ValidationError } from '../lib/errors'
import { API_BODY_LIMIT } from './errors'
import { readBytesCapped } from '../lib/read-capped'

export const JSON_MAX_DEPTH = 32

const utf8 = new TextDecoder('utf-8', { fatal: true })

const tooLarge = (limit: number) => new PayloadTooLargeError(`the request body is over ${limit} bytes; the limit is ${limit} bytes`, { details: { limit } })

/**
 * The deepest nesting of `[` and `{` outside strings, stopping as soon as it passes `max`. Hand-written
 * because JSON.parse has no depth limit and this is a dozen lines, not a dependency; it only needs to be
 * right for text JSON.parse will accept (anything else fails there).
 */
export const exceedsDepth = (text: string, max = JSON_MAX_DEPTH): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // a backslash: skip the escaped character (a quote among them)
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) { if (++depth > max) return true }
    else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/** The path of the first string or key holding a lone surrogate (JSON.parse turns "\ud800" into one). */
const loneSurrogateAt = (v: unknown, path: (string | number)[]): (string | number)[] | undefined => {
  if (typeof v === 'string') return v.isWellFormed() ? undefined : path
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) { const p = loneSurrogateAt(v[i], [...path, i]); if (p) return p }
    return undefined
  }
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (!k.isWellFormed()) return [...path, k]
      const p = loneSurrogateAt(x, [...path, k])
      if (p) return p
    }
  }
  return undefined
}
const loneSurrogateMessage = 'contains a lone surrogate (a \\uD800-\\uDFFF escape without its pair), which is not a character; it would be stored as U+FFFD'

/**
 * The Idempotency-Key header arrives as bytes (one character each): they must be UTF-8, else two keys
 * that differ only in bytes that are not text (an encoded surrogate) could be stored as the same key.
 */
const checkIdempotencyHeader = (request: Request) => {
  const h = request.headers.get('idempotency-key')
  if (h === null || /^[\x20-\x7e]*$/.test(h)) return
  const bytes = Uint8Array.from(h, (ch) => ch.charCodeAt(0) & 0xff)
  let ok = [...h].every((ch) => ch.charCodeAt(0) <= 0xff)
  try { utf8.decode(bytes) } catch { ok = false }
  if (!ok) throw new ValidationError(`Idempotency-Key: ${loneSurrogateMessage.replace('contains', 'is not UTF-8 or contains')}`)
}

/**
 * Reads the body of an /api request as JSON. Answers undefined when there is nothing to read, so that the
 * route's own handling of a missing body stays as it was (400 where a body is required).
 */
export const readJsonBody = async (request: Request, limit = API_BODY_LIMIT): Promise<unknown> => {
  checkIdempotencyHeader(request)
  if (!request.body) return undefined
  const bytes = await readBytesCapped(request, limit, () => tooLarge(limit))
  if (bytes.byteLength === 0) return undefined
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch (e) {
    throw new MalformedBodyError('invalid_utf8', 'the request body is not valid UTF-8; send JSON encoded as UTF-8', { cause: e })
  }
  if (exceedsDepth(text)) throw new MalformedBodyError('too_deep', `the request body nests deeper than ${JSON_MAX_DEPTH} levels of arrays and objects`, { details: { maxDepth: JSON_MAX_DEPTH } })
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new MalformedBodyError('malformed_json', 'the request body is not valid JSON', { cause: e })
  }
  // Valid UTF-8 holds no surrogates: only a \uD8xx-\uDFxx escape can make one, so most bodies skip the walk.
  if (/\\u[dD][89a-fA-F]/.test(text)) {
    const at = loneSurrogateAt(value, [])
    if (at) throw new ValidationError(`${at.join('.') || 'body'}: ${loneSurrogateMessage}`, { details: [{ path: at, message: loneSurrogateMessage }] })
  }
  return value
}
