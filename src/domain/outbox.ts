/**
 * @module The outbox worker: sends queued template and customer-service messages through WeChat, in order, with a bounded
 * number of calls in flight and a send rate per channel, and records every attempt.
 *
 * - Each call carries `client_msg_id` = messageId, so WeChat delivers a message once even when it is
 *   sent again after a lost answer or a crash ("对于同一个openid + client_msg_id, 只发送一条消息").
 * - Transient failures (-1, 45011, HTTP 5xx, timeouts, network) are retried with exponential backoff
 *   and jitter — the first retry within 2 s, doubling up to 60 s, after 45011 not before the next
 *   minute — until the message is older than the maximum age; then it fails.
 * - Token errors go through the token service (one refresh flight, then the call is retried).
 * - A failure to obtain the token (40164, 40125, 89503, WeChat unreachable …) is not the message's: it
 *   stays queued with its attempts unchanged (no send call was made) and the channel pauses until the
 *   token service's fetch backoff (1 s … 60 s) lets one message try again; sending resumes by itself.
 * - Permanent errors fail the message at once with errcode and a readable error; 43004 also marks the
 *   user's binding unsubscribed.
 * - 45009 from template send (or stable_token) pauses the channel: messages stay queued until the quota
 *   is back (00:00 Asia/Shanghai or clear-quota); the token status shows it.
 * - A call whose answer was lost may have been delivered: see UNCERTAIN_MAX_MS (the 9-minute rule).
 * - A result that cannot be recorded (disk full) is held in memory and recorded again with backoff until
 *   it is stored, so a message never stays `sending` while the server runs.
 * - At start, messages caught mid-call by a crash or a stop go back to the queue (under the 9-minute rule).
 * - Several instances on one database (SPEC §8, Db.shared): a message is claimed by one instance (its
 *   instanceId) with a lease of LEASE_MS, renewed every LEASE_RENEW_MS while the call runs. Its result is
 *   recorded only while that instance still holds the claim; an instance that died (SIGKILL, power) leaves
 *   its claims to lapse, and any running instance puts them back in the queue (checked every
 *   TAKEOVER_CHECK_MS: within 30 s + 10 s of the death) to be sent again under the same client_msg_id (the
 *   9-minute rule still applies). An instance that lost its claim drops its late result with a log line.
 *   The per-channel send rate is one token bucket in the database (rate_buckets `send:<channel>`), taken
 *   from in the claim's transaction, so it holds for all instances together; the in-flight limit
 *   (concurrency) is per instance.
 * - Customer-service messages (messages.type ≠ 'template', SPEC §7) go through message/custom/send, which has
 *   no client_msg_id: WeChat cannot deduplicate a resend, so for them the FIRST uncertain answer (timeout, cut
 *   connection, 5xx, a crash mid-call) is final — `delivery_unknown`, never a blind resend (the 9-minute rule
 *   is for template sends only). 45015 → failed `outside_window`, 45047 → failed `window_quota_used`. With a
 *   fallback, a closed window (known before the call from the inbound log, or answered 45015) sends the
 *   template instead (with client_msg_id, under the 9-minute rule), recorded as sent_as = 'template' as soon
 *   as it is tried, so a retry goes on with the template rather than the customer-service message. Without a
 *   fallback the call is made even when the gateway thinks the window closed: WeChat knows windows the
 *   gateway cannot see (payments, interactions older than the inbound log), and its 45015 decides.
 * - message.sent / message.failed (SPEC §6, delivery_unknown included) are emitted in the transaction that
 *   records the result: the row is read back there (GET /api/messages/:id's view), only when an endpoint
 *   wants the type.
 */
import type { Clock } from '../lib/clock'
import { createPump } from '../lib/pump'
import type { Logger } from '../lib/log'
import type { Random } from '../lib/random'
import type { Db } from '../store/contract'
import type { MessageRow } from '../store/contract'
import { errcodeInfo } from '../wechat/errcodes'
import { WeChatApiError, type WeChatClient } from '../wechat-api/client'
import type { CustomSendBody, TemplateSendBody } from '../wechat-api/endpoints'
import type { EventsService } from './events.service'
import { messageView } from './send.service'
import { isTokenFetchError, QuotaExhaustedError, TEMPLATE_SEND_API, type TokenService } from './token.service'

