/** @module The public shapes of the sandbox WeChat API: options, the control handle, recorded calls, injections. */
import type { Clock } from '../lib/clock'

export interface SandboxAccount {
  appId: string
  appSecret: string
}

export interface SandboxOptions {
  /** Default '127.0.0.1': the sandbox is for loopback only. */
  hostname?: string
  /** Default 0: a random free port. */
  port?: number
  /** Default systemClock. Token expiry, quotas, dedup windows and QR expiry all read this clock. */
  clock?: Clock
  /** Default [DEMO_ACCOUNT]. */
  accounts?: SandboxAccount[]
  /** Default 7200, as WeChat. */
  tokenTtlSeconds?: number
  /** Randomness for tokens, tickets, msgids and rids; default Math.random (the sandbox is not protocol code). */
  random?: () => number
}

/** The account `wxgate demo` talks to; its AppID and secret match the demo channel. */
export const DEMO_ACCOUNT: SandboxAccount = { appId: 'wxd3m0000000000001', appSecret: 'demo-app-secret' }

/** Templates the demo account owns from the start, so the demo can send without setup. */
export const DEMO_TEMPLATES: readonly string[] = ['TPL_DEMO_ORDER_PAID', 'TPL_DEMO_REFUND_REJECTED']

export interface ReceivedCall {
  method: string
  path: string
  query: Record<string, string>
  /** Parsed JSON when the body was JSON, the raw text otherwise, undefined when empty. */
  body: unknown
  /** Clock milliseconds. */
  at: number
}

export interface InjectRule {
  /** Exact path, e.g. '/cgi-bin/stable_token'. */
  path: string
  /** Answer HTTP 200 {"errcode":N,"errmsg":…} with the official errmsg for N (plus a rid), or `errmsg` verbatim. */
  errcode?: number
  errmsg?: string
  /** Answer this HTTP status with a short text body instead; wins over errcode. */
  httpStatus?: number
  /** Wait before answering (with the above, or alone: then the normal answer follows). */
  delayMs?: number
  /** Never answer (until the client gives up or the sandbox stops). */
  hang?: boolean
  /** How many matching calls the rule applies to; default 1; Infinity allowed. */
  times?: number
}

export interface DeliveredMessage {
  appId: string
  touser: string
  template_id: string
  client_msg_id?: string
  /** 64-bit decimal, beyond 2^53: a string so no precision is lost. */
  msgid: string
  data: unknown
  url?: string
  miniprogram?: unknown
  at: number
}

export interface QrScene {
  appId: string
  /** scene_id as decimal text, or scene_str. */
  scene: string
  /** Clock ms; absent for permanent codes. */
  expiresAt?: number
}

export interface Sandbox {
  /** e.g. 'http://127.0.0.1:43123' (no trailing slash). */
  url: string
  stop(): Promise<void>
  inject(rule: InjectRule): void
  /** Added to every answer (control calls excepted). */
  setLatency(ms: number): void
  /** Every current token of the account (or of all accounts) answers 40001 from now on. */
  revokeTokens(appId?: string): void
  /** Every current token of the account (or of all accounts) answers 42001 from now on. */
  expireTokens(appId?: string): void
  /** Every call received (optionally only one path), in arrival order; control calls are not recorded. */
  received(path?: string): ReceivedCall[]
  calls(path: string): number
  addUser(appId: string, openid: string, opts?: { subscribed?: boolean }): void
  setSubscribed(appId: string, openid: string, subscribed: boolean): void
  addTemplate(appId: string, templateId: string): void
  /** Template messages actually delivered; a deduplicated resend appears once. */
  delivered(appId?: string): DeliveredMessage[]
  /** The current valid stable token, for assertions. */
  currentToken(appId: string): string | undefined
  forceRefreshesToday(appId: string): number
  /** What a QR ticket stands for, so a test can simulate the scan; expired tickets are still answered. */
  qrScene(ticket: string): QrScene | undefined
  /** Forget calls, injections, latency, tokens, quotas, dedup, deliveries and tickets; accounts, users, templates stay. */
  reset(): void
}
