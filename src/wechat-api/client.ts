/**
 * @module The WeChat server API client: base URL and fetch injected (tests use the sandbox on
 * loopback), a timeout on every call, each answer checked against its zod shape, and every failure
 * turned into one WeChatApiError with a class that tells the caller how to react. The access token
 * travels in the query string, so URLs are never logged — only the endpoint path.
 */
import type { z } from 'zod'
import { AppError } from '../lib/errors'
import type { Logger } from '../lib/log'
import { errcodeInfo, ipFromErrmsg, type ErrcodeClass } from '../wechat/errcodes'
import {
  ErrorAnswer, OkAnswer, QrCreateAnswer, StableTokenAnswer, TemplateSendAnswer, UserInfoAnswer,
  type QrCreateBody, type TemplateSendBody,
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

  constructor(p: { endpoint: string; errcode?: number; errmsg: string; class: ErrcodeClass; hint?: string; httpStatus?: number; cause?: unknown }) {
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
  log: Logger
  /**
   * Called after each call, for metrics: the endpoint path (never the URL: the query carries the token),
   * seconds, and undefined on success, else the errcode as text or, when WeChat gave none, the kind of
   * failure: timeout, network, http_5xx (http_4xx…), bad_answer.
   */
  onCall?: (endpoint: string, seconds: number, error: string | undefined) => void
}

/** Big integer fields (msgid) lose precision in JSON.parse; quote them first. */
const quoteBigInts = (text: string) => text.replace(/("msgid"\s*:\s*)(\d+)/g, '$1"$2"')

export const createWeChatClient = (o: WeChatClientOptions) => {
  const doFetch = o.fetch ?? fetch
  const timeoutMs = o.timeoutMs ?? 5000
  const log = o.log.child({ module: 'wechat-api' })

  const call = async <S extends z.ZodType>(endpoint: string, schema: S, init: { method: 'GET' | 'POST'; query?: Record<string, string>; body?: unknown }): Promise<z.infer<S>> => {
    const url = new URL(endpoint.replace(/^\//, ''), o.baseUrl.endsWith('/') ? o.baseUrl : `${o.baseUrl}/`)
    for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v)
    const started = performance.now()
    const fail = (e: WeChatApiError, kind = e.errcode !== undefined ? String(e.errcode) : 'bad_answer') => {
      o.onCall?.(endpoint, (performance.now() - started) / 1000, kind)
      log.warn('WeChat API call failed', { endpoint, errcode: e.errcode, errmsg: e.errmsg, class: e.class, httpStatus: e.httpStatus })
      return e
    }
    let res: Response
    try {
      res = await doFetch(url, {
        method: init.method,
        headers: init.body !== undefined ? { 'content-type': 'application/json' } : undefined,
        body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (e) {
      const timedOut = (e as Error)?.name === 'TimeoutError' || (e as Error)?.name === 'AbortError'
      throw fail(new WeChatApiError({ endpoint, errmsg: timedOut ? `no answer within ${timeoutMs} ms` : `network error: ${(e as Error)?.message ?? e}`, class: 'transient', cause: e }), timedOut ? 'timeout' : 'network')
    }
    let text: string
    try {
      text = await res.text()
    } catch (e) {
      throw fail(new WeChatApiError({ endpoint, errmsg: `answer cut off: ${(e as Error)?.message}`, class: 'transient', httpStatus: res.status, cause: e }), 'network')
    }
    if (res.status >= 500) throw fail(new WeChatApiError({ endpoint, errmsg: `HTTP ${res.status}`, class: 'transient', httpStatus: res.status }), 'http_5xx')
    if (res.status !== 200) throw fail(new WeChatApiError({ endpoint, errmsg: `HTTP ${res.status}`, class: 'permanent', httpStatus: res.status }), `http_${Math.floor(res.status / 100)}xx`)
    let json: unknown
    try {
      json = JSON.parse(quoteBigInts(text))
    } catch (e) {
      throw fail(new WeChatApiError({ endpoint, errmsg: 'answer is not JSON', class: 'transient', httpStatus: res.status, cause: e }))
    }
    const err = ErrorAnswer.safeParse(json)
    if (err.success && err.data.errcode !== 0) throw fail(apiError(endpoint, err.data.errcode, err.data.errmsg))
    const ok = schema.safeParse(json)
    if (!ok.success) {
      throw fail(new WeChatApiError({ endpoint, errmsg: `unexpected answer shape: ${ok.error.issues[0]?.message ?? ''}`, class: 'permanent', httpStatus: res.status }))
    }
    o.onCall?.(endpoint, (performance.now() - started) / 1000, undefined)
    return ok.data
  }

  return {
    call,
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
    createQrCode: (accessToken: string, body: QrCreateBody) =>
      call('/cgi-bin/qrcode/create', QrCreateAnswer, { method: 'POST', query: { access_token: accessToken }, body }),
    userInfo: (accessToken: string, openid: string) =>
      call('/cgi-bin/user/info', UserInfoAnswer, { method: 'GET', query: { access_token: accessToken, openid, lang: 'zh_CN' } }),
    /** The showqrcode link for a ticket (on mp.weixin.qq.com in production; the sandbox serves it too). */
    showQrCodeUrl: (ticket: string, base = 'https://mp.weixin.qq.com') => `${base.replace(/\/$/, '')}/cgi-bin/showqrcode?ticket=${encodeURIComponent(ticket)}`,
  }
}
export type WeChatClient = ReturnType<typeof createWeChatClient>
