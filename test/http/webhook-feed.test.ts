/**
 * The inbound feed (webhook-feed.ts): a callback's own event is read from its inbound row through each
 * endpoint's cursor and written as an event + delivery only with its POST's result. Through the real server
 * with real callbacks and real receivers (verified with the standardwebhooks package).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { BUSY_RATE } from '../../src/domain/webhook-worker'
import { ADMIN_TOKEN, post, signedQuery, startTestServer, textXml, type TestServer } from '../support/server'
import { startReceiver, until, type Receiver } from '../support/webhook-receiver'
import { testSql } from '../support/sql'

let s: TestServer
let burst = false
const receivers: Receiver[] = []
beforeAll(async () => { s = await startTestServer({ webhookBusy: () => burst }) })
afterAll(async () => {
  await s?.stop()
  for (const r of receivers) await r.stop()
})

const api = (method: string, path: string, body?: unknown) =>
  fetch(`${s.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
const receiver = (o: Parameters<typeof startReceiver>[0] = {}) => {
  const r = startReceiver(o)
  receivers.push(r)
  return r
}
const endpointFor = async (r: Receiver, events = ['message.received']): Promise<string> => {
  const res = await api('POST', '/api/webhooks', { url: r.url, events })
  expect(res.status).toBe(201)
  const c = (await res.json()) as { id: string; secret: string }
  r.secret = c.secret
  return c.id
}
let n = 0
/** A user's text through the real callback route; returns its content (each one unique). */
const say = async (content = `feed-${++n}-${Math.random().toString(36).slice(2, 8)}`): Promise<string> => {
  const res = await post(`${s.url}/wechat?${signedQuery('spamtest').query}`, textXml({ content, from: 'o_feed' }))
  expect(res.status).toBe(200)
  await res.text()
  return content
}
const contents = (r: Receiver): string[] => r.received.map((x) => (JSON.parse(x.body) as { data: { content?: string } }).data.content ?? '')
const cursorOf = async (id: string): Promise<number> => ((await testSql(s.deps.db).get('SELECT feed_cursor AS c FROM webhook_endpoints WHERE id = ?', id)) as { c: number }).c
const newestInbound = async (): Promise<number> => s.deps.db.read.inbound.newestCursor()

