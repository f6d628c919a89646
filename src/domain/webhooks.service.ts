/**
 * @module Webhook endpoints (SPEC §6): create (the secret shown once), list, get, change, delete, rotate the
 * secret (24 h of double signatures), send a test event; list an endpoint's deliveries and retry a failed
 * one. The delivery itself is the worker's (webhook-worker.ts). Every change drops the events service's
 * cache of endpoints (another process's change is seen through db.dataVersion()).
 */
import { z } from 'zod'
import type { Clock } from '../lib/clock'
import { pageCursor } from '../lib/cursor'
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors'
import type { Logger } from '../lib/log'
import type { Random } from '../lib/random'
import { newWebhookSecret } from '../lib/standard-webhooks'
import type { Db, DeliveryRow, EndpointPatch, EndpointRow, WebhooksRepo } from '../store/contract'
import { EVENT_TYPES, isEventPattern, type EventsService } from './events.service'
import { RETRY_SCHEDULE_MS } from './webhook-schedule'

/** For 24 h after a rotation both secrets sign, so receivers can switch at their pace (SPEC §6). */
export const ROTATION_OVERLAP_MS = 24 * 3600_000
/** The endpoint WXGATE_WEBHOOK_URL defines: a fixed id, so a restart updates it rather than adding one. */
export const ENV_ENDPOINT_ID = 'whe_env'

const WebhookUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).max(2048)
  .meta({ description: 'Where events are POSTed; http or https (a private address is allowed)', example: 'https://hooks.example.com/wxgate' })
const EventPatterns = z.array(z.string().max(64)).min(1, 'must name at least one event type (or "*")').max(64)
  .meta({ description: `Event types to deliver: a type, \`prefix.*\` or \`*\` (default ["*"]). Types: ${EVENT_TYPES.join(', ')}`, example: ['message.*', 'binding.created'] })

/** The events a reply hook answers when it names none (SPEC §7). */
export const REPLY_HOOK_EVENTS = ['message.received', 'menu.clicked', 'user.subscribed', 'user.scanned']
const LateReply = z.enum(['send', 'drop']).meta({ description: "A reply hook's answer after the budget (within 30 s): 'send' it as a customer-service message (default) or 'drop' it" })

export const WebhookInput = z.object({
  url: WebhookUrl,
  events: EventPatterns.optional(),
  channel: z.string().max(64).optional().meta({ description: 'Only events of this channel (default: every channel)' }),
  description: z.string().max(500).optional(),
  reply: z.boolean().optional().meta({ description: `A reply hook (SPEC §7): called before WeChat is answered, its JSON answer becomes the passive reply; at most one per channel; events default to ${JSON.stringify(REPLY_HOOK_EVENTS)}` }),
  lateReply: LateReply.optional(),
})
export type WebhookInput = z.infer<typeof WebhookInput>

export const WebhookPatch = z.object({
  url: WebhookUrl.optional(),
  events: EventPatterns.optional(),
  description: z.string().max(500).nullable().optional(),
  disabled: z.boolean().optional().meta({ description: 'false re-enables a disabled endpoint (clearing its reason and failure run)' }),
  lateReply: LateReply.optional(),
})
export type WebhookPatch = z.infer<typeof WebhookPatch>

export const DeliveryQuery = z.object({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional().meta({ description: 'Page size, default 50' }),
  cursor: z.string().optional(),
})
export type DeliveryQuery = z.infer<typeof DeliveryQuery>

export interface WebhookView {
  id: string
  url: string
  events: string[]
  channel?: string
  description?: string
  disabled: boolean
  disabledReason?: string
  failingSince?: string
  /** A reply hook (SPEC §7), with what happens to its late answers. */
  reply?: true
  lateReply?: 'send' | 'drop'
  createdAt: string
}

export interface DeliveryView {
  id: string
  eventId: string
  type: string
  status: 'pending' | 'delivered' | 'failed'
  attempts: number
  lastStatusCode?: number
  lastError?: string
  nextAttemptAt?: string
  createdAt: string
  deliveredAt?: string
}

