/**
 * Webhook endpoint rows written straight into the store, and the events read back: the events tests assert
 * on what was committed (the delivery worker may not have delivered it yet). The events a callback causes
 * are its inbound row (the webhook feed): they are built from it with the functions the worker uses
 * (webhook-feed.ts), and their deliveries are the active endpoints that take them; every other event is a
 * webhook_events row with its delivery rows.
 */
import { expect } from 'bun:test'
import type { TestServer } from './server'
import { endpointWants } from '../../src/domain/events.service'
import { feedEvent } from '../../src/domain/webhook-feed'
import { testSql } from './sql'

let n = 0
/** An active endpoint subscribed to `events` (default every event), on `channelId` (default every channel). */
export const addEndpoint = async (s: Pick<TestServer, 'deps'>, o: { events?: string[]; channelId?: string | null } = {}): Promise<string> => {
  const id = `whe_test${++n}_${Math.random().toString(36).slice(2, 8)}`
  const now = Date.now()
  await s.deps.db.tx(async (st) => {
    await st.webhooks.insertEndpoint({ id, url: 'http://127.0.0.1:9/none', events: JSON.stringify(o.events ?? ['*']), channelId: o.channelId ?? null, description: null, secret: 'whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==', createdAt: now, updatedAt: now })
  })
  await s.deps.events.invalidate()
  return id
}

export const removeEndpoints = async (s: Pick<TestServer, 'deps'>): Promise<void> => {
  for (const e of await s.deps.db.read.webhooks.allEndpoints()) await s.deps.db.tx((st) => st.webhooks.deleteEndpoint(e.id))
  await s.deps.events.invalidate()
}

export interface StoredEvent { id: string; type: string; channelId: string | null; timestamp: string; data: Record<string, any>; deliveries: string[] }

const parsed = (r: { id: string; type: string; channelId: string | null; body: string }, deliveries: string[]): StoredEvent => {
  const body = JSON.parse(r.body) as { type: string; timestamp: string; data: Record<string, unknown> }
  expect(body.type).toBe(r.type)
  return { id: r.id, type: r.type, channelId: r.channelId, timestamp: body.timestamp, data: body.data, deliveries }
}

/** Events of the inbound rows after `afterId` (the feed), each with the active endpoints that take it. */
const feedEvents = async (s: Pick<TestServer, 'deps'>, afterId: number): Promise<StoredEvent[]> => {
  const endpoints = (await s.deps.db.read.webhooks.activeEndpoints()).map((e) => ({ e, patterns: JSON.parse(e.events) as string[] }))
  return (await s.deps.db.read.inbound.feedAfter(afterId, 100_000)).flatMap((row) => {
    const ev = feedEvent(row)
    if (!ev) return []
    const to = endpoints.filter(({ e, patterns }) => endpointWants(e, patterns, ev.type, ev.channelId)).map(({ e }) => e.id)
    return to.length > 0 ? [parsed(ev, to)] : []
  })
}

/** Stored event rows (oldest first) after `seq`, with the endpoints their deliveries go to; feed events the worker recorded are left out. */
const rowEvents = async (s: Pick<TestServer, 'deps'>, seq: number, type?: string): Promise<StoredEvent[]> => {
  const q = testSql(s.deps.db)
  const rows = await q.all<{ id: string; type: string; channelId: string | null; body: string }>('SELECT seq, id, type, channel_id AS channelId, body FROM webhook_events WHERE seq > ? ORDER BY seq', seq)
  const dels = await q.all<{ eventId: string; endpointId: string }>('SELECT event_id AS eventId, endpoint_id AS endpointId FROM webhook_deliveries ORDER BY seq')
  return rows.filter((r) => (type === undefined || r.type === type) && !/in[0-9a-z]+$/.test(r.id))
    .map((r) => parsed(r, dels.filter((d) => d.eventId === r.id).map((d) => d.endpointId)))
}

/** Every event but the feed's (oldest first) with the endpoints its deliveries go to. */
export const storedEvents = (s: Pick<TestServer, 'deps'>, type?: string): Promise<StoredEvent[]> => rowEvents(s, 0, type)

export interface EventMark { seq: number; inbound: number }
/** Where the events are now (see eventsSince). */
export const eventMark = async (s: Pick<TestServer, 'deps'>): Promise<EventMark> => ({
  seq: (await testSql(s.deps.db).get<{ m: number }>('SELECT coalesce(max(seq), 0) AS m FROM webhook_events'))!.m,
  inbound: await s.deps.db.read.inbound.newestCursor(),
})
/** The events since the mark: the feed's first (a callback's own event), then the stored ones (what its rules emitted, and any other). */
export const eventsSince = async (s: Pick<TestServer, 'deps'>, mark: EventMark): Promise<StoredEvent[]> => {
  // PostgreSQL's feed shows a committed row only once every older transaction has ended (inbound.repo.ts: below
  // the snapshot's xmin), so that none is ever skipped; a worker's or a lease's transaction still open for a few
  // ms hides the callback's row for that long. Wait (at most 2 s) until every committed row after the mark is in it.
  if (s.deps.db.kind === 'postgres') {
    const q = testSql(s.deps.db)
    for (const t0 = Date.now(); Date.now() - t0 < 2000; await Bun.sleep(10)) {
      const committed = (await q.get<{ n: number }>('SELECT count(*) AS n FROM inbound_messages WHERE tx_id > ?', mark.inbound))!.n
      if ((await s.deps.db.read.inbound.feedAfter(mark.inbound, 100_000)).length >= committed) break
    }
  }
  return [...await feedEvents(s, mark.inbound), ...await rowEvents(s, mark.seq)]
}
