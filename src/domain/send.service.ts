/**
 * @module `POST /api/send`: resolves recipients to bindings, checks the template data, and writes one
 * outbox row per recipient — all in one transaction before the answer, so accepted means stored.
 * Idempotency keys are scoped to the API key: the same key with the same body within 24 h answers the
 * first answer and stores nothing; with another body it is a 409.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { inChunks, yieldToEventLoop } from '../lib/chunks'
import type { Clock } from '../lib/clock'
import { pageCursor } from '../lib/cursor'
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors'
import type { Logger } from '../lib/log'
import type { Random } from '../lib/random'
import type { Db } from '../store/contract'
import type { AttemptRow, BindingRow, MessageRow, MessageStatus, NewMessage, Store } from '../store/contract'
import type { ChannelService } from './channel.service'
import type { EventsService } from './events.service'
import type { Outbox } from './outbox'
import { checkTemplateData, type TemplateDataWarning } from './template-data'
import { checkAgainstTemplates, type TemplatesService } from './templates.service'
import { CustomerMessage, CustomerParts, customPayload, templatePayload } from './customer-message'
import type { InboundService } from './inbound.service'

export const MAX_RECIPIENTS = 1000
export const IDEMPOTENCY_WINDOW_MS = 24 * 3600_000
export const WAIT_MS = 10_000
/** Rows per prune transaction (a window of seq, with their attempts): a few milliseconds of work each. */
export const PRUNE_WINDOW = 500


const TemplateValue = z.union([z.string(), z.object({ value: z.string(), color: z.string().optional() })])

/** Who a send goes to, and its idempotency key: the same for every type. */
const Recipients = {
  channel: z.string().optional().meta({ description: 'Channel id; default WXGATE_CHANNEL' }),
  to: z.union([z.string().min(1), z.array(z.string().min(1)).max(MAX_RECIPIENTS)]).optional()
    .meta({ description: 'Your user id(s) (subjects); each is sent to every active binding of it' }),
  openids: z.array(z.string().min(1).max(64)).max(MAX_RECIPIENTS).optional().meta({ description: 'OpenIDs to send to directly' }),
  idempotencyKey: z.string().min(1).max(128).optional().meta({ description: 'Same as the Idempotency-Key header' }),
}

export const TemplateSendBody = z.object({
  ...Recipients,
  type: z.literal('template').optional().meta({ description: 'template (the default) or a customer-service type (SPEC §7)' }),
  templateId: z.string().min(1).max(128),
  data: z.record(z.string().min(1).max(64), TemplateValue).meta({ description: 'Template keys → value or { value, color }', example: { thing1: '充值资金入账审核拒绝', amount2: '¥100.00', time3: '2026年11月24日 15:01' } }),
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  miniprogram: z.object({ appid: z.string().min(1), pagepath: z.string().optional() }).optional(),
})
export type TemplateSendBody = z.infer<typeof TemplateSendBody>

const P = CustomerParts
/**
 * POST /api/send: a template message (no `type`, or `"template"`) or a customer-service message, the fields
 * under the type's name. A discriminated union on `type`, template being the one without it.
 */
/** A title per member: the API documentation lists the union's options by name. */
const titled = <T extends z.ZodType>(t: T, title: string): T => t.meta({ title }) as T
export const SendBody = z.discriminatedUnion('type', [
  titled(TemplateSendBody, 'Template message (type absent or "template")'),
  titled(P.text.extend(Recipients), 'Customer-service text'), titled(P.image.extend(Recipients), 'Customer-service image'),
  titled(P.voice.extend(Recipients), 'Customer-service voice'), titled(P.video.extend(Recipients), 'Customer-service video'),
  titled(P.music.extend(Recipients), 'Customer-service music'), titled(P.news.extend(Recipients), 'Customer-service news (one article)'),
  titled(P.mpnews.extend(Recipients), 'Customer-service mpnews'), titled(P.msgmenu.extend(Recipients), 'Customer-service msgmenu'),
  titled(P.miniprogrampage.extend(Recipients), 'Customer-service miniprogrampage'),
])
export type SendBody = z.infer<typeof SendBody>