const iso = (ms: number) => new Date(ms).toISOString()

export const webhookViewOf = (r: EndpointRow): WebhookView => ({
  id: r.id,
  url: r.url,
  events: JSON.parse(r.events) as string[],
  ...(r.channelId !== null ? { channel: r.channelId } : {}),
  ...(r.description !== null ? { description: r.description } : {}),
  disabled: r.disabled,
  ...(r.disabledReason !== null ? { disabledReason: r.disabledReason } : {}),
  ...(r.failingSince !== null ? { failingSince: iso(r.failingSince) } : {}),
  ...(r.reply ? { reply: true as const, lateReply: r.lateReply as 'send' | 'drop' } : {}),
  createdAt: iso(r.createdAt),
})

export const deliveryViewOf = (d: DeliveryRow & { type: string }): DeliveryView => {
  // `delivering` is an internal state (claimed by the worker): to the API it is still pending.
  const status = d.status === 'delivering' ? 'pending' : (d.status as DeliveryView['status'])
  return {
    id: d.id,
    eventId: d.eventId,
    type: d.type,
    status,
    attempts: d.attempts,
    ...(d.lastStatusCode !== null ? { lastStatusCode: d.lastStatusCode } : {}),
    ...(d.lastError !== null ? { lastError: d.lastError } : {}),
    ...(status === 'pending' ? { nextAttemptAt: iso(d.nextAttemptAt) } : {}),
    createdAt: iso(d.createdAt),
    ...(d.deliveredAt !== null ? { deliveredAt: iso(d.deliveredAt) } : {}),
  }
}

/** Registers an endpoint's secrets with the logger (a slot each: a rotation or a deletion replaces them). */
export const registerWebhookSecrets = (log: Logger, rows: EndpointRow[], now: number): void => {
  for (const r of rows) {
    log.setSecret(`webhook:${r.id}`, r.secret)
    log.setSecret(`webhook-previous:${r.id}`, r.previousSecretUntil !== null && r.previousSecretUntil > now ? r.previousSecret : undefined)
  }
}

export interface WebhooksServiceDeps {
  db: Db
  clock: Clock
  random: Random
  log: Logger
  events: Pick<EventsService, 'emitTo' | 'invalidate'>
  /** Does this channel exist? */
  channelExists: (id: string) => boolean
}

const cursor = pageCursor('whd:')
const PAGE = 50

