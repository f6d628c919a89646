/**
 * Webhook endpoint rows written straight into the store, and the event/delivery rows read back: the events
 * tests assert on what was committed (the delivery worker may not run in them).
 */
import { expect } from 'bun:test'
import type { TestServer } from './server'
import { webhookEndpoints } from '../../src/store/schema'

let n = 0
/** An active endpoint subscribed to `events` (default every event), on `channelId` (default every channel). */
export const addEndpoint = async (s: Pick<TestServer, 'deps'>, o: { events?: string[]; channelId?: string | null } = {}): Promise<string> => {
  const id = `whe_test${++n}_${Math.random().toString(36).slice(2, 8)}`
  const now = Date.now()
  await s.deps.db.tx((orm) => {
    orm.insert(webhookEndpoints).values({ id, url: 'http://127.0.0.1:9/none', events: JSON.stringify(o.events ?? ['*']), channelId: o.channelId ?? null, secret: 'whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==', createdAt: now, updatedAt: now }).run()
  })
  s.deps.events.invalidate()
  return id
}

export const removeEndpoints = async (s: Pick<TestServer, 'deps'>): Promise<void> => {
  await s.deps.db.tx((orm) => { orm.delete(webhookEndpoints).run() })
  s.deps.events.invalidate()
}

export interface StoredEvent { id: string; type: string; channelId: string | null; timestamp: string; data: Record<string, any>; deliveries: string[] }

/** Every stored event (oldest first) with the endpoints its deliveries go to. */
export const storedEvents = (s: Pick<TestServer, 'deps'>, type?: string): StoredEvent[] => {
  const rows = s.deps.db.sqlite.query('SELECT seq, id, type, channel_id AS channelId, body FROM webhook_events ORDER BY seq').all() as { id: string; type: string; channelId: string | null; body: string }[]
  const dels = s.deps.db.sqlite.query('SELECT event_id AS eventId, endpoint_id AS endpointId FROM webhook_deliveries ORDER BY seq').all() as { eventId: string; endpointId: string }[]
  return rows.filter((r) => type === undefined || r.type === type).map((r) => {
    const body = JSON.parse(r.body) as { type: string; timestamp: string; data: Record<string, unknown> }
    expect(body.type).toBe(r.type)
    return { id: r.id, type: r.type, channelId: r.channelId, timestamp: body.timestamp, data: body.data, deliveries: dels.filter((d) => d.eventId === r.id).map((d) => d.endpointId) }
  })
}

/** Events stored since `seq` mark (see eventMark). */
export const eventMark = (s: Pick<TestServer, 'deps'>): number => (s.deps.db.sqlite.query('SELECT coalesce(max(seq), 0) AS m FROM webhook_events').get() as { m: number }).m
export const eventsSince = (s: Pick<TestServer, 'deps'>, mark: number): StoredEvent[] => {
  const ids = new Set((s.deps.db.sqlite.query('SELECT id FROM webhook_events WHERE seq > ?').all(mark) as { id: string }[]).map((r) => r.id))
  return storedEvents(s).filter((e) => ids.has(e.id))
}