const Key = { idempotencyKey: Recipients.idempotencyKey }
/** POST /api/inbound/:id/reply: a customer-service message to the sender of that inbound message. */
export const ReplyBody = z.discriminatedUnion('type', [
  P.text.extend(Key), P.image.extend(Key), P.voice.extend(Key), P.video.extend(Key), P.music.extend(Key),
  P.news.extend(Key), P.mpnews.extend(Key), P.msgmenu.extend(Key), P.miniprogrampage.extend(Key),
])
export type ReplyBody = z.infer<typeof ReplyBody>

/**
 * The idempotency scope of sendCustomer (a reply hook's late answer, SPEC §7): it has no API key, and its
 * sends carry no idempotency key (the hook machinery calls it once per answer), so nothing is ever replayed.
 */
export const INTERNAL_SENDER = 'internal:customer'

export interface RecipientView { messageId: string; subject?: string; openid: string; status: MessageStatus; error?: string }
export interface SendAnswer {
  id: string
  recipients: RecipientView[]
  unresolved: string[]
  warnings?: TemplateDataWarning[]
}

export interface MessageView {
  messageId: string
  channel: string
  openid: string
  subject?: string
  /** 'template' or the customer-service type. */
  type: string
  /** Template messages only. */
  templateId?: string
  /** 'template' when a customer-service message's fallback template was sent instead. */
  sentAs?: string
  status: MessageStatus
  attempts: number
  errcode?: number
  error?: string
  wechatMsgId?: string
  createdAt: string
  sentAt?: string
  finishedAt?: string
}

const iso = (ms: number) => new Date(ms).toISOString()
/** GET /api/messages/:id's view, also the data of message.* events (a row just inserted has no seq yet). */
export const messageView = (m: Omit<MessageRow, 'seq' | 'lastCallAt' | 'uncertainSince' | 'type' | 'fallback' | 'sentAs'> & Partial<Pick<MessageRow, 'type' | 'fallback' | 'sentAs'>>): MessageView => ({
  messageId: m.id,
  channel: m.channelId,
  openid: m.openid,
  ...(m.subject !== null ? { subject: m.subject } : {}),
  type: m.type ?? 'template',
  ...((m.type ?? 'template') === 'template' ? { templateId: m.templateId } : {}),
  ...(m.sentAs ? { sentAs: m.sentAs } : {}),
  status: m.status as MessageStatus,
  attempts: m.attempts,
  ...(m.errcode !== null ? { errcode: m.errcode } : {}),
  ...(m.error !== null ? { error: m.error } : {}),
  ...(m.wechatMsgId !== null ? { wechatMsgId: m.wechatMsgId } : {}),
  createdAt: iso(m.createdAt),
  ...(m.sentAt !== null ? { sentAt: iso(m.sentAt) } : {}),
  ...(m.finishedAt !== null ? { finishedAt: iso(m.finishedAt) } : {}),
})

/** Canonical JSON (sorted keys), so that the same body in another key order is the same request. */
const canonical = (v: unknown): string =>
  Array.isArray(v) ? `[${v.map(canonical).join(',')}]`
    : v !== null && typeof v === 'object' ? `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`
      : JSON.stringify(v)

const cursor = pageCursor('m')

export interface SendServiceDeps {
  db: Db
  clock: Clock
  random: Random
  log: Logger
  channels: ChannelService
  outbox: Outbox
  /** The channel's template list, to refuse data keys a template does not have (absent: no such check). */
  templates?: Pick<TemplatesService, 'forSend'>
  defaultChannel: string
  /** Finished messages are deleted this long after they finished (ms). */
  retentionMs: number
  /** Events out (SPEC §6): message.failed for a recipient failed at accept (not_subscribed), in the accept transaction. */
  events?: Pick<EventsService, 'emit' | 'wants'>
  /** Resolves inbound ids (in_<n>) for replies. */
  inbound?: Pick<InboundService, 'get'>
}