/** The quota name of message/custom/send (token.service apiOf). */
export const CUSTOM_SEND_API = 'message/custom/send'
export const OUTSIDE_WINDOW = 'outside_window'
export const WINDOW_QUOTA_USED = 'window_quota_used'
/** A customer-service message waiting for its API's daily quota looks again this often (clear-quota lifts it early). */
const CUSTOM_QUOTA_POLL_MS = 60_000

export interface OutboxOptions {
  /** Messages per second per channel. */
  ratePerSecond: number
  /** WeChat calls in flight per channel. */
  concurrency: number
  /** A message still failing this long after it was accepted fails for good (ms). */
  maxAgeMs: number
}

export interface OutboxDeps {
  db: Db
  /**
   * This instance's id (Deps.instanceId): the owner of its leases and claims on a shared database (SPEC §8).
   * Default 'local' (tests that build the service alone).
   */
  instanceId?: string
  clock: Clock
  random: Random
  log: Logger
  tokens: TokenService
  wechat: WeChatClient
  /** The channels to send for (the channel service's cached list). */
  channelIds: () => string[]
  options: OutboxOptions
  /** After a result is recorded, for metrics: sent, failed (for good), retry (queued again), paused (45009). */
  onResult?: (channelId: string, status: 'sent' | 'failed' | 'retry' | 'paused', errcode: number | null) => void
  /** Events out (SPEC §6): message.sent / message.failed in the transaction that records the result. */
  events?: Pick<EventsService, 'emit' | 'wants'>
  /** The user's customer-service window as the gateway knows it (users.service windowOf); absent: never known closed. */
  window?: (channelId: string, openid: string) => Promise<{ open: boolean }>
}

const FINAL = new Set(['sent', 'delivered', 'failed'])
const FIRST_RETRY_MS = 1000
const MAX_RETRY_MS = 60_000
/** How often the worker looks for due messages when nothing woke it. */
const IDLE_POLL_MS = 250
/**
 * The 9-minute rule. WeChat deduplicates on client_msg_id for 10 minutes only. A call whose answer was
 * lost (timeout, network error after the request went out, HTTP 5xx, an unreadable answer, a crash or
 * stop mid-call: WeChatApiError.uncertain, or a row found `sending` at start) may have been delivered, so
 * once the first such call is this old the message is not sent again: it fails with `delivery_unknown`
 * rather than risk a duplicate. A clear errcode answer (45011, -1, 40001 …) means WeChat answered: that
 * call is not uncertain (an earlier uncertain call still counts). Enforced in sendOne, right before every
 * call, against messages.uncertain_since.
 */
export const UNCERTAIN_MAX_MS = 9 * 60_000
/** Recording a result again after a failed write: from this, doubling, up to RECORD_MAX_RETRY_MS. */
const RECORD_FIRST_RETRY_MS = 50
const RECORD_MAX_RETRY_MS = 5000
/** Once stopping, a result that still cannot be recorded is tried this many more times, then left `sending` for the next start. */
const RECORD_TRIES_WHEN_STOPPING = 3
/** A message that waits for the token is looked at again no sooner than this (the channel pause decides when). */
const TOKEN_WAIT_MS = 250

export const DELIVERY_UNKNOWN = 'delivery_unknown'

/**
 * How long a claim holds without being renewed (ms). Renewed every LEASE_RENEW_MS while the call runs, so
 * only an instance that stopped running (or lost the database for 20 s) lets it lapse; well above the WeChat
 * call's own timeout, so a slow call is not taken over while it is still under way.
 */
export const LEASE_MS = 30_000
export const LEASE_RENEW_MS = 10_000
/** How often an instance on a shared database looks for lapsed claims: a dead instance's messages move on within LEASE_MS + this (≤ 60 s). */
export const TAKEOVER_CHECK_MS = 10_000
/** waitFor on a shared database also reads the rows this often: another instance may send the message. */
const WAIT_POLL_MS = 200