export const createWebhooksService = (deps: WebhooksServiceDeps) => {
  const { db, clock, random, events } = deps
  const log = deps.log.child({ module: 'webhooks' })
  const repo = db.read.webhooks
  const newId = () => `whe_${Buffer.from(random.bytes(12)).toString('base64url')}`

  const checkEvents = (events: string[] | undefined): string[] | undefined => {
    if (events === undefined) return undefined
    const bad = events.find((e) => !isEventPattern(e))
    if (bad !== undefined) throw new ValidationError(`events: unknown event type '${bad}'; use a type (${EVENT_TYPES.join(', ')}), a prefix.* such as message.*, or *`, { details: { event: bad } })
    return [...new Set(events)]
  }
  const checkChannel = (channel: string | undefined) => {
    if (channel !== undefined && !deps.channelExists(channel)) throw new ValidationError(`channel: no channel '${channel}' (GET /api/channels lists them)`)
  }
  const checkUrl = (url: string | undefined) => {
    // The CLI reaches here without the route's zod check.
    if (url !== undefined && !WebhookUrl.safeParse(url).success) throw new ValidationError(`url: '${url}' must be an http:// or https:// URL`)
  }
  const mustGet = async (id: string): Promise<EndpointRow> => {
    const row = await repo.endpoint(id)
    if (!row) throw new NotFoundError(`no webhook endpoint '${id}' (GET /api/webhooks lists them)`)
    return row
  }
  /** After every change: the events service matches the new set of endpoints. */
  const changed = async <T>(v: T): Promise<T> => { await events.invalidate(); return v }
  /**
   * A transaction that changes endpoints drops the events service's cache inside itself too: the jobs after
   * it in the same batch (callbacks, sends) must not write deliveries for an endpoint it deleted (a foreign
   * key error would fail them). Dropping a cache is harmless if the transaction rolls back. (invalidate marks
   * the cache stale at once; `changed` reloads it again after the commit.)
   */
  const txChanging = <T>(fn: (repo: WebhooksRepo) => Promise<T> | T): Promise<T> =>
    db.tx<T>(async (s) => { const v = await fn(s.webhooks); void events.invalidate().catch(() => undefined); return v })

  return {
    create: async (input: WebhookInput): Promise<WebhookView & { secret: string }> => {
      checkUrl(input.url)
      const reply = input.reply === true
      const patterns = checkEvents(input.events) ?? (reply ? REPLY_HOOK_EVENTS : ['*'])
      checkChannel(input.channel)
      const now = clock.now()
      const secret = newWebhookSecret(random)
      const row = await txChanging(async (r) => {
        // At most one reply hook per channel (one for every channel counts for each): WeChat takes one answer.
        const clash = reply ? (await r.allEndpoints()).find((e) => e.reply && (e.channelId === null || input.channel === undefined || e.channelId === input.channel)) : undefined
        if (clash) throw new ConflictError(`a reply hook for ${input.channel === undefined ? 'every channel' : `channel '${input.channel}'`} exists already ('${clash.id}'): at most one per channel`, { details: { id: clash.id } })
        return r.insertEndpoint({
          id: newId(), url: input.url, events: JSON.stringify(patterns), channelId: input.channel ?? null,
          description: input.description ?? null, secret, reply, lateReply: input.lateReply ?? 'send', createdAt: now, updatedAt: now,
        })
      })
      registerWebhookSecrets(deps.log, [row], now)
      log.info('webhook endpoint created', { id: row.id, url: row.url, events: patterns })
      return changed({ ...webhookViewOf(row), secret })
    },

    list: async (): Promise<WebhookView[]> => (await repo.allEndpoints()).map(webhookViewOf),
    get: async (id: string): Promise<WebhookView> => webhookViewOf(await mustGet(id)),

    update: async (id: string, patch: WebhookPatch): Promise<WebhookView> => {
      checkUrl(patch.url)
      const patterns = checkEvents(patch.events)
      const now = clock.now()
      const set: EndpointPatch = {}
      if (patch.url !== undefined) set.url = patch.url
      if (patterns !== undefined) set.events = JSON.stringify(patterns)
      if (patch.description !== undefined) set.description = patch.description
      if (patch.lateReply !== undefined) set.lateReply = patch.lateReply
      if (patch.disabled === true) Object.assign(set, { disabled: true, disabledReason: 'disabled through the API' })
      // Re-enabling starts afresh: the reason goes, and the 5-day clock starts again at the next failure.
      if (patch.disabled === false) Object.assign(set, { disabled: false, disabledReason: null, failingSince: null })
      const row = await txChanging((r) => r.updateEndpoint(id, set, now))
      if (!row) throw new NotFoundError(`no webhook endpoint '${id}' (GET /api/webhooks lists them)`)
      log.info('webhook endpoint changed', { id, fields: Object.keys(set) })
      return changed(webhookViewOf(row))
    },

    remove: async (id: string): Promise<void> => {
      const gone = await txChanging((r) => r.deleteEndpoint(id))
      if (!gone) throw new NotFoundError(`no webhook endpoint '${id}' (GET /api/webhooks lists them)`)
      deps.log.setSecret(`webhook:${id}`, undefined)
      deps.log.setSecret(`webhook-previous:${id}`, undefined)
      log.info('webhook endpoint deleted', { id })
      await changed(undefined)
    },

    /** A new secret; the one it replaces keeps signing for 24 h (a second entry in webhook-signature). */
    rotateSecret: async (id: string): Promise<{ secret: string; previousSecretExpiresAt: string }> => {
      const now = clock.now()
      const secret = newWebhookSecret(random)
      const until = now + ROTATION_OVERLAP_MS
      const row = await db.tx(async (s) => {
        const current = await s.webhooks.endpoint(id)
        if (!current) return undefined
        return s.webhooks.updateEndpoint(id, { secret, previousSecret: current.secret, previousSecretUntil: until }, now)
      })
      if (!row) throw new NotFoundError(`no webhook endpoint '${id}' (GET /api/webhooks lists them)`)
      registerWebhookSecrets(deps.log, [row], now)
      log.info('webhook secret rotated; the previous one signs too until', { id, until: iso(until) })
      return changed({ secret, previousSecretExpiresAt: iso(until) })
    },

    /** A webhook.test event for this endpoint only, whatever it subscribes to. */
    test: async (id: string): Promise<{ eventId: string }> => {
      const eventId = await db.tx(async (s) => {
        const row = await s.webhooks.endpoint(id)
        if (!row) return undefined
        if (row.disabled) return null
        return events.emitTo(s, row, { type: 'webhook.test', channelId: null, data: {} })
      })
      if (eventId === undefined) throw new NotFoundError(`no webhook endpoint '${id}' (GET /api/webhooks lists them)`)
      if (eventId === null) throw new ConflictError(`webhook endpoint '${id}' is disabled; PATCH it with {"disabled": false} first`)
      return { eventId }
    },

    deliveries: async (id: string, q: DeliveryQuery): Promise<{ items: DeliveryView[]; next?: string }> => {
      await mustGet(id)
      const limit = q.limit ?? PAGE
      const rows = await repo.deliveries({ endpointId: id, status: q.status, beforeSeq: q.cursor !== undefined ? cursor.decode(q.cursor) : undefined, limit: limit + 1 })
      const page = rows.slice(0, limit)
      return { items: page.map(deliveryViewOf), ...(rows.length > limit ? { next: cursor.encode(page[page.length - 1]!.seq) } : {}) }
    },

    /**
     * A failed delivery due again at once, with the same event (same webhook-id, same body). Decision: it
     * gets one more attempt (attempts keeps counting the POSTs); failing again it is failed again.
     */
    retry: async (deliveryId: string): Promise<DeliveryView> => {
      const now = clock.now()
      const r = await db.tx(async (s) => {
        const d = await s.webhooks.delivery(deliveryId)
        if (!d) return undefined
        if (d.status !== 'failed') return { conflict: d.status }
        if ((await s.webhooks.endpoint(d.endpointId))?.disabled) return { disabled: true as const }
        await s.webhooks.requeue(deliveryId, now, RETRY_SCHEDULE_MS.length)
        return { row: (await s.webhooks.delivery(deliveryId))! }
      })
      if (!r) throw new NotFoundError(`no webhook delivery '${deliveryId}'`)
      if ('disabled' in r) throw new ConflictError(`delivery '${deliveryId}' belongs to a disabled endpoint; enable it first (PATCH /api/webhooks/:id {"disabled": false})`)
      if ('conflict' in r) throw new ConflictError(`delivery '${deliveryId}' is ${r.conflict === 'delivering' ? 'pending' : r.conflict}; only a failed delivery can be retried`)
      // The worker is kicked by the events service after emits only; a requeue is picked up by its poll (≤ 250 ms).
      return deliveryViewOf(r.row)
    },

    /**
     * WXGATE_WEBHOOK_URL + WXGATE_WEBHOOK_SECRET: one endpoint for every event, upserted at start under a
     * fixed id (its disabled state is kept: a restart does not undo a 410).
     */
    upsertEnv: async (url: string, secret: string): Promise<WebhookView> => {
      const now = clock.now()
      const row = await txChanging((r) => r.upsertEndpoint({
        id: ENV_ENDPOINT_ID, url, events: JSON.stringify(['*']), channelId: null, description: 'WXGATE_WEBHOOK_URL', secret, createdAt: now, updatedAt: now,
      }))
      registerWebhookSecrets(deps.log, [row], now)
      return changed(webhookViewOf(row))
    },
  }
}
export type WebhooksService = ReturnType<typeof createWebhooksService>
