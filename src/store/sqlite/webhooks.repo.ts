/**
 * @module Webhook endpoints, events and the delivery queue (see schema.ts, SPEC §6).
 * Events and their deliveries are written inside the transaction of what caused them (a callback, an
 * outbox result, a token change): `insertEvent` + `insertDeliveries` are synchronous statements for
 * a db.tx function.
 */
import { and, asc, desc, eq, inArray, isNotNull, lt, lte, notInArray, sql, type SQL } from 'drizzle-orm'
import type { Drizzle } from './db'
import { inboundMessages, leases, webhookDeliveries, webhookEndpoints, webhookEvents } from './schema'
import type { EndpointRow, DeliveryRow, NewEndpoint, EndpointPatch, DeliveryFilter, DeliveryWithEvent, FeedHolder } from '../contract'

/** The rows and inputs are the store contract's (../contract.ts). */
export type { EndpointRow, DeliveryRow, DeliveryStatus, NewEndpoint, EndpointPatch, DeliveryFilter, DeliveryWithEvent } from '../contract'

/** The newest inbound row: where a new (or re-enabled) endpoint's feed starts, so no history is replayed. */
const newestInbound = sql<number>`(select coalesce(max(${inboundMessages.id}), 0) from ${inboundMessages})`

const p = sql.placeholder
/** A result moves the row only while `owner` (when given) still owns it: not after another instance re-claimed it. */
const ownedBy = (owner?: string) => owner === undefined ? undefined : eq(webhookDeliveries.leaseOwner, owner)
/** A prepared statement's version of ownedBy: a null owner placeholder matches any row. */
const ownedByParam = sql`(${p('owner')} is null or ${webhookDeliveries.leaseOwner} = ${p('owner')})`
/** Prepared once per connection: the event write is on the callback's hot path. */
const prepare = (orm: Drizzle) => ({
  dueFor: orm.select().from(webhookDeliveries)
    .where(and(sql`${webhookDeliveries.status} = 'pending'`, eq(webhookDeliveries.endpointId, p('endpointId')), lte(webhookDeliveries.nextAttemptAt, p('now'))))
    .orderBy(asc(webhookDeliveries.nextAttemptAt), asc(webhookDeliveries.seq)).limit(p('limit')).prepare(),
  insertEvent: orm.insert(webhookEvents).values({ id: p('id'), type: p('type'), channelId: p('channelId'), body: p('body'), createdAt: p('createdAt') }).prepare(),
  // `status = 'pending'` as a literal: SQLite uses the partial index only when the WHERE visibly implies its own.
  claim: orm.update(webhookDeliveries).set({ status: 'delivering', attempts: sql`${webhookDeliveries.attempts} + 1`, leaseUntil: sql`${p('leaseUntil')}`, leaseOwner: sql`${p('owner')}` })
    .where(and(eq(webhookDeliveries.id, p('id')), sql`${webhookDeliveries.status} = 'pending'`)).returning().prepare(),
  eventOf: orm.select({ body: webhookEvents.body, type: webhookEvents.type }).from(webhookEvents).where(eq(webhookEvents.id, p('id'))).prepare(),
  insertEventIfAbsent: orm.insert(webhookEvents).values({ id: p('id'), type: p('type'), channelId: p('channelId'), body: p('body'), createdAt: p('createdAt') })
    .onConflictDoNothing({ target: webhookEvents.id }).prepare(),
  insertFeedDelivery: orm.insert(webhookDeliveries).values({
    id: p('id'), eventId: p('eventId'), endpointId: p('endpointId'), status: p('status'), attempts: p('attempts'), nextAttemptAt: p('nextAttemptAt'),
    lastStatusCode: p('lastStatusCode'), createdAt: p('createdAt'), deliveredAt: p('deliveredAt'), finishedAt: p('deliveredAt'),
  }).prepare(),
  allEndpoints: orm.select().from(webhookEndpoints).orderBy(asc(webhookEndpoints.createdAt), asc(webhookEndpoints.id)).prepare(),
  delivered: orm.update(webhookDeliveries).set({ status: 'delivered', leaseUntil: null, leaseOwner: null, lastStatusCode: sql`${p('statusCode')}`, lastError: null, deliveredAt: sql`${p('now')}`, finishedAt: sql`${p('now')}` })
    .where(and(eq(webhookDeliveries.id, p('id')), eq(webhookDeliveries.status, 'delivering'), ownedByParam)).prepare(),
  clearFailing: orm.update(webhookEndpoints).set({ failingSince: null }).where(and(eq(webhookEndpoints.id, p('id')), isNotNull(webhookEndpoints.failingSince))).prepare(),
  advanceFeed: orm.update(webhookEndpoints).set({ feedCursor: sql`max(${webhookEndpoints.feedCursor}, ${p('cursor')})` }).where(eq(webhookEndpoints.id, p('id'))).prepare(),
  insertDelivery: orm.insert(webhookDeliveries).values({
    id: p('id'), eventId: p('eventId'), endpointId: p('endpointId'), status: 'pending', attempts: 0, nextAttemptAt: p('nextAttemptAt'), createdAt: p('createdAt'),
  }).prepare(),
})
const cache = new WeakMap<Drizzle, ReturnType<typeof prepare>>()
const statements = (orm: Drizzle) => {
  let st = cache.get(orm)
  if (!st) cache.set(orm, (st = prepare(orm)))
  return st
}

