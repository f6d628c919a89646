/**
 * @module The WeChat callback path: check → decrypt → parse → dedup → dispatch → reply → encrypt.
 *
 * Exactly-once: the dedup row (unique per channel + dedup key) is inserted in the same transaction as
 * the handlers' effects, with the reply of that first attempt. A retry of a finished message gets the
 * stored reply; a retry while the first attempt still runs waits for it (in-process map); a failed
 * attempt rolls back everything and answers 500 so that WeChat retries and the retry does the work.
 * Slow work is answered `success` at the deadline and still committed.
 */
import type { Clock } from '../lib/clock'
import { unixSeconds } from '../lib/clock'
import { AppIdMismatchError, BadXmlError, InvalidSignatureError, NotFoundError } from '../lib/errors'
import { inChunks } from '../lib/chunks'
import type { Logger } from '../lib/log'
import type { Random } from '../lib/random'
import type { Db, EndpointRow, Store } from '../store/contract'
import { aesKeyFrom, decrypt, encryptReply } from '../wechat/crypto'
import { dedupKey } from '../wechat/dedup-key'
import { parseMessage, type InboundMessage } from '../wechat/messages'
import { buildReply } from '../wechat/replies'
import { verifyMsgSignature, verifySignature } from '../wechat/signature'
import { parseXml } from '../wechat/xml'
import type { Channel, ChannelService } from './channel.service'
import { UNHANDLED, type Dispatcher } from './dispatch'
import { eventBody, type EventInput, type EventsService, type EventType } from './events.service'
import { callbackEventData, callbackEventType } from './inbound-events'
import { lateMessageOf, type HookEvent, type HookOutcome, type ReplyHook } from './reply-hook'
import { feedEventId } from './webhook-feed'

export const SUCCESS = 'success'
/** The stored reply while a reply hook's answer is awaited (a retry that finds it after a crash asks the hook again). */
const HOOK_PENDING = ''
export const DEFAULT_REPLY_TIMEOUT_MS = 3000
/** A hook's budget ends this long before the callback's deadline: the reply is stored and answered in it. */
const HOOK_MARGIN_MS = 250
export const MAX_BODY_BYTES = 64 * 1024

export type Query = Record<string, string | undefined>

export interface CallbackAnswer {
  status: 200
  body: string
  contentType: 'text/plain; charset=utf-8' | 'application/xml; charset=utf-8'
  /** How it was answered, for logs and metrics. */
  outcome: 'handled' | 'duplicate' | 'waited' | 'deadline'
  msgType?: string
  dedupKey?: string
}

export interface CallbackEvents {
  onDuplicate?: (channelId: string) => void
  onHandlerFailure?: (channelId: string) => void
  onHandled?: (channelId: string, message: InboundMessage) => void
}

export interface CallbackServiceDeps {
  db: Db
  clock: Clock
  random: Random
  log: Logger
  channels: ChannelService
  dispatcher: Dispatcher
  /** Seconds a signed callback stays acceptable around its timestamp; 0 = no check. */
  maxAgeSeconds: number
  allowEmptyToken: boolean
  /** Answer `success` when processing takes longer than this (ms) from arrival. */
  deadlineMs?: number
  events?: CallbackEvents
  /** Events out (SPEC §6) that rules emit, written inside the callback's transaction. */
  eventsOut?: Pick<EventsService, 'emit'>
  /** Reply hooks (SPEC §7): the endpoint that answers a callback's event, and the call. */
  replyHooks?: { hookFor: (channelId: string, type: EventType) => EndpointRow | undefined; call: ReplyHook['call'] }
  /** WXGATE_REPLY_TIMEOUT_MS (default 3000). */
  replyTimeoutMs?: number
  /** Sends a late reply hook answer to the user as a customer-service message (SPEC §7 body). */
  lateReply?: (channelId: string, openid: string, message: { type: string; [k: string]: unknown }) => Promise<unknown>
  /** The newest inbound id the webhook feed has dealt with for every active endpoint: rows after it are not pruned. */
  feedFloor?: () => Promise<number | undefined> | number | undefined
  /** Dedup rows (the inbound history, SPEC §6) are kept this long; at least 72 h whatever is set. Default 72 h. */
  retentionMs?: number
}

/** WeChat retries within seconds; a dedup record is kept at least this long (SPEC §3). */
export const MIN_RETENTION_MS = 72 * 3600_000

/** Thrown by handle* for a failure inside processing: the route answers 500 so WeChat retries. */
export class HandlerFailedError extends Error {
  override name = 'HandlerFailedError'
}

