/**
 * @module The WeChat server API client: base URL and fetch injected (tests use the sandbox on
 * loopback), a timeout on every call, each answer checked against its zod shape, and every failure
 * turned into one WeChatApiError with a class that tells the caller how to react. The access token
 * travels in the query string, so URLs are never logged — only the endpoint path.
 *
 * Error texts leave the process (API answers, stored message errors, logs), and WeChat's errmsg can echo
 * what it was sent: every errmsg goes through the logger's `redact`, with the call's own access token and
 * any `access_token=` in URL text masked too, before it becomes part of a WeChatApiError.
 * `abortAll()` ends every call in flight at once (on stop) and refuses new ones.
 */
import type { z } from 'zod'
import { AppError } from '../lib/errors'
import type { Logger } from '../lib/log'
import { errcodeInfo, ipFromErrmsg, type ErrcodeClass } from '../wechat/errcodes'
import {
  ErrorAnswer, MediaUploadAnswer, MediaVideoAnswer, OkAnswer, QrCreateAnswer, StableTokenAnswer, TemplateListAnswer, TemplateSendAnswer, UserInfoAnswer,
  type CustomSendBody, type QrCreateBody, type TemplateSendBody,
} from './endpoints'

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** One failure of a WeChat API call. `errcode` is absent for HTTP and network failures. */
export class WeChatApiError extends AppError {
  override name = 'WeChatApiError'
  readonly errcode?: number
  readonly errmsg: string
  readonly endpoint: string
  readonly class: ErrcodeClass
  readonly hint?: string
  readonly httpStatus?: number
  /**
   * The request may have reached WeChat and taken effect although no answer says so: a timeout, a network
   * error after the connection was made, an answer cut off or unreadable, HTTP 5xx, an abort on stop.
   * False for a clear errcode answer and for a connection that was refused (nothing was sent).
   */
  readonly uncertain: boolean
  /** Ended by abortAll() (the gateway is stopping), not by WeChat. */
  readonly aborted: boolean

  constructor(p: { endpoint: string; errcode?: number; errmsg: string; class: ErrcodeClass; hint?: string; httpStatus?: number; cause?: unknown; uncertain?: boolean; aborted?: boolean }) {
    const what = p.errcode !== undefined ? `errcode ${p.errcode}: ${p.errmsg}` : p.errmsg
    super('wechat_error', 502, `WeChat ${p.endpoint} failed (${what})${p.hint ? ` — ${p.hint}` : ''}`, {
      cause: p.cause,
      details: { errcode: p.errcode ?? null, errmsg: p.errmsg, endpoint: p.endpoint, ...(p.hint ? { hint: p.hint } : {}) },
    })
    this.errcode = p.errcode
    this.errmsg = p.errmsg
    this.endpoint = p.endpoint
    this.class = p.class
    this.hint = p.hint
    this.httpStatus = p.httpStatus
    this.uncertain = p.uncertain ?? false
    this.aborted = p.aborted ?? false
  }
}

/** Turns an errcode answer into the error, with the hint people get stuck without. */
export const apiError = (endpoint: string, errcode: number, errmsg: string): WeChatApiError => {
  const info = errcodeInfo(errcode)
  let hint = info.hint
  if (errcode === 40164) {
    const ip = ipFromErrmsg(errmsg)
    hint = `WeChat saw this server as ${ip ?? 'an unlisted IP'}: add it to the IP whitelist (公众号后台 → 设置与开发 → 基本配置 → IP白名单)`
  }
  return new WeChatApiError({ endpoint, errcode, errmsg, class: info.class, hint })
}

export interface WeChatClientOptions {
  baseUrl: string
  fetch?: FetchLike
  timeoutMs?: number
  /** Masks known secrets in text (the logger's redact); applied to every errmsg. */
  log: Logger
  /**
   * Called after each call, for metrics: the endpoint path (never the URL: the query carries the token),
   * seconds, and undefined on success, else the errcode as text or, when WeChat gave none, the kind of
   * failure: timeout, network, http_5xx (http_4xx…), bad_answer.
   */
  onCall?: (endpoint: string, seconds: number, error: string | undefined) => void
}

/** A 10 MB upload on a slow uplink (10 MB at 2 MB/s is 5 s, the default timeout of every other call). */
export const MEDIA_UPLOAD_TIMEOUT_MS = 60_000
/** A media download (10 MB at most) still running this long after its headers is ended (35 KB/s). */
export const FILE_TRANSFER_MS = 5 * 60_000