/** The unique index found the idempotency key taken by a transaction that committed meanwhile (read again). */
class KeyTakenError extends ConflictError {}

export const createSendService = (deps: SendServiceDeps) => {
  const { db, clock, random, channels, outbox } = deps
  const log = deps.log.child({ module: 'send' })
  const repo = db.read.messages
  const newId = (prefix: string) => `${prefix}_${Buffer.from(random.bytes(15)).toString('base64url')}`

  /** Recipient rows for this request: active bindings queued, unsubscribed ones failed at once. */
  const resolve = async (s: Store, channelId: string, to: string[], openids: string[]) => {
    const binds = s.bindings
    const seen = new Set<string>()
    const out: { openid: string; subject: string | null; unsubscribed: boolean }[] = []
    const add = (openid: string, subject: string | null, b?: BindingRow) => {
      if (seen.has(openid)) return
      seen.add(openid)
      out.push({ openid, subject, unsubscribed: b?.status === 'unsubscribed' })
    }
    const unresolved: string[] = []
    for (const subject of to) {
      const rows = await binds.list({ channelId, subject, limit: MAX_RECIPIENTS })
      if (rows.length === 0) unresolved.push(subject)
      for (const b of rows) add(b.openid, subject, b)
    }
    for (const openid of openids) {
      const b = await binds.byOpenid(channelId, openid)
      add(openid, b?.subject ?? null, b)
    }
    return { out, unresolved }
  }

  /**
   * Accepts a send. Returns the answer and whether it is a replay of an earlier one. `apiKeyId` scopes the
   * idempotency key; `headerKey` is the Idempotency-Key header.
   */
  const send = async (body: SendBody, ctx: { apiKeyId: string; headerKey?: string }): Promise<{ answer: SendAnswer; replay: boolean }> => {
    if (body.idempotencyKey !== undefined && ctx.headerKey !== undefined && body.idempotencyKey !== ctx.headerKey) {
      throw new ValidationError('idempotencyKey: differs from the Idempotency-Key header')
    }
    const key = body.idempotencyKey ?? ctx.headerKey
    if (key !== undefined && (key.length === 0 || key.length > 128)) throw new ValidationError('Idempotency-Key: must be 1-128 characters')
    const channelId = body.channel ?? deps.defaultChannel
    if (!channels.get(channelId)) throw new ValidationError(`channel: no channel '${channelId}'`)
    const to = [...new Set(typeof body.to === 'string' ? [body.to] : body.to ?? [])]
    const openids = [...new Set(body.openids ?? [])]
    if (to.length === 0 && openids.length === 0) throw new ValidationError('to: give `to` (subjects) or `openids`')
    if (to.length + openids.length > MAX_RECIPIENTS) throw new ValidationError(`to: at most ${MAX_RECIPIENTS} recipients`)
    const template = body.type === undefined || body.type === 'template' ? body as TemplateSendBody : undefined
    const custom = template ? undefined : body as Exclude<SendBody, TemplateSendBody>
    // The template's data (a customer-service message's fallback's) is checked the same way.
    const tpl = template ?? custom?.fallback
    const prefix = template ? '' : 'fallback.'
    const checked = tpl ? checkTemplateData(tpl.data) : { errors: [], warnings: [] }
    if (checked.errors.length > 0) throw new ValidationError(`${prefix}${checked.errors[0]!.message}`, { details: checked.errors })
    // The template list is read before the transaction (a WeChat call at most, within 1 s; never a failed send
    // because it could not be read), and judged inside it, after the replay check: a replay answers as before.
    const list = tpl && deps.templates ? await deps.templates.forSend(channelId) : undefined
    const against = list && tpl ? checkAgainstTemplates(list, { channelId, templateId: tpl.templateId, keys: Object.keys(tpl.data) }) : {}
    const warnings = against.warning ? [...checked.warnings, against.warning] : checked.warnings

    // `type: "template"` hashes as no type, so a body hashes as it did before types existed (stored keys stay valid).
    const { idempotencyKey: _omit, ...rest } = body
    const hashed = template ? { ...rest, type: undefined } : rest
    const bodyHash = createHash('sha256').update(canonical({ ...hashed, channel: channelId })).digest('hex')
    const content = template
      ? { type: 'template', templateId: template.templateId, payload: templatePayload(template), fallback: null }
      : {
        type: custom!.type as string,
        templateId: '',
        payload: JSON.stringify(customPayload(custom as CustomerMessage)),
        fallback: custom!.fallback ? templatePayload(custom!.fallback) : null,
      }

    const accept = () => db.tx(async (s) => {
      const r = s.messages
      const now = clock.now()
      if (key !== undefined) {
        const earlier = await r.findRequest(ctx.apiKeyId, key)
        if (earlier && now - earlier.createdAt < IDEMPOTENCY_WINDOW_MS) {
          if (earlier.bodyHash !== bodyHash) throw new ConflictError('this Idempotency-Key was used with another body', { details: { requestId: earlier.id } })
          return { answer: JSON.parse(earlier.answer) as SendAnswer, replay: true }
        }
      }
      if (against.error) throw against.error
      const { out, unresolved } = await resolve(s, channelId, to, openids)
      if (out.length > MAX_RECIPIENTS) throw new ValidationError(`to: these subjects have ${out.length} bindings; at most ${MAX_RECIPIENTS} recipients`)
      const id = newId('req')
      const rows: NewMessage[] = out.map((o) => ({
        id: newId('msg'), requestId: id, channelId, openid: o.openid, subject: o.subject, ...content,
        status: o.unsubscribed ? 'failed' : 'queued', attempts: 0, errcode: null, error: o.unsubscribed ? 'not_subscribed' : null,
        wechatMsgId: null, nextAttemptAt: now, createdAt: now, sentAt: null, finishedAt: o.unsubscribed ? now : null,
      }))
      await r.insertMessages(rows)
      if (deps.events?.wants('message.failed', channelId)) {
        for (const m of rows) {
          if (m.status === 'failed') await deps.events.emit(s, { type: 'message.failed', channelId, data: { ...messageView(m) } })
        }
      }
      const answer: SendAnswer = {
        id,
        recipients: rows.map((m) => ({ messageId: m.id, ...(m.subject ? { subject: m.subject } : {}), openid: m.openid, status: m.status as MessageStatus, ...(m.error ? { error: m.error } : {}) })),
        unresolved,
        ...(warnings.length > 0 ? { warnings } : {}),
      }
      // A key older than the window is free again: the old row makes room for the new one. Only an old one: on
      // PostgreSQL a concurrent request with this key may have committed since the read above (its DELETE would
      // wait for that row and then remove it, and this request would be a second one): the insert below refuses.
      if (key !== undefined) await r.forgetRequest(ctx.apiKeyId, key, now - IDEMPOTENCY_WINDOW_MS)
      // The unique index (API key, idempotency key) stands behind the check above.
      if (!(await r.insertRequest({ id, apiKeyId: ctx.apiKeyId, idempotencyKey: key ?? null, bodyHash, answer: JSON.stringify(answer), createdAt: now }))) {
        throw new KeyTakenError('this Idempotency-Key is being used by another request')
      }
      return { answer, replay: false }
    })
    // The same key accepted at the same moment by another transaction (another instance on PostgreSQL, whose
    // row the unique index waited for): read again, it is a replay of that one (or a 409 for another body).
    const result = await accept().catch((e) => { if (e instanceof KeyTakenError) return accept(); throw e })
    if (!result.replay) {
      outbox.kick()
      log.info('send accepted', { requestId: result.answer.id, channel: channelId, recipients: result.answer.recipients.length, unresolved: result.answer.unresolved.length })
    }
    return result
  }

  /**
   * A customer-service message to one user, for the gateway itself (a reply hook's late answer, SPEC §7):
   * the same outbox as POST /api/send. No API key: its requests are scoped to INTERNAL_SENDER and carry no
   * idempotency key (each call is a new message).
   */
  const sendCustomer = async (input: { channel: string; openid: string; message: CustomerMessage }): Promise<{ messageId: string }> => {
    // Checked as POST /api/send checks its body (the caller's input is not HTTP-validated): 422 naming the field.
    const parsed = CustomerMessage.safeParse(input.message)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      throw new ValidationError(`${issue.path.join('.') || 'message'}: ${issue.message}`, { details: parsed.error.issues.map((i) => ({ path: i.path, message: i.message })) })
    }
    const message = parsed.data
    const { answer } = await send({ ...message, channel: input.channel, openids: [input.openid] } as SendBody, { apiKeyId: INTERNAL_SENDER })
    return { messageId: answer.recipients[0]!.messageId }
  }

  /**
   * POST /api/inbound/:id/reply: a customer-service message to the user who sent inbound message `id`
   * (404 for an id not kept), answered as POST /api/send.
   */
  const reply = async (inboundId: string, body: ReplyBody, ctx: { apiKeyId: string; headerKey?: string }) => {
    if (!deps.inbound) throw new NotFoundError('replies are not available')
    const sender = await deps.inbound.get(inboundId)
    return send({ ...body, channel: sender.channel, openids: [sender.openid] } as SendBody, ctx)
  }

  /** The answer with every recipient's current status (for ?wait=true). */
  const refresh = async (answer: SendAnswer): Promise<SendAnswer> => {
    const now = new Map((await repo.getMany(answer.recipients.map((r) => r.messageId))).map((m) => [m.id, m]))
    return {
      ...answer,
      recipients: answer.recipients.map((r) => {
        const m = now.get(r.messageId)
        return m ? { ...r, status: m.status as MessageStatus, ...(m.error ? { error: m.error } : {}) } : r
      }),
    }
  }

  const wait = async (answer: SendAnswer): Promise<SendAnswer> => {
    await outbox.waitFor(answer.recipients.map((r) => r.messageId), WAIT_MS)
    return refresh(answer)
  }

  const get = async (messageId: string): Promise<MessageView> => {
    const m = await repo.get(messageId)
    if (!m) throw new NotFoundError(`no message '${messageId}'`)
    return messageView(m)
  }

  const list = async (q: { channel?: string; subject?: string; status?: MessageStatus; templateId?: string; since?: string; limit?: number; cursor?: string }) => {
    const limit = q.limit ?? 50
    const since = q.since !== undefined ? Date.parse(q.since) : undefined
    if (since !== undefined && Number.isNaN(since)) throw new ValidationError('since: not an ISO-8601 time')
    const rows = await repo.list({ channelId: q.channel, subject: q.subject, status: q.status, templateId: q.templateId, since, beforeSeq: q.cursor ? cursor.decode(q.cursor) : undefined, limit: limit + 1 })
    const more = rows.length > limit
    const items = rows.slice(0, limit)
    return { items: items.map(messageView), ...(more ? { nextCursor: cursor.encode(items.at(-1)!.seq) } : {}) }
  }

  /**
   * Deletes finished messages past the retention, and idempotency records past their 24 h, in chunks of
   * PRUNE_WINDOW rows, one short transaction each, yielding to the event loop between them: a prune of a
   * large backlog never holds the write queue (callbacks, sends) for more than a few milliseconds.
   */
  const prune = async (): Promise<number> => {
    const now = clock.now()
    const finishedBefore = now - deps.retentionMs
    let pruned = 0
    const range = await repo.seqRange()
    for (let from = range?.min ?? 0; range && from <= range.max; from += PRUNE_WINDOW) {
      const start = from
      pruned += await db.tx((s) => s.messages.pruneWindow({ finishedBefore, fromSeq: start, window: PRUNE_WINDOW }))
      await yieldToEventLoop()
    }
    await inChunks((limit) => db.tx((s) => s.messages.pruneRequests({ before: now - IDEMPOTENCY_WINDOW_MS, limit })), PRUNE_WINDOW)
    if (pruned > 0) log.info('finished messages pruned', { count: pruned })
    return pruned
  }

  /**
   * A failed message sent again as a new one (the console's "send again", SPEC §9): the same channel, recipient and
   * content, a new id and so a new client_msg_id, under a request of its own made by `apiKeyId`. Only a failed
   * message: one still queued or sending would go twice, one sent has arrived.
   */
  const sendAgain = async (messageId: string, ctx: { apiKeyId: string }): Promise<{ messageId: string; requestId: string }> => {
    const made = await db.tx(async (s) => {
      const m = await s.messages.get(messageId)
      if (!m) throw new NotFoundError(`no message '${messageId}'`)
      if (m.status !== 'failed') throw new ConflictError(`only a failed message is sent again; this one is ${m.status}`)
      if (!channels.get(m.channelId)) throw new ConflictError(`the channel '${m.channelId}' of this message no longer exists`)
      // The recipient as `send` would find them now: a user who unfollowed, or a subject no longer bound to this
      // OpenID (unbound, or bound to another WeChat account since), is not sent the copy.
      if (m.error === 'not_subscribed') throw new ConflictError('the user does not follow the account (not_subscribed): nothing to send again')
      if (m.subject !== null) {
        const b = await s.bindings.byOpenid(m.channelId, m.openid)
        if (!b || b.subject !== m.subject || b.status !== 'active') throw new ConflictError(`'${m.subject}' is no longer bound to this OpenID (or unfollowed): send to the subject again through POST /api/send`)
      }
      const now = clock.now()
      const requestId = newId('req')
      const row: NewMessage = {
        id: newId('msg'), requestId, channelId: m.channelId, openid: m.openid, subject: m.subject, type: m.type, templateId: m.templateId, payload: m.payload, fallback: m.fallback,
        status: 'queued', attempts: 0, errcode: null, error: null, wechatMsgId: null, nextAttemptAt: now, createdAt: now, sentAt: null, finishedAt: null,
      }
      await s.messages.insertMessages([row])
      const answer: SendAnswer = { id: requestId, recipients: [{ messageId: row.id, ...(row.subject ? { subject: row.subject } : {}), openid: row.openid, status: 'queued' }], unresolved: [] }
      // Once per message and key (a double click, two tabs): the unique (API key, idempotency key) index decides.
      if (!(await s.messages.insertRequest({ id: requestId, apiKeyId: ctx.apiKeyId, idempotencyKey: `again:${messageId}`, bodyHash: `again:${messageId}`, answer: JSON.stringify(answer), createdAt: now }))) {
        throw new ConflictError('this message was sent again already')
      }
      return { messageId: row.id, requestId, channelId: m.channelId }
    })
    outbox.kick()
    log.info('message sent again', { from: messageId, messageId: made.messageId, requestId: made.requestId, channel: made.channelId })
    return { messageId: made.messageId, requestId: made.requestId }
  }

  /** One message with its attempts (oldest first), for the console's timeline. */
  const timeline = async (messageId: string): Promise<{ message: MessageView; requestId: string; attempts: AttemptRow[] }> => {
    const m = await repo.get(messageId)
    if (!m) throw new NotFoundError(`no message '${messageId}'`)
    return { message: messageView(m), requestId: m.requestId, attempts: [...(await repo.attemptsOf(messageId))].sort((a, b) => a.at - b.at || a.id - b.id) }
  }

  return { send, sendCustomer, reply, wait, get, list, prune, sendAgain, timeline }
}
export type SendService = ReturnType<typeof createSendService>
