/**
 * Defects a review of the webhook work found (each test failed before its fix):
 * - a 410 disabled an endpoint, but callbacks went on writing deliveries for it (the events cache was never
 *   dropped) that were never sent nor pruned;
 * - a manual retry of a disabled endpoint's delivery answered 200 and stayed pending for ever;
 * - an endpoint deleted in the same batch as a callback made the callback fail on the foreign key;
 * - endpoints created first with a backlog took every free slot and starved the others.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEventsService } from '../../src/domain/events.service'
import { createWebhookWorker } from '../../src/domain/webhook-worker'
import { systemClock } from '../../src/lib/clock'
import { memoryLogger } from '../../src/lib/log'
import { systemRandom } from '../../src/lib/random'
import { openDb } from '../../src/store/sqlite/db'
import { migrate } from '../../src/store/sqlite/migrate'
import { webhooksRepo } from '../../src/store/sqlite/webhooks.repo'
import { ADMIN_TOKEN, PLAIN, post, signedQuery, startTestServer, textXml, type TestServer } from '../support/server'
import { startReceiver } from '../support/webhook-receiver'
import { testSql } from '../support/sql'

let s: TestServer
beforeAll(async () => { s = await startTestServer() })
afterAll(async () => { await s?.stop() })
const api = (method: string, path: string, body?: unknown) => fetch(`${s.url}${path}`, {
  method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}),
})
const until = async (what: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms
  while (Date.now() < end) { if (await what()) return; await Bun.sleep(25) }
  throw new Error('condition not met in time')
}
const callback = async () => {
  const r = await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml())
  expect(r.status).toBe(200)
  await r.text()
}

test('410: the endpoint is disabled, its pending deliveries fail, and later callbacks write none for it', async () => {
  const r = startReceiver({ answer: () => new Response('gone', { status: 410 }) })
  try {
    const { id } = await (await api('POST', '/api/webhooks', { url: r.url })).json() as { id: string }
    await callback()
    await until(async () => ((await (await api('GET', `/api/webhooks/${id}`)).json()) as { disabled: boolean }).disabled)
    for (let i = 0; i < 10; i++) await callback()
    await Bun.sleep(300)
    const rows = (await testSql(s.deps.db).all('SELECT status, count(*) AS n FROM webhook_deliveries WHERE endpoint_id = ? GROUP BY status', id)) as { status: string; n: number }[]
    expect(rows.filter((x) => x.status === 'pending')).toEqual([])
    expect(rows.reduce((a, x) => a + x.n, 0)).toBeLessThanOrEqual(1 + 1) // the one that got the 410, and at most one in its batch
    expect(s.deps.events.wants('message.received', 'default')).toBe(false)
    // A manual retry of the disabled endpoint's delivery is refused, not left pending for ever.
    const d = ((await (await api('GET', `/api/webhooks/${id}/deliveries?status=failed`)).json()) as { items: { id: string }[] }).items[0]!
    const retry = await api('POST', `/api/webhooks/deliveries/${d.id}/retry`)
    expect(retry.status).toBe(409)
    expect(((await retry.json()) as { error: { message: string } }).error.message).toContain('disabled')
    await api('DELETE', `/api/webhooks/${id}`)
  } finally {
    await r.stop()
  }
})

test('an endpoint deleted in the same batch as a callback: the callback is stored, without a delivery for it', async () => {
  const r = startReceiver({ answer: () => new Response(null, { status: 204 }) })
  try {
    const { id } = await (await api('POST', '/api/webhooks', { url: r.url })).json() as { id: string }
    expect(s.deps.events.wants('message.received', 'default')).toBe(true)
    const ts = String(Math.floor(Date.now() / 1000))
    const q = Object.fromEntries(new URLSearchParams(signedQuery(PLAIN.token, {}, ts).query))
    // Queued in one turn of the event loop: the delete first, the callback in the same batch after it.
    const [, answer] = await Promise.all([s.deps.webhooks.remove(id), s.deps.callbacks.handle('default', q, textXml({ msgId: '8300000000000000001', createTime: ts }))])
    expect(answer.status).toBe(200)
    expect((await testSql(s.deps.db).get("SELECT count(*) AS n FROM inbound_messages WHERE dedup_key = 'msg:8300000000000000001'"))).toEqual({ n: 1 })
  } finally {
    await r.stop()
  }
})

test('16 endpoints with a dead backlog created first do not starve a healthy 17th', async () => {
  const db = openDb(join(mkdtempSync(join(tmpdir(), 'wxgate-fair-')), 'x.db'))
  migrate(db.sqlite, undefined, Date.now())
  const now = Date.now()
  await db.tx((orm) => {
    for (let i = 0; i < 17; i++) {
      orm.webhooks.insertEndpoint({ id: `whe_${String(i).padStart(2, '0')}`, url: i < 16 ? `http://dead.invalid/${i}` : 'http://ok.invalid/', events: '["*"]', channelId: null, description: null, secret: 'whsec_' + Buffer.alloc(32).toString('base64'), createdAt: now + i, updatedAt: now + i })
    }
  })
  const events = createEventsService({ db, clock: systemClock, random: systemRandom })
  await db.tx(async (orm) => { for (let k = 0; k < 40; k++) await events.emit(orm, { type: 'webhook.test', channelId: null, data: {} }) })
  let ok = 0
  const fakeFetch = (async (url: string, init: RequestInit) => {
    if (String(url).startsWith('http://ok.invalid')) { ok++; return new Response(null, { status: 204 }) }
    return new Promise<Response>((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)))
  }) as unknown as typeof fetch
  const w = createWebhookWorker({ db, clock: systemClock, random: systemRandom, log: memoryLogger('info').logger, events, userAgent: 'test', fetch: fakeFetch, timeoutMs: 10_000 })
  await w.start()
  try {
    // The 16 dead endpoints hold 4 slots each (64) and hang for 10 s; the healthy one is not kept waiting meanwhile.
    await until(() => ok >= 40, 5_000)
    expect(ok).toBe(40)
  } finally {
    await w.stop()
    db.close()
  }
}, 30_000)
