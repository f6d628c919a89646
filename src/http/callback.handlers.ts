/**
 * @module The handlers of WeChat's callbacks, `/wechat` (the default channel) and `/wechat/:channelId`, without
 * a framework: Bun's native router serves them (server.ts) and the Elysia plugin mounts the same ones
 * (callback.routes.ts). Answers are plain text or XML, never JSON and never a 2xx other than 200: WeChat treats
 * anything else as a failure and shows the user "该公众号提供的服务出现故障".
 */
import { HandlerFailedError, MAX_BODY_BYTES, type CallbackService, type Query } from '../domain/callback.service'
import { AppError, BadXmlError, PayloadTooLargeError } from '../lib/errors'
import type { Logger } from '../lib/log'
import type { CallbackOutcome } from '../metrics'
import type { PeerSource } from './client-ip'
import { readBytesCapped } from '../lib/read-capped'

const text = (status: number, body: string, contentType = 'text/plain; charset=utf-8') =>
  new Response(body, { status, headers: { 'content-type': contentType } })

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Reads at most `limit` bytes of the body; a longer one (declared or streamed) is a 413. */
export const readBody = async (request: Request, limit = MAX_BODY_BYTES): Promise<string> => {
  const bytes = await readBytesCapped(request, limit, () => new PayloadTooLargeError(`body over ${limit} bytes`))
  try {
    return utf8.decode(bytes)
  } catch (e) {
    throw new BadXmlError('body is not valid UTF-8', { cause: e })
  }
}

/**
 * The query is read from the URL by hand rather than validated by a schema: a schema failure would be
 * answered with JSON, and WeChat must only ever see text. Repeated parameters: the first one counts.
 */
const queryOf = (request: Request): Query => {
  // Only the query string is parsed (a request URL has no fragment): a whole URL object costs ~3% of a callback.
  const url = request.url
  const at = url.indexOf('?')
  return at < 0 ? {} : scanQuery(url.slice(at + 1))
}

/**
 * The query string's parameters, the first of each name, as URLSearchParams reads them: by hand for the plain
 * pairs WeChat sends (letters, digits, no `%` or `+`: taken as they are), through URLSearchParams itself for
 * any pair that needs decoding. URLSearchParams stays the reference: test/http/query-scan.test.ts compares the
 * two on many thousands of generated and mutated query strings.
 */
export const scanQuery = (qs: string): Query => {
  const q: Query = {}
  // As URLSearchParams does with a string: one leading '?' is not part of the first name.
  for (let i = qs.startsWith('?') ? 1 : 0; i <= qs.length;) {
    let end = qs.indexOf('&', i)
    if (end < 0) end = qs.length
    if (end > i) {
      const pair = qs.slice(i, end)
      if (pair.includes('%') || pair.includes('+')) {
        // '&' first: URLSearchParams would take a '?' opening the pair for the string's own (and drop it).
        for (const [k, v] of new URLSearchParams('&' + pair)) if (!(k in q)) q[k] = v
      } else {
        const eq = pair.indexOf('=')
        const k = eq < 0 ? pair : pair.slice(0, eq)
        if (!(k in q)) q[k] = eq < 0 ? '' : pair.slice(eq + 1)
      }
    }
    i = end + 1
  }
  return q
}

export interface CallbackRouteDeps {
  callbacks: CallbackService
  defaultChannel: string
  log: Logger
  now: () => number
  /** Duration and outcome of each POST (src/metrics.ts). */
  metrics?: { callback(channelId: string, seconds: number, msgType: string, outcome: CallbackOutcome): void }
  /** The client address in refusal logs (src/http/client-ip.ts). */
  clientOf?: (request: Request, server: PeerSource | null | undefined) => string
}

/** What both routers hand the handlers; `server` (Bun's) gives the socket peer. */
interface Ctx { params?: { channelId?: string }; request: Request; server?: PeerSource | null }

/** The two handlers, usable by Elysia and by Bun.serve's native routes alike (see server.ts). */
export const callbackHandlers = (deps: CallbackRouteDeps) => {
  const log = deps.log.child({ module: 'http/callback' })

  const clientOf = deps.clientOf ?? (() => 'unknown')

  const fail = (e: unknown, channelId: string, request: Request, server: PeerSource | null | undefined): Response => {
    if (e instanceof HandlerFailedError) return text(500, 'handler failed')
    if (e instanceof AppError && [400, 401, 404, 413].includes(e.status)) {
      log.info('callback refused', { channel: channelId, client: clientOf(request, server), status: e.status, code: e.code, reason: e.message })
      return text(e.status, e.message)
    }
    if (e instanceof AppError) {
      log.warn('callback refused', { channel: channelId, client: clientOf(request, server), status: 400, code: e.code, reason: e.message })
      return text(400, e.message)
    }
    log.error('callback failed', { channel: channelId, client: clientOf(request, server), error: e })
    return text(500, 'internal error')
  }

  const get = async ({ params, request, server }: Ctx) => {
    const query = queryOf(request)
    const channelId = params?.channelId ?? deps.defaultChannel
    try {
      return text(200, await deps.callbacks.verify(channelId, query))
    } catch (e) {
      return fail(e, channelId, request, server)
    }
  }

  const post = async ({ params, request, server }: Ctx) => {
    const started = performance.now()
    const query = queryOf(request)
    const receivedAt = deps.now()
    const channelId = params?.channelId ?? deps.defaultChannel
    try {
      const raw = await readBody(request)
      const answer = await deps.callbacks.handle(channelId, query, raw, receivedAt)
      deps.metrics?.callback(channelId, (performance.now() - started) / 1000, answer.msgType ?? '', answer.outcome)
      return text(200, answer.body, answer.contentType)
    } catch (e) {
      const res = fail(e, channelId, request, server)
      deps.metrics?.callback(channelId, (performance.now() - started) / 1000, '', res.status >= 500 ? 'failed' : 'rejected')
      return res
    }
  }

  return { get, post }
}
