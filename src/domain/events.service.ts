/**
 * @module Events out (SPEC §6): one event per happening, written inside the transaction of what caused it
 * (an outbox result, a token change, a binding made by a rule or deleted), with one delivery row per
 * matching endpoint. The delivery worker (webhook-worker.ts) sends them after the commit. The events a
 * callback itself causes (message.received, user.* …) are not written here: they are read from the
 * inbound log (webhook-feed.ts).
 *
 * - `emit(store, …)` runs inside a db.tx function, on the transaction's store; it does no other I/O.
 * - An event no endpoint wants is not stored at all (nothing would ever read it): a gateway without
 *   webhooks pays one in-memory check per happening.
 * - Endpoints are cached; the cache is dropped by `invalidate()` (the endpoint service calls it after a
 *   change) and when another process (the CLI, another instance) changed endpoints (db.dataVersion()).
 *   Until a reload answers, the endpoints read before stay in force (on SQLite a reload answers at once).
 * - The body is fixed at creation ({ type, timestamp, data }, at most 64 KiB: a larger `data` keeps only
 *   its identifying fields and says `truncated: true`), so every attempt signs the same bytes.
 */
import type { Clock } from '../lib/clock'
import type { Random } from '../lib/random'
import { then } from '../lib/awaitable'
import type { Db, EndpointRow, Store } from '../store/contract'

export const MAX_EVENT_BODY_BYTES = 64 * 1024