describe('the inbound feed', () => {
  test('a new endpoint gets what comes after it, not the history; each event once, verified, recorded as delivered with its webhook-id', async () => {
    const before = [await say(), await say()]
    const r = receiver()
    const id = await endpointFor(r)
    expect(await cursorOf(id)).toBe(await newestInbound())
    const after = [await say(), await say(), await say()]
    await until('3 deliveries', () => r.received.length >= 3)
    await Bun.sleep(300)
    // Each once; the order of concurrent POSTs (several slots per endpoint) is not promised.
    expect([...contents(r)].sort()).toEqual([...after].sort())
    expect(contents(r).some((c) => before.includes(c))).toBe(false)
    expect(r.received.every((x) => x.verified)).toBe(true)
    await until('the cursor at the newest row', async () => await cursorOf(id) === await newestInbound())
    const items = ((await (await api('GET', `/api/webhooks/${id}/deliveries?status=delivered`)).json()) as { items: { eventId: string; type: string; attempts: number; lastStatusCode: number }[] }).items
    expect(items.map((d) => d.eventId).sort()).toEqual(r.received.map((x) => x.id).sort())
    expect(items.every((d) => d.type === 'message.received' && d.attempts === 1 && d.lastStatusCode === 204)).toBe(true)
  })

  test('a restart of the worker sends nothing again: neither what the cursor passed nor what was recorded beyond a cursor left behind', async () => {
    const r = receiver()
    const id = await endpointFor(r)
    await say(); await say(); await say()
    await until('3 deliveries', () => r.received.length >= 3)
    await until('the cursor at the newest row', async () => await cursorOf(id) === await newestInbound())
    await s.deps.webhookWorker.stop()
    // As if a stop came between a result's commit and the cursor's: the rows are recorded, the cursor behind them.
    const feed = await s.deps.db.read.inbound.feedAfter(0, 100_000)
    await testSql(s.deps.db).run('UPDATE webhook_endpoints SET feed_cursor = ? WHERE id = ?', feed.at(-4)!.cursor, id)
    await s.deps.webhookWorker.start()
    const next = await say()
    await until('the 4th delivery', () => r.received.length >= 4)
    await Bun.sleep(300)
    expect(r.received).toHaveLength(4)
    expect(contents(r).at(-1)).toBe(next)
    expect(new Set(r.received.map((x) => x.id)).size).toBe(4)
  })

  test('disabled, then enabled again: what came meanwhile is not replayed', async () => {
    const r = receiver()
    const id = await endpointFor(r)
    expect((await api('PATCH', `/api/webhooks/${id}`, { disabled: true })).status).toBe(200)
    const meanwhile = await say()
    expect((await api('PATCH', `/api/webhooks/${id}`, { disabled: false })).status).toBe(200)
    expect(await cursorOf(id)).toBe(await newestInbound())
    const later = await say()
    await until('a delivery', () => r.received.length >= 1)
    await Bun.sleep(300)
    expect(contents(r)).toEqual([later])
    expect(contents(r)).not.toContain(meanwhile)
  })

  test('an endpoint gets only the types it subscribed to; the rows it skips move its cursor on', async () => {
    const r = receiver()
    const id = await endpointFor(r, ['user.*'])
    await say(); await say()
    const xml = `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o_feed_follow]]></FromUserName><CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey></xml>`
    const res = await post(`${s.url}/wechat?${signedQuery('spamtest').query}`, xml)
    expect(res.status).toBe(200)
    await res.text()
    await say()
    await until('the follow', () => r.received.length >= 1)
    await until('the cursor at the newest row', async () => await cursorOf(id) === await newestInbound())
    await Bun.sleep(200)
    expect(r.received.map((x) => (JSON.parse(x.body) as { type: string }).type)).toEqual(['user.subscribed'])
  })

  test('a failing endpoint gets its feed as pending deliveries (its cursor keeps up); they go once it answers again', async () => {
    let refuse = true
    const r = receiver({ answer: () => new Response('down', { status: refuse ? 500 : 204 }) })
    const id = await endpointFor(r)
    const first = await say()
    await until('the first attempt', () => r.received.length >= 1)
    await until('the endpoint failing', async () => ((await testSql(s.deps.db).get('SELECT failing_since AS f FROM webhook_endpoints WHERE id = ?', id)) as { f: number | null }).f !== null)
    refuse = false
    const rest = [await say(), await say(), await say()]
    await until('3 more delivered', () => r.received.filter((x) => x.answered === 204).length >= 3)
    expect(contents(r).filter((_, i) => r.received[i]!.answered === 204).sort()).toEqual([...rest].sort())
    await until('the cursor at the newest row', async () => await cursorOf(id) === await newestInbound())
    // A result is recorded a little after its POST is answered (it waits for the next commit).
    await until('3 recorded as delivered', async () => ((await (await api('GET', `/api/webhooks/${id}/deliveries?status=delivered`)).json()) as { items: unknown[] }).items.length === 3)
    // The refused one waits for its retry (5 s) as a pending delivery with one attempt counted.
    const pending = ((await (await api('GET', `/api/webhooks/${id}/deliveries?status=pending`)).json()) as { items: { eventId: string; attempts: number; lastStatusCode: number; nextAttemptAt: string }[] }).items
    expect(pending).toHaveLength(1)
    expect(pending[0]!.eventId).toBe(r.received[0]!.id)
    expect(pending[0]).toMatchObject({ attempts: 1, lastStatusCode: 500 })
    expect(Date.parse(pending[0]!.nextAttemptAt) - Date.now()).toBeGreaterThan(2_000)
    expect(contents(r)[0]).toBe(first)
  })

  test('callbacks first: during a burst POSTs are paced (BUSY_RATE), the rest waits in the inbound log and goes after it', async () => {
    const r = receiver()
    await endpointFor(r)
    burst = true
    try {
      const t0 = Date.now()
      await Promise.all(Array.from({ length: 8 }, async () => { for (let i = 0; i < 40; i++) await say() }))
      await Bun.sleep(200)
      const seconds = (Date.now() - t0) / 1000
      // A tenth of a second's worth saved up, then BUSY_RATE per second (and a little slack for timers).
      expect(r.received.length).toBeLessThanOrEqual(Math.ceil(BUSY_RATE / 10 + BUSY_RATE * seconds * 1.2) + 4)
    } finally {
      burst = false
    }
    await until('all 320 delivered after the burst', () => r.received.length >= 320, 20_000)
    expect(new Set(r.received.map((x) => x.id)).size).toBe(320)
  })
})