/** The message must not be sent again (the 9-minute rule above). */
export class DeliveryUnknownError extends Error {
  override name = 'DeliveryUnknownError'
  constructor(since: number, custom = false) {
    super(custom
      ? `${DELIVERY_UNKNOWN}: it may or may not have been delivered — the answer to a customer-service call made at ${new Date(since).toISOString()} was lost, and message/custom/send has no client_msg_id, so it is not sent again`
      : `${DELIVERY_UNKNOWN}: it may or may not have been delivered — the answer to a call made at ${new Date(since).toISOString()} was lost, and WeChat's client_msg_id protects against a duplicate for 10 minutes only, so it is not sent again`)
  }
}

/** What one WeChat call for a message ended in. */
type Outcome =
  | { kind: 'sent'; wechatMsgId: string | null }
  | { kind: 'retry'; errcode: number | null; error: string; notBefore?: number }
  | { kind: 'paused'; errcode: number | null; error: string; notBefore?: number }
  | { kind: 'token'; errcode: number | null; error: string }
  | { kind: 'failed'; errcode: number | null; error: string }

const readable = (e: WeChatApiError): string =>
  e.errcode !== undefined ? `${errcodeInfo(e.errcode).meaning} (${e.errcode}: ${e.errmsg})${e.hint ? ` — ${e.hint}` : ''}` : e.errmsg

export const classify = (e: unknown, now: number): Outcome => {
  // The stored error is the bare code (as `not_subscribed` is, SPEC §4); the log line carries the explanation.
  if (e instanceof DeliveryUnknownError) return { kind: 'failed', errcode: null, error: DELIVERY_UNKNOWN }
  if (e instanceof QuotaExhaustedError) return { kind: 'paused', errcode: 45009, error: e.message }
  if (isTokenFetchError(e) && e instanceof WeChatApiError) return { kind: 'token', errcode: e.errcode ?? null, error: `waiting for an access token: ${readable(e)}` }
  if (e instanceof WeChatApiError) {
    const errcode = e.errcode ?? null
    if (e.class === 'quota') return { kind: 'paused', errcode, error: readable(e) }
    if (e.class === 'permanent') return { kind: 'failed', errcode, error: readable(e) }
    // 45011: the minute quota; WeChat says to retry next minute.
    const notBefore = errcode === 45011 ? Math.ceil((now + 1) / 60_000) * 60_000 : undefined
    return { kind: 'retry', errcode, error: readable(e), ...(notBefore ? { notBefore } : {}) }
  }
  // Anything else (a bug, a database hiccup) is retried rather than lost.
  return { kind: 'retry', errcode: null, error: e instanceof Error ? e.message : String(e) }
}

