/**
 * @module Webhook endpoints, events and the delivery queue (see schema.ts, SPEC §6).
 * Events and their deliveries are written inside the transaction of what caused them (a callback, an
 * outbox result, a token change): `insertEvent` + `insertDeliveries` are synchronous statements for
 * a db.tx function.
 */
import { eq, sql } from 'drizzle-orm'
import type { Drizzle } from './db'
import { webhookDeliveries, webhookEndpoints, webhookEvents } from './schema'

export type EndpointRow = typeof webhookEndpoints.$inferSelect
export type EventRow = typeof webhookEvents.$inferSelect
export type DeliveryRow = typeof webhookDeliveries.$inferSelect
export type DeliveryStatus = 'pending' | 'delivering' | 'delivered' | 'failed'

const p = sql.placeholder
/** Prepared once per connection: the event write is on the callback's hot path. */
const prepare = (orm: Drizzle) => ({
  insertEvent: orm.insert(webhookEvents).values({ id: p('id'), type: p('type'), channelId: p('channelId'), body: p('body'), createdAt: p('createdAt') }).prepare(),
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
})
export type WebhooksRepo = ReturnType<typeof webhooksRepo>
