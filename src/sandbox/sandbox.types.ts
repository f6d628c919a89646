/** @module The public shapes of the sandbox WeChat API: options, the control handle, recorded calls, injections. */
import type { Clock } from '../lib/clock'
import type { SandboxMedia, SandboxMediaType } from './media'

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
  /** appId → the server URL WeChat pushes that account's events to (see Sandbox.scan). */
  callbacks?: Record<string, CallbackTarget>
  /** How long a pushed event waits for the server's answer before WeChat retries; default 5000, as WeChat. */
  callbackTimeoutMs?: number
  /**
   * After each template message delivered, the `TEMPLATESENDJOBFINISH` event pushed to the account's callback
   * target (if it has one). Default on: `{ delayMs: 200, status: 'success' }`; `false` sends none.
   */
  templateFinish?: TemplateFinishOptions | false
}

/** How the sandbox reports the fate of a delivered template message (see SandboxOptions.templateFinish). */
export interface TemplateFinishOptions {
  /**
   * Milliseconds between WeChat's answer to the send and the event; default 200. WeChat's own event comes
   * seconds later; the gateway records the msgid only after it read that answer, and an event it cannot match
   * yet is ignored, so the event must not come (practically) at once.
   */
  delayMs?: number
  /** `success` (default), `failed:user block`, `failed: system failed`, or any other text WeChat might send. */
  status?: string
}

/** An account's server configuration on mp.weixin.qq.com: where events go and how they are signed. */
export interface CallbackTarget {
  /** e.g. 'http://127.0.0.1:3000/wechat/demo'; signing parameters are appended to its query. */
  url: string
  token: string
  /** 43-character EncodingAESKey: when set, events are sent in safe mode (encrypted). */
  aesKey?: string
}

export interface ScanOptions {
  /** The QR ticket scanned; or leave it out and give `scene` (with `appId`, default the first account). */
  ticket?: string
  /** Without a ticket: the newest unexpired ticket of `appId` with this scene (the newest expired one if none). */
  scene?: string
  appId?: string
  /** Default DEMO_SCAN_OPENID; an unknown openid becomes a new, not yet subscribed user. */
  openid?: string
}

/** The user of `scan` when no openid is given. */
export const DEMO_SCAN_OPENID = 'o_demo_user_0001'

interface ScanBase {
  appId: string
  ticket: string
  scene: string
  openid: string
}

/** An expired code: the WeChat app only shows "二维码已过期" and nothing reaches the server. */
export interface ScanNotSent extends ScanBase {
  sent: false
  reason: 'expired'
}

export interface ScanSent extends ScanBase {
  sent: true
  /** 'subscribe' (EventKey qrscene_<scene>) for a user who was not subscribed, 'SCAN' (EventKey <scene>) otherwise. */
  event: 'subscribe' | 'SCAN'
  /** HTTP status of the last attempt; 0 when it got no answer (timeout, connection refused). */
  status: number
  /** The last answer's body as received; in safe mode the decrypted plaintext of an encrypted reply. */
  reply: string
  /** The <Content> of a text reply. */
  replyText?: string
  /** 1 to 3: WeChat retries twice when the answer is not 200 within the timeout. */
  attempts: number
  /** Why the last attempt failed (no answer), or why a safe-mode reply could not be opened. */
  error?: string
}

export type ScanResult = ScanSent | ScanNotSent

/**
 * What a sandbox user does (Sandbox.userSends): exactly one of `text`, `image`, `click`, `view`. The user is
 * DEMO_SCAN_OPENID unless `openid` is given; an openid the sandbox has not seen becomes a follower.
 */
export interface UserSendOptions {
  /** Default: the first account. */
  appId?: string
  openid?: string
  /** A text message (`Content`). */
  text?: string
  /** An image message; `mediaId` defaults to a random one, `picUrl` to the sandbox's /_sandbox/pic (a 1×1 PNG). */
  image?: { picUrl?: string; mediaId?: string }
  /** A CLICK menu event with this `EventKey` (the button's key). */
  click?: string
  /** A VIEW menu event: the button's URL (its `EventKey`). */
  view?: string
  /** With `view`: the `MenuId`; default 1. */
  menuId?: string
}

export interface UserSendResult {
  appId: string
  openid: string
  msgType: 'text' | 'image' | 'event'
  /** For a menu event. */
  event?: 'CLICK' | 'VIEW'
  /** For a message: 64-bit decimal, unique, as a string. */
  msgId?: string
  /** Unix seconds of the sandbox clock. */
  createTime: number
  picUrl?: string
  mediaId?: string
  /** The plaintext XML pushed (before encryption in safe mode). */
  xml: string
  /** HTTP status of the last attempt; 0 when it got no answer (timeout, connection refused). */
  status: number
  /** The last answer's body; in safe mode the decrypted plaintext of an encrypted reply. */
  reply: string
  /** The <Content> of a passive text reply. */
  replyText?: string
  /** 1 to 3: WeChat retries twice when the answer is not 200 within the timeout. */
  attempts: number
  /** Why the last attempt failed (no answer), or why a safe-mode reply could not be opened. */
  error?: string
}

/** The account `wxgate demo` talks to; its AppID and secret match the demo channel. */
export const DEMO_ACCOUNT: SandboxAccount = { appId: 'wxd3m0000000000001', appSecret: 'demo-app-secret' }

