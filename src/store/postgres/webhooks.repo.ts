/** @module Webhook endpoints, events and the delivery queue (PostgreSQL; semantics: ../sqlite/webhooks.repo.ts). */
import { and, asc, desc, eq, inArray, isNotNull, lt, lte, notInArray, sql, type SQL } from 'drizzle-orm'
import type { DeliveryWithEvent, WebhooksRepo } from '../contract'
import { NEWEST_CURSOR } from './inbound.repo'
import type { PgOrm } from './orm'
import { leases, webhookDeliveries as wd, webhookEndpoints as we, webhookEvents as ev } from './schema'

/** A result moves the row only while `owner` (when given) still owns it: not after another instance re-claimed it. */
const ownedBy = (owner?: string) => owner === undefined ? undefined : eq(wd.leaseOwner, owner)

export const webhooksRepo = (orm: PgOrm): WebhooksRepo => {
  const eventOf = async (id: string) => (await orm.select({ body: ev.body, type: ev.type }).from(ev).where(eq(ev.id, id)))[0]
  return {
    activeEndpoints: () => orm.select().from(we).where(eq(we.disabled, false)),
    insertEvent: async (e) => { await orm.insert(ev).values(e) },
    insertDeliveries: async (rows) => {
      if (rows.length === 0) return
      await orm.insert(wd).values(rows.map((r) => ({ ...r, status: 'pending', attempts: 0 })))
    },

    // ---- endpoints -------------------------------------------------------------------------------------
    allEndpoints: () => orm.select().from(we).orderBy(asc(we.createdAt), asc(we.id)),
    endpoint: async (id) => (await orm.select().from(we).where(eq(we.id, id)))[0],
    insertEndpoint: async (row) => (await orm.insert(we).values({ ...row, feedCursor: NEWEST_CURSOR }).returning())[0]!,
    upsertEndpoint: async (row) =>
      (await orm.insert(we).values({ ...row, feedCursor: NEWEST_CURSOR })
        .onConflictDoUpdate({ target: we.id, set: { url: row.url, secret: row.secret, events: row.events, updatedAt: row.updatedAt } }).returning())[0]!,
    updateEndpoint: async (id, patch, now) =>
      (await orm.update(we).set({
        ...patch, updatedAt: now,
        ...(patch.disabled === false ? { feedCursor: sql`case when ${we.disabled} then ${NEWEST_CURSOR} else ${we.feedCursor} end` } : {}),
      }).where(eq(we.id, id)).returning())[0],
    /**
     * With `holder`: the lease is checked in the same UPDATE (no extra statement). It reads the lease row without
     * locking it; `validAfter` (the caller's now plus a margin) keeps a holder close to lapsing from recording
     * while another instance may be taking the feed over.
     */
    advanceFeed: async (id, cursor, holder) => {
      const where: SQL[] = [eq(we.id, id)]
      if (holder) where.push(sql`exists (select 1 from ${leases} where ${leases.name} = ${holder.lease} and ${leases.owner} = ${holder.owner} and ${leases.until} > ${holder.validAfter}::bigint)`)
      return (await orm.update(we).set({ feedCursor: sql`GREATEST(${we.feedCursor}, ${cursor}::bigint)` }).where(and(...where)).returning({ id: we.id })).length > 0
    },
    feedFloor: async () =>
      (await orm.select({ m: sql<number | null>`min(${we.feedCursor})`.mapWith(Number) }).from(we).where(and(eq(we.disabled, false), eq(we.reply, false))))[0]?.m ?? undefined,
    feedRecorded: async (endpointId, eventIds) => eventIds.length === 0 ? new Set() : new Set(
      (await orm.select({ id: wd.eventId }).from(wd).where(and(eq(wd.endpointId, endpointId), inArray(wd.eventId, eventIds)))).map((r) => r.id)),
    insertFeedDelivery: async (e, d) => {
      await orm.insert(ev).values({ id: e.id, type: e.type, channelId: e.channelId, body: e.body, createdAt: e.createdAt }).onConflictDoNothing({ target: ev.id })
      const delivered = d.status === 'delivered'
      await orm.insert(wd).values({
        id: d.id, eventId: e.id, endpointId: d.endpointId, status: d.status, attempts: d.attempts, nextAttemptAt: d.now, createdAt: e.createdAt,
        lastStatusCode: delivered ? d.statusCode : null, deliveredAt: delivered ? d.now : null, finishedAt: delivered ? d.now : null,
      })
    },
    deleteEndpoint: async (id) => (await orm.delete(we).where(eq(we.id, id)).returning({ id: we.id })).length > 0,
    markFailing: async (id, now) => (await orm.update(we).set({ failingSince: sql`coalesce(${we.failingSince}, ${now}::bigint)` }).where(eq(we.id, id)).returning())[0],
    clearFailing: async (id) => { await orm.update(we).set({ failingSince: null }).where(and(eq(we.id, id), isNotNull(we.failingSince))) },
    disableEndpoint: async (id, reason, now) => {
      await orm.update(we).set({ disabled: true, disabledReason: reason, updatedAt: now }).where(and(eq(we.id, id), eq(we.disabled, false)))
    },
    failPending: async (endpointId, now, error) =>
      (await orm.update(wd).set({ status: 'failed', lastError: error, finishedAt: now })
        .where(and(eq(wd.endpointId, endpointId), sql`${wd.status} = 'pending'`)).returning({ id: wd.id })).length,

    // ---- the delivery queue ----------------------------------------------------------------------------
    dueFor: (endpointId, now, limit) =>
      orm.select().from(wd).where(and(sql`${wd.status} = 'pending'`, eq(wd.endpointId, endpointId), lte(wd.nextAttemptAt, now)))
        .orderBy(asc(wd.nextAttemptAt), asc(wd.seq)).limit(limit),
    /** One conditional UPDATE (see messages.claim): of two instances claiming at once, one gets the row. */
    claim: async (id, leaseUntil, owner): Promise<DeliveryWithEvent | undefined> => {
      // FOR UPDATE SKIP LOCKED: a row another instance is claiming right now is skipped, not waited for.
      const [d] = await orm.update(wd).set({ status: 'delivering', attempts: sql`${wd.attempts} + 1`, leaseUntil, leaseOwner: owner })
        .where(and(sql`${wd.status} = 'pending'`, sql`${wd.id} = (SELECT d.id FROM webhook_deliveries d WHERE d.id = ${id} AND d.status = 'pending' FOR UPDATE SKIP LOCKED)`)).returning()
      if (!d) return undefined
      const e = await eventOf(d.eventId)
      return e ? { ...d, ...e } : undefined
    },
    release: async (before, except = [], owner) => {
      const where: SQL[] = [eq(wd.status, 'delivering')]
      if (owner !== undefined) where.push(eq(wd.leaseOwner, owner))
      if (Number.isFinite(before)) where.push(lt(wd.leaseUntil, before))
      if (except.length > 0) where.push(notInArray(wd.id, except))
      return (await orm.update(wd).set({ status: 'pending', leaseUntil: null, leaseOwner: null }).where(and(...where)).returning({ id: wd.id })).length
    },
    delivered: async (id, now, statusCode, owner) =>
      (await orm.update(wd).set({ status: 'delivered', leaseUntil: null, leaseOwner: null, lastStatusCode: statusCode, lastError: null, deliveredAt: now, finishedAt: now })
        .where(and(eq(wd.id, id), eq(wd.status, 'delivering'), ownedBy(owner))).returning({ id: wd.id })).length > 0,
    retryLater: async (id, nextAttemptAt, statusCode, error, attemptsDelta = 0, owner) =>
      (await orm.update(wd).set({ status: 'pending', leaseUntil: null, leaseOwner: null, nextAttemptAt, lastStatusCode: statusCode, lastError: error, attempts: sql`GREATEST(0, ${wd.attempts} + ${attemptsDelta})` })
        .where(and(eq(wd.id, id), eq(wd.status, 'delivering'), ownedBy(owner))).returning({ id: wd.id })).length > 0,
    failed: async (id, now, statusCode, error, owner) =>
      (await orm.update(wd).set({ status: 'failed', leaseUntil: null, leaseOwner: null, lastStatusCode: statusCode, lastError: error, finishedAt: now })
        .where(and(eq(wd.id, id), eq(wd.status, 'delivering'), ownedBy(owner))).returning({ id: wd.id })).length > 0,
    requeue: async (id, now, lastStep) =>
      (await orm.update(wd).set({ status: 'pending', nextAttemptAt: now, finishedAt: null, attempts: sql`GREATEST(${wd.attempts}, ${lastStep}::bigint)` })
        .where(and(eq(wd.id, id), eq(wd.status, 'failed'))).returning())[0],
    delivery: async (id) => {
      const [d] = await orm.select().from(wd).where(eq(wd.id, id))
      if (!d) return undefined
      const e = await eventOf(d.eventId)
      return { ...d, body: e?.body ?? '', type: e?.type ?? '' }
    },
    deliveries: async (f) => {
      const where: SQL[] = [eq(wd.endpointId, f.endpointId)]
      if (f.status === 'pending') where.push(inArray(wd.status, ['pending', 'delivering']))
      else if (f.status !== undefined) where.push(eq(wd.status, f.status))
      if (f.beforeSeq !== undefined) where.push(lt(wd.seq, f.beforeSeq))
      return (await orm.select({ d: wd, type: ev.type }).from(wd).leftJoin(ev, eq(ev.id, wd.eventId))
        .where(and(...where)).orderBy(desc(wd.seq)).limit(f.limit))
        .map((r) => ({ ...r.d, type: r.type ?? '' }))
    },
    pendingDepth: () =>
      orm.select({ endpointId: wd.endpointId, depth: sql<number>`count(*)::int`, oldestCreatedAt: sql<number | null>`min(${wd.createdAt})`.mapWith(Number) })
        .from(wd).where(sql`${wd.status} = 'pending'`).groupBy(wd.endpointId).orderBy(wd.endpointId),

    // ---- pruning -------------------------------------------------------------------------------------------
    pruneDeliveries: async (before, limit) =>
      (await orm.delete(wd).where(inArray(wd.seq,
        orm.select({ seq: wd.seq }).from(wd).where(lt(wd.finishedAt, before)).limit(limit))).returning({ seq: wd.seq })).length,
    pruneEvents: async (before, limit) =>
      (await orm.delete(ev).where(inArray(ev.seq,
        orm.select({ seq: ev.seq }).from(ev)
          .where(and(lt(ev.createdAt, before), sql`not exists (select 1 from ${wd} where ${wd.eventId} = ${ev.id})`))
          .limit(limit))).returning({ seq: ev.seq })).length,
  }
}