export const createCallbackService = (deps: CallbackServiceDeps) => {
  const { db, clock, random, channels, dispatcher } = deps
  const log = deps.log.child({ module: 'callback' })
  const deadlineMs = deps.deadlineMs ?? 4500
  const inbound = db.read.inbound
  const inflight = new Map<string, Promise<Processed>>()

  const channelOrThrow = async (channelId: string): Promise<Channel> => {
    const c = channels.get(channelId) ?? await channels.find(channelId)
    if (!c) throw new NotFoundError(`unknown channel '${channelId}'`)
    if (c.token === '') {
      if (!deps.allowEmptyToken) throw new NotFoundError(`channel '${channelId}' has an empty callback token`)
      log.warn('channel has an empty callback token: anyone can forge callbacks', { channel: c.id })
    }
    return c
  }

  const checkTimestamp = (channel: Channel, timestamp: string | undefined) => {
    if (!timestamp || !/^\d{1,12}$/.test(timestamp)) throw new InvalidSignatureError('missing or malformed timestamp')
    if (deps.maxAgeSeconds === 0) return
    const skew = Math.abs(unixSeconds(clock) - Number(timestamp))
    if (skew > deps.maxAgeSeconds) {
      log.warn('callback timestamp too far from the server clock: a replayed URL, or check the server clock (NTP)', { channel: channel.id, skewSeconds: skew, maxAgeSeconds: deps.maxAgeSeconds })
      throw new InvalidSignatureError('timestamp outside the accepted window')
    }
  }

  const checkPlainSignature = (channel: Channel, q: Query) => {
    const { signature, timestamp, nonce } = q
    if (!signature || !nonce) throw new InvalidSignatureError('missing signature or nonce')
    checkTimestamp(channel, timestamp)
    if (!verifySignature({ token: channel.token, timestamp: timestamp!, nonce, signature })) {
      throw new InvalidSignatureError('signature does not match')
    }
  }

  /** GET: URL verification. Returns the echostr to send back unchanged. */
  const verify = async (channelId: string, q: Query): Promise<string> => {
    const channel = await channelOrThrow(channelId)
    checkPlainSignature(channel, q)
    if (q.echostr === undefined) throw new InvalidSignatureError('missing echostr')
    // What the WeChat admin's 提交 (服务器配置) does: seen in the journal, so a passed check is told from none.
    log.info('URL verification passed (服务器配置 提交)', { channel: channel.id })
    return q.echostr
  }

  /** Turns a request body into the plaintext XML fields, checking the signatures of its mode. */
  const open = (channel: Channel, q: Query, raw: string): { fields: Record<string, unknown>; plainXml: string; encrypted: boolean } => {
    const aes = q.encrypt_type === 'aes'
    if (!aes || q.signature !== undefined) checkPlainSignature(channel, q)
    if (!aes) return { fields: parseXml(raw), plainXml: raw, encrypted: false }

    if (!q.msg_signature || !q.nonce) throw new InvalidSignatureError('missing msg_signature or nonce')
    checkTimestamp(channel, q.timestamp)
    const envelope = parseXml(raw)
    const encrypt = envelope.Encrypt
    if (typeof encrypt !== 'string' || encrypt === '') throw new BadXmlError('encrypted callback without <Encrypt>')
    if (!verifyMsgSignature({ token: channel.token, timestamp: q.timestamp!, nonce: q.nonce, encrypt, msgSignature: q.msg_signature })) {
      throw new InvalidSignatureError('msg_signature does not match')
    }
    if (!channel.aesKey) {
      // Compatible mode also carries the plaintext fields, which we can serve; safe mode cannot be.
      if (typeof envelope.MsgType === 'string' && envelope.MsgType !== '') {
        return { fields: envelope, plainXml: raw, encrypted: false }
      }
      log.error('WeChat sends encrypted messages but the channel has no EncodingAESKey: set it (WXGATE_AES_KEY or `wxgate channel add --aes-key`)', { channel: channel.id })
      throw new BadXmlError('encrypted message for a channel without EncodingAESKey')
    }
    try {
      const { xml } = decrypt(encrypt, aesKeyFrom(channel.aesKey), channel.appId)
      return { fields: parseXml(xml), plainXml: xml, encrypted: true }
    } catch (e) {
      if (e instanceof AppIdMismatchError) {
        log.warn('AppID inside the ciphertext is not this channel\'s AppID', { channel: channel.id })
      }
      throw e
    }
  }

  /**
   * The one attempt that does the work, in one transaction: first the dedup row (with `success` as its
   * reply), then the handlers, then — only when a rule handled it or there is a reply — an update of that
   * row. If the insert finds the row already there (a retry of a finished message, or another process
   * committed it first), the handlers do not run and the stored reply is answered. The common case
   * (nothing to reply) is one write and no read; a handler that throws rolls back the row with its effects.
   */
  /** The reply hook's call for a callback, prepared inside the transaction (outside it, the call). */
  interface HookCall { ep: EndpointRow; event: HookEvent; toMessage: boolean; rule: string; claimed: boolean }
  const hookCallFor = async (s: Store, channel: Channel, message: InboundMessage, row: { id: number; receivedAt: number }, claimed: boolean, rule: string): Promise<HookCall | undefined> => {
    const type = deps.replyHooks ? callbackEventType(message, claimed) : undefined
    const ep = type && deps.replyHooks!.hookFor(channel.id, type)
    if (!type || !ep) return undefined
    const subject = (await s.bindings.byOpenid(channel.id, message.fromUserName))?.subject
    const data = callbackEventData(type, message, { channel: channel.id, subject, claimed, inboundId: `in_${row.id}` })
    // The same id and body the feed would build from the row (webhook-feed.ts): one webhook-id per happening.
    return { ep, event: { id: feedEventId(row), body: eventBody(type, data, row.receivedAt) }, toMessage: message.msgType !== 'event', rule, claimed }
  }

  const process = async (channel: Channel, message: InboundMessage, key: string, plainXml: string, receivedAt: number): Promise<Processed> => {
    const now = clock.now()
    // A hook may answer this one (an in-memory check; `false`: a claim only ever removes the callback's event).
    const hookMaybe = deps.replyHooks !== undefined && (() => { const t = callbackEventType(message, false); return t !== undefined && deps.replyHooks!.hookFor(channel.id, t) !== undefined })()
    const result = await db.tx(async (s): Promise<Processed & { hook?: HookCall; pendingSince?: number }> => {
      const id = await s.inbound.insertReturningId({
        channelId: channel.id,
        dedupKey: key,
        msgType: message.msgType,
        event: 'event' in message && typeof message.event === 'string' ? message.event : null,
        fromUser: message.fromUserName,
        createTime: message.createTime,
        body: plainXml,
        reply: SUCCESS,
        handledBy: UNHANDLED,
        receivedAt: now,
      })
      // A retry (or another process's first attempt) returns here, before dispatch: no second event.
      if (id === undefined) {
        const stored = (await s.inbound.findReply(channel.id, key)) ?? SUCCESS
        if (stored !== HOOK_PENDING) return { body: stored, duplicate: true }
        // The first attempt's reply hook has not finished: it may still run on another instance (then this
        // copy waits for its answer, below), or it never finished (a crash, a stop): then this copy asks it
        // again, with the same webhook-id. (A copy that arrives while this process runs it waits in `inflight`.)
        const row = await s.inbound.findRow(channel.id, key)
        const hook = row ? await hookCallFor(s, channel, message, row, row.claimed, row.handledBy) : undefined
        return { body: SUCCESS, duplicate: true, ...(hook && row ? { hook, pendingSince: row.receivedAt } : {}) }
      }
      let claimed = false
      let ruleEvents: EventInput[] | undefined
      const out = await dispatcher.dispatch({
        channel, message, store: s, now, log,
        emit: async (type: EventType, data: Record<string, unknown>) => { (ruleEvents ??= []).push({ type, channelId: channel.id, data }) },
        claim: () => { claimed = true },
      })
      const body = out.reply
        ? buildReply(out.reply, { toUserName: message.fromUserName, fromUserName: message.toUserName, createTime: unixSeconds(clock) })
        : SUCCESS
      // Built-in rules first: a rule's reply (the bind reply) is the answer, and a claimed scan never reaches a hook.
      const hook = body === SUCCESS && hookMaybe ? await hookCallFor(s, channel, message, { id, receivedAt: now }, claimed, out.rule) : undefined
      if (hook) await s.inbound.setOutcome(channel.id, key, HOOK_PENDING, out.rule, claimed)
      else if (body !== SUCCESS || out.rule !== UNHANDLED) await s.inbound.setOutcome(channel.id, key, body, out.rule, claimed)
      // The callback's own event out (message.received, user.*, menu.clicked …) is this row itself: the
      // webhook feed reads it after the commit (webhook-feed.ts), so a callback writes nothing more for it.
      // What a rule emitted (binding.*, message.delivered) is stored as events here, in this transaction.
      if (ruleEvents && deps.eventsOut) for (const e of ruleEvents) await deps.eventsOut.emit(s, e)
      return { body, duplicate: false, ...(hook ? { hook } : {}) }
    // A message no rule looks at (and no hook answers) is one INSERT: no SAVEPOINT needed around it. More
    // statements (a rule's writes, a hook's pending mark): then the SAVEPOINT keeps them one whole with the dedup row.
    }, { savepoint: dispatcher.matches(message) || hookMaybe })
    if (result.duplicate) deps.events?.onDuplicate?.(channel.id)
    else deps.events?.onHandled?.(channel.id, message)
    if (!result.hook) return result
    if (result.pendingSince !== undefined && db.shared) {
      const answered = await othersHookAnswer(channel, key, result.pendingSince, receivedAt)
      if (answered !== undefined) return { body: answered, duplicate: true }
    }
    return { body: await askHook(channel, message, key, result.hook, receivedAt), duplicate: result.duplicate }
  }

  /**
   * A retry that finds the first attempt's hook still pending on a shared database: while that attempt may
   * still be running (on another instance: it began less than a callback deadline ago), its answer is waited for, polled every
   * 50 ms until this copy's own deadline budget for a hook is used; undefined when the first attempt is over
   * (crashed) or did not answer in time: then this copy asks the hook itself.
   */
  const othersHookAnswer = async (channel: Channel, key: string, pendingSince: number, receivedAt: number): Promise<string | undefined> => {
    const until = Math.min(pendingSince + deadlineMs, receivedAt + deadlineMs - HOOK_MARGIN_MS)
    while (clock.now() < until) {
      await new Promise((r) => setTimeout(r, 50))
      const stored = await inbound.findReply(channel.id, key)
      if (stored !== undefined && stored !== HOOK_PENDING) return stored
    }
    return undefined
  }

  /**
   * Calls the reply hook outside any transaction, within the budget (WXGATE_REPLY_TIMEOUT_MS, and never past
   * the callback's deadline), and stores what WeChat is answered as the message's reply, so that a retry gets
   * it again without a second call. A failure or a late hook is `success` (logged with what was wrong); a late
   * answer within 30 s goes to the user as a customer-service message unless the endpoint says lateReply: drop.
   */
  const askHook = async (channel: Channel, message: InboundMessage, key: string, h: HookCall, receivedAt: number): Promise<string> => {
    const budget = Math.min(deps.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS, receivedAt + deadlineMs - HOOK_MARGIN_MS - clock.now())
    const onLate = (o: HookOutcome) => {
      if (o.kind !== 'reply') return
      const late = lateMessageOf(o.reply)
      if (h.ep.lateReply === 'drop' || !late || !deps.lateReply) {
        log.info('reply hook answered late; its reply is dropped', { channel: channel.id, endpoint: h.ep.id, dedupKey: key, ...(h.ep.lateReply === 'drop' ? { lateReply: 'drop' } : {}) })
        return
      }
      deps.lateReply(channel.id, message.fromUserName, late).then(
        (r) => log.info('reply hook answered late: its reply goes to the user as a customer-service message', { channel: channel.id, endpoint: h.ep.id, dedupKey: key, ...(r && typeof r === 'object' && 'messageId' in r ? { messageId: (r as { messageId: string }).messageId } : {}) }),
        (e) => log.warn('reply hook answered late, and its reply could not be queued as a customer-service message', { channel: channel.id, endpoint: h.ep.id, error: e }),
      )
    }
    const o = budget > 0 ? await deps.replyHooks!.call(h.ep, h.event, budget, h.toMessage, onLate) : { kind: 'failed' as const, why: 'no time left before WeChat\'s deadline' }
    let body = SUCCESS
    if (o.kind === 'reply') body = buildReply(o.reply, { toUserName: message.fromUserName, fromUserName: message.toUserName, createTime: unixSeconds(clock) })
    if (o.kind === 'failed') log.warn('reply hook failed; WeChat is answered success', { channel: channel.id, endpoint: h.ep.id, url: h.ep.url, dedupKey: key, why: o.why, ...(o.status !== undefined ? { status: o.status } : {}) })
    try {
      await db.tx((s) => s.inbound.setOutcome(channel.id, key, body, h.rule, h.claimed), { savepoint: false })
    } catch (e) {
      // The answer is known: WeChat gets it. Unrecorded, a retry asks the hook again (same webhook-id).
      log.error('could not store the reply hook\'s answer; a WeChat retry asks the hook again', { channel: channel.id, dedupKey: key, error: e })
    }
    return body
  }

  const withDeadline = <T>(p: Promise<T>, receivedAt: number): Promise<T | typeof DEADLINE> => {
    const left = Math.max(0, receivedAt + deadlineMs - clock.now())
    let timer: ReturnType<typeof setTimeout> | undefined
    const t = new Promise<typeof DEADLINE>((resolve) => { timer = setTimeout(() => resolve(DEADLINE), left) })
    return Promise.race([p, t]).finally(() => clearTimeout(timer))
  }

  /** POST: one message or event. Throws AppError (4xx) before business logic, HandlerFailedError (500) inside it. */
  const handle = async (channelId: string, q: Query, raw: string, receivedAt = clock.now()): Promise<CallbackAnswer> => {
    const channel = await channelOrThrow(channelId)
    const { fields, plainXml, encrypted } = open(channel, q, raw)
    const message = parseMessage(fields)
    const key = dedupKey(message)
    const ctx = { msgType: message.msgType, dedupKey: key }

    const answer = (body: string, outcome: CallbackAnswer['outcome']): CallbackAnswer => {
      // One line per callback (answer is called once per request), so a user's first message shows in the
      // journal. The fields are built here only, once; the content only at debug (it is a user's words).
      if (log.enabled('info')) {
        log.info('callback', {
          channel: channel.id,
          type: message.kind === 'unknown' ? message.event ?? message.msgType : message.kind,
          openid: message.fromUserName,
          dedupKey: key,
          ...(outcome === 'duplicate' || outcome === 'waited' ? { duplicate: true } : {}),
          ...(log.enabled('debug') ? { body: plainXml } : {}),
        })
      }
      if (body === SUCCESS) return { status: 200, body: SUCCESS, contentType: 'text/plain; charset=utf-8', outcome, ...ctx }
      const out = encrypted
        ? encryptReply({ plainXml: body, token: channel.token, key: aesKeyFrom(channel.aesKey!), appId: channel.appId, timestamp: String(unixSeconds(clock)), nonce: q.nonce!, random16: random.bytes(16) })
        : body
      return { status: 200, body: out, contentType: 'application/xml; charset=utf-8', outcome, ...ctx }
    }

    const flightKey = `${channel.id}\u0000${key}`
    for (let attempt = 0; ; attempt++) {
      // A copy of a message whose first attempt still runs in this process waits for it.
      const running = inflight.get(flightKey)
      if (running) {
        deps.events?.onDuplicate?.(channel.id)
        try {
          const done = await withDeadline(running, receivedAt)
          return done === DEADLINE ? answer(SUCCESS, 'deadline') : answer(done.body, 'waited')
        } catch {
          // The first attempt failed and rolled back: this copy does the work instead.
          if (attempt < 3) continue
          throw new HandlerFailedError('handling failed')
        }
      }
      const p = process(channel, message, key, plainXml, receivedAt)
      let answeredAtDeadline = false
      inflight.set(flightKey, p)
      p.finally(() => { if (inflight.get(flightKey) === p) inflight.delete(flightKey) }).catch(() => undefined)
      p.catch((e) => {
        deps.events?.onHandlerFailure?.(channel.id)
        // WeChat does not retry a callback it got `success` for: a failure after that answer loses the message.
        if (answeredAtDeadline) {
          log.error('callback lost: answered success at the deadline, then processing failed; WeChat will not retry it', { channel: channel.id, dedupKey: key, msgType: message.msgType, body: plainXml, error: e })
        } else {
          log.error('callback handling failed; rolled back, answered 500 so that WeChat retries', { channel: channel.id, dedupKey: key, msgType: message.msgType, error: e })
        }
      })
      const done = await withDeadline(p, receivedAt).catch((e) => { throw new HandlerFailedError('handling failed', { cause: e }) })
      if (done === DEADLINE) {
        answeredAtDeadline = true
        log.warn('callback processing passed the deadline; answered success, it goes on', { channel: channel.id, dedupKey: key, msgType: message.msgType })
        return answer(SUCCESS, 'deadline')
      }
      return answer(done.body, done.duplicate ? 'duplicate' : 'handled')
    }
  }

  /**
   * Deletes dedup rows (the inbound history) older than `maxAgeMs` (WXGATE_INBOUND_RETENTION_DAYS, never
   * under 72 h: WeChat retries within seconds, SPEC §3), in chunks.
   */
  const prune = async (maxAgeMs = deps.retentionMs ?? MIN_RETENTION_MS): Promise<number> => {
    const before = clock.now() - Math.max(MIN_RETENTION_MS, maxAgeMs)
    return inChunks(async (limit) => {
      const floor = await deps.feedFloor?.()
      return db.tx((s) => s.inbound.pruneBefore(before, limit, floor))
    })
  }

  return { verify, handle, prune }
}

const DEADLINE = Symbol('deadline')
interface Processed { body: string; duplicate: boolean }
export type CallbackService = ReturnType<typeof createCallbackService>