/** Nothing was sent: the connection itself failed (Bun's and Node's codes). */
const NOT_SENT = new Set(['ConnectionRefused', 'ECONNREFUSED', 'FailedToOpenSocket', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH'])

/** Big integer fields (msgid) lose precision in JSON.parse; quote them first. */
const quoteBigInts = (text: string) => text.replace(/("msgid"\s*:\s*)(\d+)/g, '$1"$2"')

export const createWeChatClient = (o: WeChatClientOptions) => {
  const doFetch = o.fetch ?? fetch
  const timeoutMs = o.timeoutMs ?? 5000
  const log = o.log.child({ module: 'wechat-api' })
  // One controller for every call: abortAll() (the gateway stops) ends them all; later calls fail at once.
  let stopping = new AbortController()

  /**
   * What every call starts with (call and download): its URL, its start time, `clean` (what WeChat or the
   * network said, with no secret left in it: the call's token, any access_token=, every known secret) and
   * `fail` (an error counted in the metrics and logged once).
   */
  const begin = (endpoint: string, query: Record<string, string> = {}) => {
    const url = new URL(endpoint.replace(/^\//, ''), o.baseUrl.endsWith('/') ? o.baseUrl : `${o.baseUrl}/`)
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
    const started = performance.now()
    const callToken = query.access_token
    const clean = (text: string): string => {
      let t = callToken && callToken.length >= 6 ? text.split(callToken).join('[redacted]') : text
      t = t.replace(/(access_token=)[^&\s"']+/gi, '$1[redacted]')
      return o.log.redact(t)
    }
    const fail = (e: WeChatApiError, kind = e.errcode !== undefined ? String(e.errcode) : 'bad_answer') => {
      o.onCall?.(endpoint, (performance.now() - started) / 1000, kind)
      log.warn('WeChat API call failed', { endpoint, errcode: e.errcode, errmsg: e.errmsg, class: e.class, httpStatus: e.httpStatus })
      return e
    }
    return { url, started, clean, fail }
  }

  /** `form`: a multipart body instead of JSON (media upload); `timeoutMs`: this call's own (a large upload). */
  const call = async <S extends z.ZodType>(endpoint: string, schema: S, init: { method: 'GET' | 'POST'; query?: Record<string, string>; body?: unknown; form?: FormData; timeoutMs?: number }): Promise<z.infer<S>> => {
    const { url, started, clean, fail } = begin(endpoint, init.query)
    const stop = stopping.signal
    const abortedError = () => new WeChatApiError({ endpoint, errmsg: 'aborted: the gateway is stopping', class: 'transient', uncertain: true, aborted: true })
    if (stop.aborted) throw abortedError()
    const callTimeoutMs = init.timeoutMs ?? timeoutMs
    const signal = AbortSignal.any([AbortSignal.timeout(callTimeoutMs), stop])
    let res: Response
    try {
      res = await doFetch(url, {
        method: init.method,
        headers: init.body !== undefined ? { 'content-type': 'application/json' } : undefined,
        body: init.form ?? (init.body !== undefined ? JSON.stringify(init.body) : undefined),
        signal,
      })
    } catch (e) {
      if (stop.aborted) throw fail(abortedError(), 'aborted')
      const timedOut = (e as Error)?.name === 'TimeoutError' || (e as Error)?.name === 'AbortError'
      const code = String((e as { code?: unknown })?.code ?? '')
      throw fail(new WeChatApiError({
        endpoint, errmsg: timedOut ? `no answer within ${callTimeoutMs} ms` : `network error: ${clean(String((e as Error)?.message ?? e))}`, class: 'transient', cause: e,
        uncertain: timedOut || !NOT_SENT.has(code),
      }), timedOut ? 'timeout' : 'network')
    }
    let text: string
    try {
      text = await res.text()
    } catch (e) {
      if (stop.aborted) throw fail(abortedError(), 'aborted')
      throw fail(new WeChatApiError({ endpoint, errmsg: `answer cut off: ${clean(String((e as Error)?.message))}`, class: 'transient', httpStatus: res.status, cause: e, uncertain: true }), 'network')
    }
    if (res.status >= 500) throw fail(new WeChatApiError({ endpoint, errmsg: `HTTP ${res.status}`, class: 'transient', httpStatus: res.status, uncertain: true }), 'http_5xx')
    if (res.status !== 200) throw fail(new WeChatApiError({ endpoint, errmsg: `HTTP ${res.status}`, class: 'permanent', httpStatus: res.status }), `http_${Math.floor(res.status / 100)}xx`)
    let json: unknown
    try {
      json = JSON.parse(quoteBigInts(text))
    } catch (e) {
      throw fail(new WeChatApiError({ endpoint, errmsg: 'answer is not JSON', class: 'transient', httpStatus: res.status, cause: e, uncertain: true }))
    }
    const err = ErrorAnswer.safeParse(json)
    if (err.success && err.data.errcode !== 0) throw fail(apiError(endpoint, err.data.errcode, clean(err.data.errmsg)))
    const ok = schema.safeParse(json)
    if (!ok.success) {
      throw fail(new WeChatApiError({ endpoint, errmsg: `unexpected answer shape: ${ok.error.issues[0]?.message ?? ''}`, class: 'permanent', httpStatus: res.status }))
    }
    o.onCall?.(endpoint, (performance.now() - started) / 1000, undefined)
    return ok.data
  }

  /**
   * A GET whose answer may be a file (media/get, PROTOCOL.md §9.4): a JSON answer (an errcode, a video's link)
   * is checked as in `call`; a file comes back as the Response with its body unread, for the caller to stream.
   * `timeoutMs` bounds the wait for the answer's headers; then the transfer gets FILE_TRANSFER_MS in all. The
   * body is handed on as fetch gave it, not piped through a stream of ours: Bun sends a JS stream chunked and
   * drops its Content-Length, while fetch's own body keeps it.
   */
  const download = async <S extends z.ZodType>(endpoint: string, schema: S, query: Record<string, string>): Promise<{ json: z.infer<S> } | { file: Response }> => {
    const { url, started, clean, fail } = begin(endpoint, query)
    const stop = stopping.signal
    if (stop.aborted) throw new WeChatApiError({ endpoint, errmsg: 'aborted: the gateway is stopping', class: 'transient', aborted: true })
    const ctl = new AbortController()
    const onStop = () => ctl.abort()
    stop.addEventListener('abort', onStop, { once: true })
    let timer = setTimeout(() => ctl.abort(), timeoutMs)
    const release = () => { clearTimeout(timer); stop.removeEventListener('abort', onStop) }
    let res: Response
    try {
      res = await doFetch(url, { method: 'GET', signal: ctl.signal })
    } catch (e) {
      release()
      if (stop.aborted) throw fail(new WeChatApiError({ endpoint, errmsg: 'aborted: the gateway is stopping', class: 'transient', aborted: true }), 'aborted')
      const timedOut = ctl.signal.aborted
      throw fail(new WeChatApiError({ endpoint, errmsg: timedOut ? `no answer within ${timeoutMs} ms` : `network error: ${clean(String((e as Error)?.message ?? e))}`, class: 'transient', cause: e }), timedOut ? 'timeout' : 'network')
    }
    const type = res.headers.get('content-type') ?? ''
    if (res.status !== 200 || !res.body || /json|^text\//i.test(type)) {
      // Errors and a video's link are small JSON (WeChat labels some text/plain): read them whole.
      let text = ''
      try { text = await res.text() } catch { /* judged below as not JSON */ } finally { release() }
      if (res.status >= 500) throw fail(new WeChatApiError({ endpoint, errmsg: `HTTP ${res.status}`, class: 'transient', httpStatus: res.status }), 'http_5xx')
      if (res.status !== 200) throw fail(new WeChatApiError({ endpoint, errmsg: `HTTP ${res.status}`, class: 'permanent', httpStatus: res.status }), `http_${Math.floor(res.status / 100)}xx`)
      let json: unknown
      try { json = JSON.parse(text) } catch (e) { throw fail(new WeChatApiError({ endpoint, errmsg: 'answer is not JSON', class: 'transient', httpStatus: res.status, cause: e })) }
      const err = ErrorAnswer.safeParse(json)
      if (err.success && err.data.errcode !== 0) throw fail(apiError(endpoint, err.data.errcode, clean(err.data.errmsg)))
      const ok = schema.safeParse(json)
      if (!ok.success) throw fail(new WeChatApiError({ endpoint, errmsg: `unexpected answer shape: ${ok.error.issues[0]?.message ?? ''}`, class: 'permanent', httpStatus: res.status }))
      o.onCall?.(endpoint, (performance.now() - started) / 1000, undefined)
      return { json: ok.data }
    }
    clearTimeout(timer)
    // Aborting a finished transfer does nothing; the timer is what forgets the stop listener.
    timer = setTimeout(() => { ctl.abort(); release() }, Math.max(timeoutMs, FILE_TRANSFER_MS))
    timer.unref?.()
    o.onCall?.(endpoint, (performance.now() - started) / 1000, undefined)
    return { file: res }
  }

  return {
    call,
    /** Ends every call in flight (they fail with `aborted`) and refuses new ones until `reopen()`. */
    abortAll: (): void => { stopping.abort() },
    /** After abortAll(): calls may be made again (a stopped outbox started again in tests). */
    reopen: (): void => { if (stopping.signal.aborted) stopping = new AbortController() },
    /** POST /cgi-bin/stable_token — PROTOCOL.md §5.1. */
    stableToken: (p: { appId: string; secret: string; forceRefresh?: boolean }) =>
      call('/cgi-bin/stable_token', StableTokenAnswer, { method: 'POST', body: { grant_type: 'client_credential', appid: p.appId, secret: p.secret, force_refresh: p.forceRefresh ?? false } }),
    /** POST /cgi-bin/clear_quota — 10 a month; /v2 needs no token (for when none can be had). */
    clearQuota: (p: { accessToken: string; appId: string }) =>
      call('/cgi-bin/clear_quota', OkAnswer, { method: 'POST', query: { access_token: p.accessToken }, body: { appid: p.appId } }),
    clearQuotaBySecret: (p: { appId: string; secret: string }) =>
      call('/cgi-bin/clear_quota/v2', OkAnswer, { method: 'POST', body: { appid: p.appId, appsecret: p.secret } }),
    sendTemplate: (accessToken: string, body: TemplateSendBody) =>
      call('/cgi-bin/message/template/send', TemplateSendAnswer, { method: 'POST', query: { access_token: accessToken }, body }),
    /** POST /cgi-bin/message/custom/send — a customer-service message (no msgid in the answer). */
    sendCustom: (accessToken: string, body: CustomSendBody) =>
      call('/cgi-bin/message/custom/send', OkAnswer, { method: 'POST', query: { access_token: accessToken }, body }),
    /** GET /cgi-bin/template/get_all_private_template — the account's templates with their contents. */
    templateList: (accessToken: string) =>
      call('/cgi-bin/template/get_all_private_template', TemplateListAnswer, { method: 'GET', query: { access_token: accessToken } }),
    createQrCode: (accessToken: string, body: QrCreateBody) =>
      call('/cgi-bin/qrcode/create', QrCreateAnswer, { method: 'POST', query: { access_token: accessToken }, body }),
    userInfo: (accessToken: string, openid: string) =>
      call('/cgi-bin/user/info', UserInfoAnswer, { method: 'GET', query: { access_token: accessToken, openid, lang: 'zh_CN' } }),
    /** The showqrcode link for a ticket (on mp.weixin.qq.com in production; the sandbox serves it too). */
    showQrCodeUrl: (ticket: string, base = 'https://mp.weixin.qq.com') => `${base.replace(/\/$/, '')}/cgi-bin/showqrcode?ticket=${encodeURIComponent(ticket)}`,
    /** POST /cgi-bin/media/upload — PROTOCOL.md §9.4: multipart field `media`; a large file gets MEDIA_UPLOAD_TIMEOUT_MS. */
    uploadMedia: (accessToken: string, p: { type: string; bytes: Uint8Array; filename: string; contentType: string }) => {
      const form = new FormData()
      form.append('media', new File([p.bytes], p.filename, { type: p.contentType }))
      return call('/cgi-bin/media/upload', MediaUploadAnswer, { method: 'POST', query: { access_token: accessToken, type: p.type }, form, timeoutMs: Math.max(timeoutMs, MEDIA_UPLOAD_TIMEOUT_MS) })
    },
    /** GET /cgi-bin/media/get — the file as an unread Response, or a video's `{ video_url }`. */
    downloadMedia: (accessToken: string, mediaId: string) =>
      download('/cgi-bin/media/get', MediaVideoAnswer, { access_token: accessToken, media_id: mediaId }),
  }
}
export type WeChatClient = ReturnType<typeof createWeChatClient>