export const webhooksRepo = (orm: Drizzle) => ({
  /** Every endpoint that is not disabled, for matching events to endpoints (the caller caches it). */
  activeEndpoints: (): EndpointRow[] => orm.select().from(webhookEndpoints).where(eq(webhookEndpoints.disabled, false)).all(),
  /** One event row. Inside the transaction of what caused it. */
  insertEvent: (e: { id: string; type: string; channelId: string | null; body: string; createdAt: number }): void => {
    statements(orm).insertEvent.run(e)
  },
  /** The event's deliveries, one per matching endpoint, due at once. Inside the same transaction as insertEvent. */
  insertDeliveries: (rows: { id: string; eventId: string; endpointId: string; nextAttemptAt: number; createdAt: number }[]): void => {
    const st = statements(orm).insertDelivery
    for (const r of rows) st.run(r)
  },

  // ---- endpoints ---------------------------------------------------------------------------------------
  allEndpoints: (): EndpointRow[] => statements(orm).allEndpoints.all(),
  endpoint: (id: string): EndpointRow | undefined => orm.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id)).get(),
  insertEndpoint: (row: NewEndpoint): EndpointRow => orm.insert(webhookEndpoints).values({ ...row, feedCursor: newestInbound }).returning().get(),
  /** The environment's endpoint (WXGATE_WEBHOOK_URL): inserted, or its url and secret replaced (its other settings kept). */
  upsertEndpoint: (row: NewEndpoint): EndpointRow => orm.insert(webhookEndpoints).values({ ...row, feedCursor: newestInbound })
    .onConflictDoUpdate({ target: webhookEndpoints.id, set: { url: row.url, secret: row.secret, events: row.events, updatedAt: row.updatedAt } }).returning().get(),
  /** `disabled: false` on a disabled endpoint also moves its feed to the newest inbound row (what came meanwhile is not replayed). */
  updateEndpoint: (id: string, patch: EndpointPatch, now: number): EndpointRow | undefined =>
    orm.update(webhookEndpoints).set({
      ...patch, updatedAt: now,
      ...(patch.disabled === false ? { feedCursor: sql`case when ${webhookEndpoints.disabled} then ${newestInbound} else ${webhookEndpoints.feedCursor} end` } : {}),
    }).where(eq(webhookEndpoints.id, id)).returning().get(),
  /**
   * The endpoint's feed is dealt with up to this inbound id (never moved back). Inside the transaction that
   * recorded the results. With `holder` only while it holds the feed's lease (the worker passes none on
   * SQLite: one process; the contract is the same on both stores).
   */
  advanceFeed: (id: string, cursor: number, holder?: FeedHolder): boolean => {
    if (!holder) return (statements(orm).advanceFeed.run({ id, cursor }) as unknown as { changes: number }).changes > 0
    return orm.update(webhookEndpoints).set({ feedCursor: sql`max(${webhookEndpoints.feedCursor}, ${cursor})` })
      .where(and(eq(webhookEndpoints.id, id), sql`exists (select 1 from ${leases} where ${leases.name} = ${holder.lease} and ${leases.owner} = ${holder.owner} and ${leases.until} > ${holder.validAfter})`))
      .returning({ id: webhookEndpoints.id }).all().length > 0
  },
  /** The lowest feed cursor of the active endpoints (reply hooks read no feed): inbound rows after it are still needed (undefined: none). */
  feedFloor: (): number | undefined =>
    orm.select({ m: sql<number | null>`min(${webhookEndpoints.feedCursor})` }).from(webhookEndpoints).where(and(eq(webhookEndpoints.disabled, false), eq(webhookEndpoints.reply, false))).get()?.m ?? undefined,
  /** Of these feed events, those that have a delivery for the endpoint already (recorded, but the cursor had not passed them at a stop). */
  feedRecorded: (endpointId: string, eventIds: string[]): Set<string> => eventIds.length === 0 ? new Set() : new Set(
    orm.select({ id: webhookDeliveries.eventId }).from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.endpointId, endpointId), inArray(webhookDeliveries.eventId, eventIds))).all().map((r) => r.id)),
  /**
   * A feed event the worker has POSTed (or is about to queue): its event row (once, whatever number of
   * endpoints) and this endpoint's delivery, `delivering` with one attempt counted, so that the same
   * result transitions as for a claimed row follow (delivered / retryLater / failed).
   */
  insertFeedDelivery: (e: { id: string; type: string; channelId: string; body: string; createdAt: number },
    d: { id: string; endpointId: string; now: number; attempts: number } & ({ status: 'delivering' | 'pending' } | { status: 'delivered'; statusCode: number })): void => {
    const st = statements(orm)
    st.insertEventIfAbsent.run({ id: e.id, type: e.type, channelId: e.channelId, body: e.body, createdAt: e.createdAt })
    const delivered = d.status === 'delivered'
    st.insertFeedDelivery.run({
      id: d.id, eventId: e.id, endpointId: d.endpointId, status: d.status, attempts: d.attempts, nextAttemptAt: d.now, createdAt: e.createdAt,
      lastStatusCode: delivered ? d.statusCode : null, deliveredAt: delivered ? d.now : null,
    })
  },
  /** Deletes the endpoint; its deliveries go with it (ON DELETE CASCADE). */
  deleteEndpoint: (id: string): boolean => orm.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id)).returning({ id: webhookEndpoints.id }).all().length > 0,
  /** The first failure of a run of failures starts the clock of the 5-day rule; later ones keep it. */
  markFailing: (id: string, now: number): EndpointRow | undefined =>
    orm.update(webhookEndpoints).set({ failingSince: sql`coalesce(${webhookEndpoints.failingSince}, ${now})` }).where(eq(webhookEndpoints.id, id)).returning().get(),
  clearFailing: (id: string): void => {
    statements(orm).clearFailing.run({ id })
  },
  disableEndpoint: (id: string, reason: string, now: number): void => {
    orm.update(webhookEndpoints).set({ disabled: true, disabledReason: reason, updatedAt: now }).where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.disabled, false))).run()
  },
  /**
   * The endpoint's pending deliveries fail at once (it was disabled by the receiver's 410 or by 5 days of
   * failures): they would never be sent, and failed rows are pruned after 7 days; each can still be retried.
   */
  failPending: (endpointId: string, now: number, error: string): number =>
    orm.update(webhookDeliveries).set({ status: 'failed', lastError: error, finishedAt: now })
      .where(and(eq(webhookDeliveries.endpointId, endpointId), sql`${webhookDeliveries.status} = 'pending'`)).returning({ id: webhookDeliveries.id }).all().length,

  // ---- the delivery queue ------------------------------------------------------------------------------
  /**
   * One endpoint's due pending deliveries, the longest due first: walks the partial index (endpoint_id,
   * next_attempt_at, seq) WHERE status = 'pending', so its cost is the rows returned, however large another
   * (dead) endpoint's backlog is.
   */
  dueFor: (endpointId: string, now: number, limit: number): DeliveryRow[] => statements(orm).dueFor.all({ endpointId, now, limit }),
  /** pending → delivering with a lease held by `owner`, counting the attempt; undefined when it was not pending. Inside a db.tx. */
  claim: (id: string, leaseUntil: number, owner: string): DeliveryWithEvent | undefined => {
    const st = statements(orm)
    const d = st.claim.get({ id, leaseUntil, owner })
    if (!d) return undefined
    const e = st.eventOf.get({ id: d.eventId })
    return e ? { ...d, ...e } : undefined
  },
  /** Rows a crash or a stop left `delivering` (all of them at start, `before` = Infinity), or whose lease lapsed. */
  release: (before: number, except: string[] = [], owner?: string): number => {
    const where: SQL[] = [eq(webhookDeliveries.status, 'delivering')]
    if (owner !== undefined) where.push(eq(webhookDeliveries.leaseOwner, owner))
    if (Number.isFinite(before)) where.push(lt(webhookDeliveries.leaseUntil, before))
    if (except.length > 0) where.push(notInArray(webhookDeliveries.id, except))
    return orm.update(webhookDeliveries).set({ status: 'pending', leaseUntil: null, leaseOwner: null }).where(and(...where)).returning({ id: webhookDeliveries.id }).all().length
  },
  /** The results move a `delivering` row, with `owner` only while that instance still owns it (see the contract). */
  delivered: (id: string, now: number, statusCode: number, owner?: string): boolean =>
    (statements(orm).delivered.run({ id, now, statusCode, owner: owner ?? null }) as unknown as { changes: number }).changes > 0,
  /** delivering → pending at `nextAttemptAt`; `attemptsDelta` -1 gives the attempt back (Retry-After). */
  retryLater: (id: string, nextAttemptAt: number, statusCode: number | null, error: string, attemptsDelta = 0, owner?: string): boolean =>
    orm.update(webhookDeliveries).set({ status: 'pending', leaseUntil: null, leaseOwner: null, nextAttemptAt, lastStatusCode: statusCode, lastError: error, attempts: sql`max(0, ${webhookDeliveries.attempts} + ${attemptsDelta})` })
      .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, 'delivering'), ownedBy(owner))).returning({ id: webhookDeliveries.id }).all().length > 0,
  failed: (id: string, now: number, statusCode: number | null, error: string, owner?: string): boolean =>
    orm.update(webhookDeliveries).set({ status: 'failed', leaseUntil: null, leaseOwner: null, lastStatusCode: statusCode, lastError: error, finishedAt: now })
      .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, 'delivering'), ownedBy(owner))).returning({ id: webhookDeliveries.id }).all().length > 0,
  /** A failed delivery due again at once (POST /api/webhooks/deliveries/:id/retry); undefined when it is not failed. */
  /** failed → pending at once; attempts set to the end of the schedule, so it gets one more POST, not the schedule again. */
  requeue: (id: string, now: number, lastStep: number): DeliveryRow | undefined =>
    orm.update(webhookDeliveries).set({ status: 'pending', nextAttemptAt: now, finishedAt: null, attempts: sql`max(${webhookDeliveries.attempts}, ${lastStep})` })
      .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, 'failed'))).returning().get(),
  delivery: (id: string): DeliveryWithEvent | undefined => {
    const d = orm.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)).get()
    if (!d) return undefined
    const e = statements(orm).eventOf.get({ id: d.eventId })
    return { ...d, body: e?.body ?? '', type: e?.type ?? '' }
  },
  /** An endpoint's deliveries, newest first, with their event's type. `delivering` is listed as pending. */
  deliveries: (f: DeliveryFilter): (DeliveryRow & { type: string })[] => {
    const where: SQL[] = [eq(webhookDeliveries.endpointId, f.endpointId)]
    if (f.status === 'pending') where.push(inArray(webhookDeliveries.status, ['pending', 'delivering']))
    else if (f.status !== undefined) where.push(eq(webhookDeliveries.status, f.status))
    if (f.beforeSeq !== undefined) where.push(lt(webhookDeliveries.seq, f.beforeSeq))
    return orm.select({ d: webhookDeliveries, type: webhookEvents.type }).from(webhookDeliveries)
      .leftJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId))
      .where(and(...where)).orderBy(desc(webhookDeliveries.seq)).limit(f.limit).all()
      .map((r) => ({ ...r.d, type: r.type ?? '' }))
  },
  /**
   * Pending deliveries per endpoint with the oldest one's creation time, for /metrics (the partial index:
   * pending rows only; those in flight are counted by the worker).
   */
  pendingDepth: (): { endpointId: string; depth: number; oldestCreatedAt: number | null }[] =>
    orm.select({ endpointId: webhookDeliveries.endpointId, depth: sql<number>`count(*)`, oldestCreatedAt: sql<number | null>`min(${webhookDeliveries.createdAt})` })
      .from(webhookDeliveries).where(sql`${webhookDeliveries.status} = 'pending'`).groupBy(webhookDeliveries.endpointId).all(),

  // ---- pruning (in chunks: lib/chunks.ts) -----------------------------------------------------------------
  /** Up to `limit` deliveries finished (delivered or failed) before `before`. */
  pruneDeliveries: (before: number, limit: number): number =>
    orm.delete(webhookDeliveries).where(inArray(webhookDeliveries.seq,
      orm.select({ seq: webhookDeliveries.seq }).from(webhookDeliveries).where(lt(webhookDeliveries.finishedAt, before)).limit(limit))).returning({ seq: webhookDeliveries.seq }).all().length,
  /** Up to `limit` events created before `before` that no delivery refers to any more. */
  pruneEvents: (before: number, limit: number): number =>
    orm.delete(webhookEvents).where(inArray(webhookEvents.seq,
      orm.select({ seq: webhookEvents.seq }).from(webhookEvents)
        .where(and(lt(webhookEvents.createdAt, before), sql`not exists (select 1 from ${webhookDeliveries} where ${webhookDeliveries.eventId} = ${webhookEvents.id})`))
        .limit(limit))).returning({ seq: webhookEvents.seq }).all().length,
})
export type WebhooksRepo = ReturnType<typeof webhooksRepo>
