/**
 * @module Everything the sandbox remembers, in one plain object that the endpoint modules share.
 * Day and month boundaries are Asia/Shanghai (UTC+8, no DST) because that is where WeChat's quotas roll over.
 */
import type { Clock } from '../lib/clock'
import type { CallbackTarget, CustomMessage, DeliveredMessage, InjectRule, ReceivedCall, SandboxAccount, SandboxTemplate } from './sandbox.types'

export type TokenKind = 'stable' | 'plain'

export interface TokenRecord {
  token: string
  appId: string
  kind: TokenKind
  expiresAt: number
  /** Answers 40001 (revokeTokens, or invalidated by a forced stable refresh). */
  revoked: boolean
  /** Answers 42001 before its time (expireTokens). */
  expiredByHand: boolean
  /** cgi-bin/token only: replaced by a newer token; answers 40001 from this time on. */
  supersededAt?: number
}

export interface UserRecord {
  subscribed: boolean
  /** Unix seconds of the last subscription. */
  subscribeTime: number
}

export interface AccountState {
  account: SandboxAccount
  users: Map<string, UserRecord>
  /** templateId → template, in the order added (the order get_all_private_template lists them). */
  templates: Map<string, SandboxTemplate>
  /** The stable token handed out to normal calls. */
  stableCurrent?: string
  /** The latest cgi-bin/token token. */
  plainCurrent?: string
  lastForceAt?: number
  forceDay: number
  forceCount: number
  quotaMonth: number
  quotaCount: number
  /** touser + "\n" + client_msg_id → first send within the dedup window. */
  dedup: Map<string, { msgid: string; at: number }>
  /** Where scan events are pushed; configuration, so reset() keeps it. */
  callback?: CallbackTarget
  /** openid → the customer-service window its latest interaction opened (custom.ts). */
  windows: Map<string, { until: number; quota: number; used: number; long: boolean }>
  /** openid → when the user last interacted (typing needs one in the last 30 s). */
  lastInteraction: Map<string, number>
  /** openid → until when "typing" shows. */
  typingUntil: Map<string, number>
}

export interface QrRecord {
  appId: string
  scene: string
  permanent: boolean
  expiresAt?: number
}

export interface ActiveRule {
  rule: InjectRule
  left: number
}

export interface SandboxState {
  clock: Clock
  random: () => number
  ttlSeconds: number
  accounts: Map<string, AccountState>
  tokens: Map<string, TokenRecord>
  calls: ReceivedCall[]
  rules: ActiveRule[]
  latencyMs: number
  tickets: Map<string, QrRecord>
  delivered: DeliveredMessage[]
  /** Customer-service messages delivered (message/custom/send). */
  customSent: CustomMessage[]
  /** The TEMPLATESENDJOBFINISH events to push after deliveries, or false for none. */
  templateFinish: { delayMs: number; status: string } | false
  /** Called for each message delivered (not for a deduplicated resend): the server schedules its event. */
  onTemplateSent?: (d: DeliveredMessage) => void
  /** Mixed into generated identifiers so they stay unique even with a constant `random`. */
  seq: number
}

export interface FormFile { filename: string; contentType: string; bytes: Uint8Array }

/** A request as the endpoint handlers see it: already read, so it can be recorded first. */
export interface SandboxRequest {
  method: string
  path: string
  query: Record<string, string>
  rawBody: string
  /** JSON.parse of the body; undefined when empty or not JSON (see `jsonOk`). */
  json: unknown
  jsonOk: boolean
  /** A multipart body (media/upload): its fields, files read ahead (the handlers are synchronous). */
  form?: Map<string, string | FormFile>
}

const HOUR_MS = 3_600_000
const SHANGHAI_OFFSET_MS = 8 * HOUR_MS

/** Days since the epoch, counted in Asia/Shanghai. */
export const shanghaiDay = (ms: number): number => Math.floor((ms + SHANGHAI_OFFSET_MS) / (24 * HOUR_MS))

/** Months since year 0, counted in Asia/Shanghai. */
export const shanghaiMonth = (ms: number): number => {
  const d = new Date(ms + SHANGHAI_OFFSET_MS)
  return d.getUTCFullYear() * 12 + d.getUTCMonth()
}

const newAccountState = (account: SandboxAccount): AccountState => ({
  account,
  users: new Map(),
  templates: new Map(),
  forceDay: -1,
  forceCount: 0,
  quotaMonth: -1,
  quotaCount: 0,
  dedup: new Map(),
  windows: new Map(),
  lastInteraction: new Map(),
  typingUntil: new Map(),
})

export const createSandboxState = (opts: { clock: Clock; random: () => number; ttlSeconds: number; accounts: SandboxAccount[] }): SandboxState => {
  const accounts = new Map<string, AccountState>()
  for (const a of opts.accounts) accounts.set(a.appId, newAccountState(a))
  return {
    clock: opts.clock,
    random: opts.random,
    ttlSeconds: opts.ttlSeconds,
    accounts,
    tokens: new Map(),
    calls: [],
    rules: [],
    latencyMs: 0,
    tickets: new Map(),
    delivered: [],
    customSent: [],
    templateFinish: false,
    seq: 0,
  }
}

/** Keeps accounts, users and templates; forgets everything a test run accumulates. */
export const resetState = (state: SandboxState): void => {
  state.tokens.clear()
  state.calls.length = 0
  state.rules.length = 0
  state.latencyMs = 0
  state.tickets.clear()
  state.delivered.length = 0
  state.customSent.length = 0
  for (const acc of state.accounts.values()) {
    acc.stableCurrent = undefined
    acc.plainCurrent = undefined
    acc.lastForceAt = undefined
    acc.forceDay = -1
    acc.forceCount = 0
    acc.quotaMonth = -1
    acc.quotaCount = 0
    acc.dedup.clear()
    acc.windows.clear()
    acc.lastInteraction.clear()
    acc.typingUntil.clear()
  }
}

/** For the programmatic API: a typo in a test's appId should fail loudly, not silently do nothing. */
export const accountOrThrow = (state: SandboxState, appId: string): AccountState => {
  const acc = state.accounts.get(appId)
  if (!acc) throw new Error(`sandbox: unknown account ${appId}`)
  return acc
}

export const nextSeq = (state: SandboxState): number => ++state.seq

/** `n` characters from `alphabet`, drawn with the injected random. */
export const randomChars = (state: SandboxState, alphabet: string, n: number): string => {
  let out = ''
  for (let i = 0; i < n; i++) {
    // Math.min guards a random() that returns exactly 1.
    out += alphabet[Math.min(alphabet.length - 1, Math.floor(state.random() * alphabet.length))]
  }
  return out
}

export const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
export const TOKEN_ALPHABET = `${ALNUM}_-`