export const createOutbox = (deps: OutboxDeps) => {
  const { db, clock, random, tokens, wechat, options } = deps
  const log = deps.log.child({ module: 'outbox' })
  const repo = db.read.messages
  /** The owner of this instance's claims (SPEC §8). */
  const owner = deps.instanceId ?? 'local'

  /**
   * `inFlight`: this instance's calls for the channel (the concurrency limit is per instance). `rateWaitUntil`:
   * the shared bucket was found short at the last take; before this it cannot hold a whole token again for
   * us (what was left was under one token, refilling at the rate), so the pass does not open a transaction
   * to find it empty again.
   */
  interface ChannelState { inFlight: number; rateWaitUntil: number }
  const channels = new Map<string, ChannelState>()
  const stateOf = (id: string): ChannelState => {
    let s = channels.get(id)
    if (!s) channels.set(id, (s = { inFlight: 0, rateWaitUntil: 0 }))
    return s
  }
  /**
   * The channel's token bucket (rate_buckets `send:<channel>`, shared by the instances), refilled continuously
   * at the rate, holding at most a tenth of a second's worth: bursts stay small, so no second carries more
   * than the rate plus that tenth (a one-second bucket let the first second carry twice the rate).
   */
  const burst = Math.max(1, Math.ceil(options.ratePerSecond / 10))
  const bucket = { ratePerSecond: options.ratePerSecond, burst }
  /** The ids this instance is sending now: never claimed twice here (a row taken over and queued again waits for another instance or for our call to end). */
  const mine = new Set<string>()
  let nextRenewAt = 0
  let nextTakeoverAt = 0

  const waiters = new Map<string, Set<() => void>>()
  const settled = (id: string) => {
    const w = waiters.get(id)
    if (!w) return
    waiters.delete(id)
    for (const f of w) f()
  }

  let running = false
  let stopped = true
  let timer: ReturnType<typeof setTimeout> | undefined
  const inFlight = new Set<Promise<void>>()

  const backoff = (attempts: number): number => {
    const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1))
    // Full jitter on the upper half: spreads retries of a batch that failed together.
    const r = random.bytes(2)
    return Math.round(base * (0.5 + ((r[0]! << 8) | r[1]!) / 65535 / 2))
  }

  /** Resolves after ms, or at once when the outbox stops. */
  let halt = new AbortController()
  const pause = (ms: number) => new Promise<void>((resolve) => {
    if (halt.signal.aborted) return resolve()
    const done = () => { clearTimeout(t); resolve() }
    const t = setTimeout(() => { halt.signal.removeEventListener('abort', done); resolve() }, ms)
    halt.signal.addEventListener('abort', done, { once: true })
  })

  /**
   * Writes what a call ended in. A failed write (disk full, I/O error) is retried with backoff, holding
   * the outcome in memory, until it is stored: the row must not stay `sending` while we run. Only once
   * the outbox stops does it give up, leaving the row `sending` for the next start (the 9-minute rule).
   */
  const record = async <T>(m: MessageRow, write: () => Promise<T>): Promise<T | undefined> => {
    for (let failures = 0; ; failures++) {
      try {
        return await write()
      } catch (e) {
        if (stopped && failures >= RECORD_TRIES_WHEN_STOPPING) {
          log.error('could not record a send result before stopping; the next start resumes the message', { messageId: m.id, error: e })
          return undefined
        }
        const delay = Math.min(RECORD_MAX_RETRY_MS, RECORD_FIRST_RETRY_MS * 2 ** failures)
        if (failures === 0 || delay === RECORD_MAX_RETRY_MS) log.error('could not record a send result; trying again', { messageId: m.id, failures: failures + 1, retryInMs: delay, error: e })
        await pause(delay)
      }
    }
  }

  const sendOne = async (m: MessageRow): Promise<void> => {
    const state = stateOf(m.channelId)
    const custom = m.type !== 'template'
    let calls = 0
    const started = clock.now()
    /** The start of the first call of this round whose answer was lost (see UNCERTAIN_MAX_MS). */
    let uncertainAt: number | undefined
    /** 'template' once a customer-service message's fallback is being sent instead. */
    let sentAs: 'template' | null = m.sentAs === 'template' ? 'template' : null
    /** The customer-service message itself is (still) what is sent. */
    const asCustom = () => custom && sentAs === null
    /** The 9-minute rule, checked before the token is fetched and again right before each call. */
    const checkNotTooLate = () => {
      const since = m.uncertainSince ?? uncertainAt
      if (since === null || since === undefined) return
      // No client_msg_id on custom/send: an earlier call that may have gone through is never repeated.
      if (asCustom()) throw new DeliveryUnknownError(since, true)
      if (clock.now() - since >= UNCERTAIN_MAX_MS) throw new DeliveryUnknownError(since)
    }
    const sendTemplate = (payload: Omit<TemplateSendBody, 'touser' | 'client_msg_id'>) => tokens.withToken(m.channelId, async (accessToken) => {
      checkNotTooLate()
      calls++
      const callStarted = clock.now()
      try {
        return await wechat.sendTemplate(accessToken, { touser: m.openid, ...payload, client_msg_id: m.id })
      } catch (e) {
        if (e instanceof WeChatApiError && e.uncertain) uncertainAt ??= callStarted
        throw e
      }
    }, { api: TEMPLATE_SEND_API })
    const sendCustom = (payload: { msgtype: string; [field: string]: unknown }) => tokens.withToken(m.channelId, async (accessToken) => {
      checkNotTooLate()
      calls++
      const callStarted = clock.now()
      try {
        await wechat.sendCustom(accessToken, { ...payload, touser: m.openid } satisfies CustomSendBody)
      } catch (e) {
        // The first uncertain answer is final for a customer-service message (see the module comment).
        if (e instanceof WeChatApiError && e.uncertain) throw new DeliveryUnknownError(callStarted, true)
        throw e
      }
    }, { api: CUSTOM_SEND_API })
    /** The message's WeChat msgid (a template's; null for a customer-service message: custom/send gives none). */
    const deliver = async (): Promise<string | null> => {
      if (!custom) return (await sendTemplate(JSON.parse(m.payload) as Omit<TemplateSendBody, 'touser' | 'client_msg_id'>)).msgid
      const fallback = m.fallback !== null ? JSON.parse(m.fallback) as Omit<TemplateSendBody, 'touser' | 'client_msg_id'> : undefined
      if (fallback && sentAs === null && deps.window && !(await deps.window(m.channelId, m.openid)).open) sentAs = 'template'
      if (sentAs === null) {
        try {
          await sendCustom(JSON.parse(m.payload) as { msgtype: string })
          return null
        } catch (e) {
          if (!(fallback && e instanceof WeChatApiError && e.errcode === 45015)) throw e
          sentAs = 'template'
        }
      }
      return (await sendTemplate(fallback!)).msgid
    }
    let outcome: Outcome
    try {
      checkNotTooLate()
      outcome = { kind: 'sent', wechatMsgId: await deliver() }
    } catch (e) {
      outcome = classify(e, clock.now())
      if (asCustom() && outcome.kind === 'failed' && outcome.errcode === 45015) outcome = { ...outcome, error: OUTSIDE_WINDOW }
      if (asCustom() && outcome.kind === 'failed' && outcome.errcode === 45047) outcome = { ...outcome, error: WINDOW_QUOTA_USED }
      // The template quota pauses the channel's templates (sendingPausedUntil); a customer-service row (its
      // custom/send quota, or its fallback template's) is paused alone: it must not be picked again at once by
      // the customer-service scan, or the worker spins on it.
      if (custom && outcome.kind === 'paused') outcome = { ...outcome, notBefore: clock.now() + Math.min(CUSTOM_QUOTA_POLL_MS, e instanceof QuotaExhaustedError ? Math.max(0, e.until - clock.now()) : CUSTOM_QUOTA_POLL_MS) }
    }
    const now = clock.now()
    const extraCalls = calls - 1
    const attempts = m.attempts + extraCalls
    const uncertainSince = m.uncertainSince ?? uncertainAt ?? null
    const recorded = await record(m, () => db.tx(async (s): Promise<'sent' | 'failed' | 'retry' | 'paused' | 'lost'> => {
      const r = s.messages
      /** The message as GET /api/messages/:id shows it now, as the event's data (read only when wanted). */
      const emitResult = async (status: 'sent' | 'failed') => {
        const type = status === 'sent' ? 'message.sent' : 'message.failed'
        if (!deps.events?.wants(type, m.channelId)) return
        const row = await r.get(m.id)
        if (row?.status === status) await deps.events.emit(s, { type, channelId: m.channelId, data: { ...messageView(row) } })
      }
      const attempt = async () => {
        if (calls === 0) return
        await r.addAttempt({
          messageId: m.id, at: started, durationMs: now - started,
          outcome: outcome.kind === 'sent' ? 'ok' : outcome.kind === 'paused' ? 'quota' : outcome.kind === 'token' ? 'token' : outcome.kind === 'failed' ? 'permanent' : 'transient',
          errcode: outcome.kind === 'sent' ? null : outcome.errcode,
          error: outcome.kind === 'sent' ? null : outcome.error,
        })
      }
      // Each result is written first, on the condition that the claim is still ours; only then its attempt,
      // the binding and the event (nothing of a result that lost its claim is recorded).
      switch (outcome.kind) {
        case 'sent':
          if (!(await r.markSent(m.id, { owner, wechatMsgId: outcome.wechatMsgId, now, extraCalls, sentAs }))) return 'lost'
          await attempt()
          await emitResult('sent')
          return 'sent'
        case 'failed':
          if (!(await r.markFailed(m.id, { owner, errcode: outcome.errcode, error: outcome.error, now, extraCalls, sentAs }))) return 'lost'
          await attempt()
          if (outcome.errcode === 43004) await s.bindings.setStatus({ channelId: m.channelId, openid: m.openid, status: 'unsubscribed', now })
          await emitResult('failed')
          return 'failed'
        case 'paused':
          // Not the message's fault: it waits in the queue, first in line, until the quota is back.
          if (!(await r.markRetry(m.id, { owner, nextAttemptAt: outcome.notBefore ?? now, errcode: outcome.errcode, error: outcome.error, extraCalls, uncertainSince, sentAs }))) return 'lost'
          await attempt()
          return 'paused'
        case 'token':
          // Not the message's fault either: the channel pauses until a token can be had (sendingPausedUntil).
          if (!(await r.markRetry(m.id, { owner, nextAttemptAt: now + TOKEN_WAIT_MS, errcode: outcome.errcode, error: outcome.error, extraCalls, uncertainSince, sentAs }))) return 'lost'
          await attempt()
          return 'paused'
        case 'retry': {
          if (now - m.createdAt >= options.maxAgeMs) {
            if (!(await r.markFailed(m.id, { owner, errcode: outcome.errcode, error: `gave up after ${attempts} attempts: ${outcome.error}`, now, extraCalls, sentAs }))) return 'lost'
            await attempt()
            await emitResult('failed')
            return 'failed'
          }
          const next = Math.max(now + backoff(attempts), outcome.notBefore ?? 0)
          if (!(await r.markRetry(m.id, { owner, nextAttemptAt: next, errcode: outcome.errcode, error: outcome.error, extraCalls, uncertainSince, sentAs }))) return 'lost'
          await attempt()
          return 'retry'
        }
      }
    }))
    if (recorded === 'lost') {
      // Another instance took the message over (our lease lapsed: this process stalled or lost the database
      // for longer than LEASE_MS). It sends it again under the same client_msg_id; its result is the one kept.
      log.warn('send result dropped: the message was taken over by another instance meanwhile', { messageId: m.id, channel: m.channelId, outcome: outcome.kind, errcode: outcome.kind === 'sent' ? null : outcome.errcode })
    }
    else if (recorded !== undefined) deps.onResult?.(m.channelId, recorded, outcome.kind === 'sent' ? null : outcome.errcode)
    if (recorded !== 'lost' && outcome.kind === 'failed') {
      log.warn('message failed', {
        messageId: m.id, channel: m.channelId, errcode: outcome.errcode, error: outcome.error,
        ...(outcome.error === DELIVERY_UNKNOWN ? {
          why: custom && sentAs === null
            ? 'a customer-service call may have reached WeChat (its answer was lost) and message/custom/send has no client_msg_id: not sent again; it may or may not have been delivered'
            : 'an earlier call may have reached WeChat (its answer was lost) and client_msg_id protects against a duplicate for 10 minutes only: not sent again; it may or may not have been delivered',
        } : {}),
      })
    }
    else if (outcome.kind === 'retry') log.info('message will be retried', { messageId: m.id, channel: m.channelId, errcode: outcome.errcode, attempts })
    state.inFlight--
    mine.delete(m.id)
    if (recorded !== 'lost' && (outcome.kind === 'sent' || outcome.kind === 'failed')) settled(m.id)
    kick()
  }

  /**
   * On a shared database: renews the leases of this instance's calls in flight (one statement for all of
   * them) and puts lapsed claims of dead instances back in the queue. By the injected clock, from the pass
   * (which runs at least every IDLE_POLL_MS), so a test moves time instead of waiting.
   */
  const maintainLeases = async (now: number): Promise<void> => {
    if (mine.size === 0) nextRenewAt = now + LEASE_RENEW_MS
    else if (now >= nextRenewAt) {
      nextRenewAt = now + LEASE_RENEW_MS
      try {
        await repo.renewLeases(owner, now + LEASE_MS)
      } catch (e) {
        log.error('could not renew the leases of the messages being sent; trying again', { error: e })
      }
    }
    if (now < nextTakeoverAt) return
    nextTakeoverAt = now + TAKEOVER_CHECK_MS
    try {
      const n = await repo.requeueLapsed(now, { owner })
      if (n > 0) log.warn('taking over messages whose instance stopped mid-send (lease lapsed); they are sent again with the same client_msg_id (or fail delivery_unknown after 9 minutes)', { count: n })
    } catch (e) {
      // Tried again at the next check, not at every pass: a database that is away is one line per check.
      log.error('could not look for lapsed claims; trying again', { error: e, retryInMs: TAKEOVER_CHECK_MS })
    }
  }

  /**
   * One pass: per channel, read the due messages that may go now (in-flight limit, quota), then in one
   * transaction take what the shared rate allows from the channel's bucket, claim that many and give back
   * what another instance claimed first; send what was claimed.
   */
  const pass = async (): Promise<void> => {
    const now = clock.now()
    if (db.shared) await maintainLeases(now)
    const wanted: { channelId: string; rows: MessageRow[] }[] = []
    for (const channelId of deps.channelIds()) {
      const st = stateOf(channelId)
      const room = options.concurrency - st.inFlight
      if (room <= 0 || now < st.rateWaitUntil) continue
      // The template quota (45009) pauses templates only: customer-service messages (their own API and
      // quota) still go, found through their own partial index. No token at all pauses both.
      let rows: MessageRow[]
      if ((await tokens.sendingPausedUntil(channelId)) === undefined) rows = await repo.due(channelId, now, room)
      else if ((await tokens.sendingPausedUntil(channelId, CUSTOM_SEND_API)) === undefined) rows = await repo.dueCustom(channelId, now, room)
      else continue
      // A row of ours taken over and queued again (we stalled) is left to another instance while our call runs.
      rows = rows.filter((m) => !mine.has(m.id))
      if (rows.length > 0) wanted.push({ channelId, rows })
    }
    if (wanted.length === 0) return
    const claimed = await db.tx(async (s) => {
      const out: { channelId: string; rateWaitUntil: number; rows: MessageRow[] }[] = []
      for (const w of wanted) {
        // The time of the take and the claims is read here, not at the pass's start: the due scans before it
        // took a while, and the bucket paces the calls as they go out now.
        const at = clock.now()
        const name = `send:${w.channelId}`
        const granted = await s.rates.take(name, w.rows.length, { ...bucket, now: at })
        const rows: MessageRow[] = []
        for (const m of w.rows.slice(0, granted)) {
          const row = await s.messages.claim(m.id, { owner, now: at, leaseUntil: at + LEASE_MS })
          if (row) rows.push(row)
        }
        if (rows.length < granted) await s.rates.giveBack(name, granted - rows.length)
        out.push({ channelId: w.channelId, rateWaitUntil: granted < w.rows.length ? at + Math.ceil(1000 / options.ratePerSecond) : 0, rows })
      }
      return out
    })
    for (const c of claimed) {
      const st = stateOf(c.channelId)
      st.rateWaitUntil = c.rateWaitUntil
      for (const row of c.rows) {
        st.inFlight++
        mine.add(row.id)
        const p = sendOne(row).finally(() => inFlight.delete(p))
        inFlight.add(p)
      }
    }
  }

  /** When the timer fires (its earliest deadline: a later schedule never postpones it). */
  let timerDue = Infinity
  const schedule = (ms: number) => {
    if (stopped) return
    const due = clock.now() + ms
    if (timer !== undefined && timerDue <= due) return
    clearTimeout(timer)
    timerDue = due
    timer = setTimeout(() => { timer = undefined; timerDue = Infinity; kick() }, ms)
  }
  /**
   * The next pass when idle: when the first channel waiting for its rate may take again, else IDLE_POLL_MS (a
   * message falling due). Every finished call also kicks a pass; before, each of those that found the bucket
   * short set the timer 1/rate s from then again, so a channel's next claim slipped behind its bucket and a
   * 20/s channel drained at 94 % of its rate (bench/send).
   */
  const idleWait = (): number => {
    const now = clock.now()
    let wait = IDLE_POLL_MS
    for (const st of channels.values()) if (st.rateWaitUntil > now) wait = Math.min(wait, st.rateWaitUntil - now)
    return Math.max(1, Math.ceil(wait))
  }

  /** Looks for work now (after an accept, a finished call, or the timer). */
  const pump = createPump({
    pass,
    stopped: () => stopped,
    onError: (e) => log.error('outbox pass failed', { error: e }),
    // The bucket refills 1/rate s per message; come back then, or when something falls due.
    onIdle: () => schedule(idleWait()),
  })
  const kick = pump.kick

  return {
    /** Requeues what a crash left mid-call and starts the worker. */
    start: async (): Promise<void> => {
      // Their last call may have reached WeChat: it counts as uncertain from when it started (9-minute rule).
      // On a shared database only the claims that lapsed (their instance died) and this instance's own (none of
      // its calls is in flight yet); the others' are being sent by them.
      const now = clock.now()
      const n = await db.tx((s) => db.shared ? s.messages.requeueLapsed(now, { owner, includeOwn: true }) : s.messages.requeueSending(now))
      nextTakeoverAt = now + TAKEOVER_CHECK_MS
      if (n > 0) log.warn('resuming messages caught mid-send by a stop; they are sent again with the same client_msg_id (or fail delivery_unknown after 9 minutes)', { count: n })
      halt = new AbortController()
      stopped = false
      running = true
      kick()
    },
    kick,
    /**
     * Stops picking new messages, answers every waitFor (?wait=true) with what is known now, and waits for
     * the calls in flight to be recorded (the caller aborts WeChat calls that hang: wechat.abortAll()).
     */
    stop: async (): Promise<void> => {
      stopped = true
      clearTimeout(timer)
      timer = undefined
      timerDue = Infinity
      halt.abort()
      for (const id of [...waiters.keys()]) settled(id)
      await pump.settled()
      await Promise.allSettled([...inFlight])
      running = false
    },
    running: () => running,
    /** Resolves when every message is sent/delivered/failed, or after `timeoutMs`. */
    waitFor: async (ids: string[], timeoutMs: number): Promise<void> => {
      // Stopping: nothing more will finish here; answer with what is known.
      if (ids.length === 0 || stopped) return
      await new Promise<void>((resolve) => {
        const open = new Set(ids)
        let done = false
        let poll: ReturnType<typeof setTimeout> | undefined
        const finish = () => {
          done = true
          clearTimeout(t)
          clearTimeout(poll)
          for (const [id, f] of listeners) waiters.get(id)?.delete(f)
          resolve()
        }
        const t = setTimeout(finish, timeoutMs)
        const listeners = ids.map((id) => {
          const f = () => { open.delete(id); if (open.size === 0) finish() }
          let w = waiters.get(id)
          if (!w) waiters.set(id, (w = new Set()))
          w.add(f)
          return [id, f] as const
        })
        /** Reads the open rows; on a shared database again every WAIT_POLL_MS (another instance may send them: no listener here hears it). */
        const read = async () => {
          try {
            for (const m of await repo.getMany([...open])) if (FINAL.has(m.status)) open.delete(m.id)
          } catch {
            // A failed read is retried at the next poll (or the timeout answers with what is known).
          }
          if (done) return
          if (open.size === 0) finish()
          else if (db.shared) poll = setTimeout(() => void read(), WAIT_POLL_MS)
        }
        // Listening first, then reading: a message that finished in between is not missed.
        void read()
      })
    },
  }
}
export type Outbox = ReturnType<typeof createOutbox>