/** A template of an account's 我的模板 list, as get_all_private_template answers it. */
export interface SandboxTemplate {
  templateId: string
  title: string
  /** One field a line, e.g. `商品名称：{{thing1.DATA}}`; '' for a template added without one (its fields unknown). */
  content: string
  example: string
  primaryIndustry: string
  deputyIndustry: string
}

/** What addTemplate may say about a template; the rest defaults (title = the id, no content). */
export type TemplateInit = Partial<Omit<SandboxTemplate, 'templateId'>>

/**
 * Templates the demo account owns from the start, so the demo can send without setup. Category-template
 * keys (`thing1`, `amount2`, `time3`, …) with Chinese labels, numbered once each, as real ones are.
 */
export const DEMO_TEMPLATE_LIST: readonly SandboxTemplate[] = [
  {
    templateId: 'TPL_DEMO_ORDER_PAID',
    title: '订单支付成功通知',
    content: '商品名称：{{thing1.DATA}}\n支付金额：{{amount2.DATA}}\n支付时间：{{time3.DATA}}\n配送方式：{{thing4.DATA}}\n订单备注：{{thing5.DATA}}',
    example: '商品名称：巧克力\n支付金额：¥39.80\n支付时间：2026年11月24日 15:01\n配送方式：快递\n订单备注：不要辣',
    primaryIndustry: 'IT科技',
    deputyIndustry: '互联网|电子商务',
  },
  {
    templateId: 'TPL_DEMO_REFUND_REJECTED',
    title: '退款申请驳回通知',
    content: '退款金额：{{amount1.DATA}}\n驳回原因：{{thing2.DATA}}\n处理时间：{{time3.DATA}}',
    example: '退款金额：¥100.00\n驳回原因：商品已拆封使用\n处理时间：2026年11月24日 15:01',
    primaryIndustry: 'IT科技',
    deputyIndustry: '互联网|电子商务',
  },
]

/** The demo templates' ids. */
export const DEMO_TEMPLATES: readonly string[] = DEMO_TEMPLATE_LIST.map((t) => t.templateId)

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
  /**
   * With errcode: the errmsg echoes the access_token the call carried (and the AppSecret a token call
   * sent), as a careless upstream or proxy might; for checking that no secret leaks through an errmsg.
   */
  echoSecrets?: boolean
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

/** A customer-service message delivered (message/custom/send). */
export interface CustomMessage {
  appId: string
  touser: string
  msgtype: string
  /** The request body as sent (touser, msgtype, <msgtype>: {…}). */
  body: unknown
  at: number
}

/** What a user received, oldest first: template messages and customer-service messages. */
export type ReceivedMessage =
  | { kind: 'template'; at: number; template: DeliveredMessage }
  | { kind: 'custom'; at: number; custom: CustomMessage }

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
  /** Drops the injection rules still live (those of one path, or all): WeChat is healthy again. */
  clearInjections(path?: string): void
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
  /** Adds (or replaces) a template of the account; without `content` its fields are unknown (listed with content ''). */
  addTemplate(appId: string, templateId: string, init?: TemplateInit): void
  /** Template messages actually delivered; a deduplicated resend appears once. */
  delivered(appId?: string): DeliveredMessage[]
  /** Customer-service messages actually delivered (message/custom/send). */
  customMessages(appId?: string): CustomMessage[]
  /** Everything one user received, template and customer-service messages, oldest first. */
  receivedBy(appId: string, openid: string): ReceivedMessage[]
  /** The current valid stable token, for assertions. */
  currentToken(appId: string): string | undefined
  forceRefreshesToday(appId: string): number
  /** What a QR ticket stands for, so a test can simulate the scan; expired tickets are still answered. */
  qrScene(ticket: string): QrScene | undefined
  /** Sets (or with undefined removes) the account's server URL; kept by reset(). */
  setCallback(appId: string, target: CallbackTarget | undefined): void
  /**
   * A user scans a parametric QR code: the subscribe or SCAN event is POSTed to the account's callback
   * target, signed (and encrypted in safe mode) as WeChat does. Rejects with ScanError: 400 without ticket
   * or scene, 404 for an unknown ticket or scene, 409 when the account has no callback target.
   */
  scan(opts?: ScanOptions): Promise<ScanResult>
  /**
   * A user sends a text or image message, or taps a CLICK or VIEW menu button: POSTed to the account's callback
   * target as WeChat does (signed, encrypted in safe mode, retried twice on a non-200). Rejects with
   * UserSendError: 400 for not exactly one of text/image/click/view or an empty one, 409 when the account has no
   * callback target or the user does not follow it.
   */
  userSends(opts: UserSendOptions): Promise<UserSendResult>
  /** From now on: the delay and status of TEMPLATESENDJOBFINISH events (given fields only), or `false` for none. */
  setTemplateFinish(opts: TemplateFinishOptions | false): void
  /**
   * Forget calls, injections, latency, tokens, quotas, dedup, deliveries and tickets, and restore the
   * templateFinish option given at start; accounts, users, templates and callback targets stay.
   */
  reset(): void
  /** A temporary media the account holds (e.g. the MediaId of an image a user sent): its media_id for media/get. */
  addMedia(appId: string, bytes: Uint8Array, opts?: { type?: SandboxMediaType; contentType?: string; filename?: string }): string
  /** A media uploaded (media/upload) or added, with its bytes; undefined for an unknown id. */
  media(mediaId: string): SandboxMedia | undefined
}