/** Every event type of SPEC §6. */
export const EVENT_TYPES = [
  'message.received',
  'user.subscribed', 'user.unsubscribed', 'user.scanned',
  'menu.clicked', 'location.reported',
  'binding.created', 'binding.moved', 'binding.removed',
  'message.sent', 'message.delivered', 'message.failed',
  'token.failing', 'token.quota_exhausted', 'token.recovered',
  'event.received',
  'webhook.test',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

/** An `events` entry of an endpoint: a type, `prefix.*` or `*`. */
export const isEventPattern = (p: string): boolean =>
  p === '*' || (EVENT_TYPES as readonly string[]).includes(p) || (p.endsWith('.*') && EVENT_TYPES.some((t) => t.startsWith(p.slice(0, -1))))

export const matchesPattern = (pattern: string, type: string): boolean =>
  pattern === '*' || pattern === type || (pattern.endsWith('.*') && type.startsWith(pattern.slice(0, -1)))

/** Does an endpoint (its channel, or null for every channel, and its `events` patterns) take this event? */
export const endpointWants = (ep: { channelId: string | null }, patterns: readonly string[], type: string, channelId: string | null): boolean =>
  (ep.channelId === null || channelId === null || ep.channelId === channelId) && patterns.some((p) => matchesPattern(p, type))

/** The fields kept when `data` is too large: what identifies the happening. */
const IDENTIFYING = ['channel', 'openid', 'subject', 'inboundId', 'msgId', 'msgType', 'event', 'key', 'createTime', 'messageId', 'status', 'id']

/** The JSON body of an event ({ type, timestamp, data }), at most 64 KiB: a larger `data` keeps its identifying fields and `truncated: true`. */
export const eventBody = (type: string, data: Record<string, unknown>, now: number): string => {
  const body = JSON.stringify({ type, timestamp: new Date(now).toISOString(), data })
  if (body.length * 3 <= MAX_EVENT_BODY_BYTES || Buffer.byteLength(body) <= MAX_EVENT_BODY_BYTES) return body
  const kept: Record<string, unknown> = {}
  for (const k of IDENTIFYING) if (k in data) kept[k] = data[k]
  return JSON.stringify({ type, timestamp: new Date(now).toISOString(), data: { ...kept, truncated: true } })
}

export interface EventInput {
  type: EventType
  /** The channel the event belongs to (null for channel-less ones: webhook.test). */
  channelId: string | null
  data: Record<string, unknown>
}

export interface EventsServiceDeps {
  db: Db
  clock: Clock
  random: Random
}

export const createEventsService = (deps: EventsServiceDeps) => {
  const { db, clock, random } = deps
  let endpoints: { row: EndpointRow; patterns: string[] }[] | undefined
  let seenVersion = -1
  const listeners: (() => void)[] = []
  const invalidated: (() => void)[] = []
  let kickScheduled = false

  /** Checked data_version in this event-loop turn already (a batch of callbacks runs in one turn). */
  let checkedThisTurn = false
  let stale = true
  let loading: Promise<void> | undefined
  const reload = (): void | Promise<void> => {
    if (loading) return loading
    const v = db.dataVersion()
    stale = false
    const done = then(db.read.webhooks.activeEndpoints(), (rows) => {
      endpoints = rows.map((row) => ({ row, patterns: JSON.parse(row.events) as string[] }))
      seenVersion = v
    })
    if (done instanceof Promise) {
      loading = done.catch((e) => { stale = true; throw e }).finally(() => { loading = undefined })
      return loading
    }
  }
  const active = () => {
    // One version check per event-loop turn rather than per happening (~2 µs each on the callback's hot path).
    if (endpoints && checkedThisTurn) return endpoints
    if (!endpoints || stale || db.dataVersion() !== seenVersion) {
      const r = reload()
      if (r instanceof Promise) r.catch(() => undefined)
    }
    checkedThisTurn = true
    setImmediate(() => { checkedThisTurn = false })
    return endpoints ?? []
  }

  /**
   * Time-ordered ids (like a ULID: the clock's milliseconds first, fixed width, then 80 random bits): rows
   * arrive at the right edge of the unique and event-id indexes instead of at random places, which made each
   * event + delivery write cost 47 µs instead of 18 µs (measured; the callback path writes one of each).
   */
  const id = (prefix: string, now: number) =>
    `${prefix}_${now.toString(36).padStart(9, '0')}${Buffer.from(random.bytes(10)).toString('base64url')}`

  /**
   * The worker's kick, once the transaction that wrote deliveries committed (Store.afterCommit: on PostgreSQL
   * the COMMIT comes after the transaction function, so a kick in the same turn would find nothing yet), one
   * per turn however many events were written.
   */
  const emitted = (s: Store) => {
    // Not deduplicated before the commit: a transaction that rolls back never runs its callback.
    if (listeners.length > 0) s.afterCommit(kickSoon)
  }
  const kickSoon = () => {
    if (kickScheduled) return
    kickScheduled = true
    setImmediate(() => { kickScheduled = false; for (const f of listeners) f() })
  }

  const write = async (s: Store, e: EventInput, targets: EndpointRow[]): Promise<string | undefined> => {
    if (targets.length === 0) return undefined
    const now = clock.now()
    const eventId = id('evt', now)
    await s.webhooks.insertEvent({ id: eventId, type: e.type, channelId: e.channelId, body: eventBody(e.type, e.data, now), createdAt: now })
    await s.webhooks.insertDeliveries(targets.map((t) => ({ id: id('whd', now), eventId, endpointId: t.id, nextAttemptAt: now, createdAt: now })))
    emitted(s)
    return eventId
  }

  return {
    /**
     * Stores the event for every active endpoint that wants its type (and its channel), on the store of the
     * db.tx function of what caused the event. Returns the event id, or undefined when no endpoint wanted it
     * (nothing stored).
     */
    emit: (s: Store, e: EventInput): Promise<string | undefined> =>
      write(s, e, active().filter(({ row, patterns }) => endpointWants(row, patterns, e.type, e.channelId)).map((x) => x.row)),
    /** The event for one endpoint only, whatever it subscribes to (POST /api/webhooks/:id/test). */
    emitTo: async (s: Store, endpoint: EndpointRow, e: EventInput): Promise<string> => (await write(s, e, [endpoint]))!,
    /** Loads the endpoints (once at start, before anything is served). */
    load: async (): Promise<void> => { await reload() },
    /**
     * The reply hook (SPEC §7: `reply: true`, at most one per channel) that takes a callback's event of this
     * type on this channel, if any. Read from the same cache as `wants`: one in-memory check per callback.
     */
    replyHookFor: (channelId: string, type: EventType): EndpointRow | undefined =>
      active().find(({ row, patterns }) => row.reply && endpointWants(row, patterns, type, channelId))?.row,
    /** Would any endpoint take an event of this type on this channel? (to skip building costly data) */
    wants: (type: EventType, channelId: string | null): boolean =>
      active().some(({ row, patterns }) => endpointWants(row, patterns, type, channelId)),
    /** Endpoints changed in this process: read them again (the ones read before stay until the reload answers). */
    invalidate: async (): Promise<void> => {
      stale = true
      await loading?.catch(() => undefined)
      await reload()
      for (const f of invalidated) f()
    },
    /** Called when endpoints changed in this process (the delivery worker reads them again). */
    onInvalidate: (f: () => void): void => { invalidated.push(f) },
    /** Called (once per event-loop turn) after events were written: the delivery worker's kick. */
    onEmitted: (f: () => void): void => { listeners.push(f) },
  }
}
export type EventsService = ReturnType<typeof createEventsService>
