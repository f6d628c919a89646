/**
 * Webhook endpoints through the real server (port 0) and deliveries to real receivers, each verified with
 * the third-party verifier (npm standardwebhooks). The clock is injected (wall time + an offset the tests
 * move) so the retry schedule and the rotation overlap are checked on it, not waited for.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Webhook } from 'standardwebhooks'
import { ROTATION_OVERLAP_MS } from '../../src/domain/webhooks.service'
import { RETRY_SCHEDULE_MS } from '../../src/domain/webhook-worker'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'
import { startReceiver, until, verifyAt, type Receiver } from '../support/webhook-receiver'
import { testSql } from '../support/sql'

let offset = 0
const clock = { now: () => Date.now() + offset }
let s: TestServer
const receivers: Receiver[] = []

beforeAll(async () => { s = await startTestServer({ clock }) })
afterAll(async () => {
  await s?.stop()
  for (const r of receivers) await r.stop()
})

const api = (method: string, path: string, body?: unknown, key = ADMIN_TOKEN) =>
  fetch(`${s.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })

interface Created { id: string; url: string; events: string[]; secret: string; disabled: boolean; createdAt: string; channel?: string; description?: string }
interface Delivery { id: string; eventId: string; type: string; status: string; attempts: number; lastStatusCode?: number; lastError?: string; nextAttemptAt?: string; deliveredAt?: string }

const receiver = (o: Parameters<typeof startReceiver>[0] = {}) => {
  const r = startReceiver({ now: clock.now, ...o })
  receivers.push(r)
  return r
}
const createFor = async (r: Receiver, body: Record<string, unknown> = {}): Promise<Created> => {
  const res = await api('POST', '/api/webhooks', { url: r.url, ...body })
  expect(res.status).toBe(201)
  const c = (await res.json()) as Created
  r.secret = c.secret
  return c
}
const deliveries = async (id: string, q = ''): Promise<Delivery[]> => ((await (await api('GET', `/api/webhooks/${id}/deliveries${q}`)).json()) as { items: Delivery[] }).items
const sendTest = async (id: string): Promise<string> => {
  const res = await api('POST', `/api/webhooks/${id}/test`)
  expect(res.status).toBe(202)
  return ((await res.json()) as { eventId: string }).eventId
}
const expectError = async (res: Response, status: number, code: string, mentions?: string) => {
  expect(res.status).toBe(status)
  const body = (await res.json()) as { error: { code: string; message: string } }
  expect(Object.keys(body)).toEqual(['error'])
  expect(body.error.code).toBe(code)
  if (mentions) expect(body.error.message).toContain(mentions)
}

describe('endpoints', () => {
  test('create → 201 with the whsec_ secret once; get and list never show it; patch; delete → 204', async () => {
    const r = receiver()
    const res = await api('POST', '/api/webhooks', { url: r.url, events: ['message.*', 'binding.created'], channel: 'default', description: 'crm' })
    expect(res.status).toBe(201)
    const c = (await res.json()) as Created
    expect(c).toMatchObject({ url: r.url, events: ['message.*', 'binding.created'], channel: 'default', description: 'crm', disabled: false })
    expect(c.id).toMatch(/^whe_/)
    expect(c.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    const one = await (await api('GET', `/api/webhooks/${c.id}`)).text()
    const list = await (await api('GET', '/api/webhooks')).text()
    expect(one).not.toContain(c.secret.slice(6))
    expect(list).not.toContain(c.secret.slice(6))
    expect(JSON.parse(one)).toMatchObject({ id: c.id, url: r.url })
    expect((JSON.parse(list) as { items: { id: string }[] }).items.map((i) => i.id)).toContain(c.id)
    expect(s.logLines.join('\n')).not.toContain(c.secret.slice(6))

    const patched = await api('PATCH', `/api/webhooks/${c.id}`, { events: ['*'], disabled: true })
    expect(patched.status).toBe(200)
    expect(await patched.json()).toMatchObject({ events: ['*'], disabled: true, disabledReason: 'disabled through the API' })
    const back = (await (await api('PATCH', `/api/webhooks/${c.id}`, { disabled: false })).json()) as Record<string, unknown>
    expect(back.disabled).toBe(false)
    expect(back.disabledReason).toBeUndefined()
    expect(back.failingSince).toBeUndefined()

    expect((await api('DELETE', `/api/webhooks/${c.id}`)).status).toBe(204)
    await expectError(await api('GET', `/api/webhooks/${c.id}`), 404, 'not_found')
  })

  test('bad input: a url that is not http(s), an unknown event type (named), an unknown channel → 422; an unknown id → 404; in the error shape', async () => {
    for (const url of ['ftp://example.com/hook', 'javascript:alert(1)', 'not a url', 'file:///etc/passwd']) {
      await expectError(await api('POST', '/api/webhooks', { url }), 422, 'validation_failed', 'url')
    }
    await expectError(await api('POST', '/api/webhooks', { url: 'http://127.0.0.1:1/x', events: ['message.received', 'message.recieved'] }), 422, 'validation_failed', "'message.recieved'")
    await expectError(await api('POST', '/api/webhooks', { url: 'http://127.0.0.1:1/x', events: ['nothing.*'] }), 422, 'validation_failed', "'nothing.*'")
    await expectError(await api('POST', '/api/webhooks', { url: 'http://127.0.0.1:1/x', channel: 'nope' }), 422, 'validation_failed', "'nope'")
    await expectError(await api('PATCH', '/api/webhooks/whe_unknown', { disabled: false }), 404, 'not_found', 'whe_unknown')
    await expectError(await api('PATCH', '/api/webhooks/whe_unknown', { url: 'gopher://x' }), 422, 'validation_failed', 'url')
    for (const [m, p] of [['GET', '/api/webhooks/whe_unknown'], ['DELETE', '/api/webhooks/whe_unknown'], ['POST', '/api/webhooks/whe_unknown/rotate-secret'], ['POST', '/api/webhooks/whe_unknown/test'], ['GET', '/api/webhooks/whe_unknown/deliveries'], ['POST', '/api/webhooks/deliveries/whd_unknown/retry']] as const) {
      await expectError(await api(m, p), 404, 'not_found')
    }
    const c = await createFor(receiver())
    await expectError(await api('GET', `/api/webhooks/${c.id}/deliveries?status=lost`), 422, 'validation_failed')
    await expectError(await api('GET', `/api/webhooks/${c.id}/deliveries?cursor=bogus`), 422, 'validation_failed')
  })
})

describe('delivery', () => {
  test('webhook.test reaches a real receiver: Standard Webhooks headers, verified by standardwebhooks; listed as delivered', async () => {
    const r = receiver()
    const c = await createFor(r, { events: ['message.received'] })
    const eventId = await sendTest(c.id)
    await until('the delivery', () => r.received.length === 1)
    const got = r.received[0]!
    expect(got.verified).toBe(true)
    expect(got.id).toBe(eventId)
    expect(got.headers['content-type']).toBe('application/json')
    expect(got.headers['user-agent']).toMatch(/^wxgate\/\d/)
    expect(Math.abs(got.timestamp - Math.floor(clock.now() / 1000))).toBeLessThan(30)
    expect(got.signature.split(' ')).toHaveLength(1)
    expect(JSON.parse(got.body)).toMatchObject({ type: 'webhook.test', data: {} })
    await until('delivered in the list', async () => (await deliveries(c.id))[0]?.status === 'delivered')
    const [d] = await deliveries(c.id, '?status=delivered')
    expect(d).toMatchObject({ eventId, type: 'webhook.test', status: 'delivered', attempts: 1, lastStatusCode: 204 })
    expect(d!.deliveredAt).toBeDefined()
    expect(d!.nextAttemptAt).toBeUndefined()
    expect(await deliveries(c.id, '?status=failed')).toEqual([])
  })

  test('rotate-secret: for 24 h both secrets sign (each verifies with its own), then only the new one', async () => {
    const r = receiver()
    const c = await createFor(r)
    const rot = await api('POST', `/api/webhooks/${c.id}/rotate-secret`)
    expect(rot.status).toBe(200)
    const { secret } = (await rot.json()) as { secret: string }
    expect(secret).not.toBe(c.secret)
    expect(secret).toMatch(/^whsec_/)
    expect(await (await api('GET', `/api/webhooks/${c.id}`)).text()).not.toContain(secret.slice(6))

    await sendTest(c.id)
    await until('the first delivery', () => r.received.length === 1)
    const first = r.received[0]!
    expect(first.signature.split(' ')).toHaveLength(2)
    const at = first.timestamp * 1000
    expect(verifyAt(c.secret, first.body, first.headers, at)).toBe(true)
    expect(verifyAt(secret, first.body, first.headers, at)).toBe(true)
    // Each entry is the signature of one of the secrets (computed by the third-party library).
    const expected = (sec: string) => new Webhook(sec).sign(first.id, new Date(at), first.body)
    expect(first.signature.split(' ').sort()).toEqual([expected(secret), expected(c.secret)].sort())

    offset += ROTATION_OVERLAP_MS + 60_000
    await sendTest(c.id)
    await until('the second delivery', () => r.received.length === 2)
    const second = r.received[1]!
    expect(second.signature.split(' ')).toHaveLength(1)
    const at2 = second.timestamp * 1000
    expect(Math.abs(at2 - clock.now())).toBeLessThan(30_000)
    expect(verifyAt(secret, second.body, second.headers, at2)).toBe(true)
    expect(verifyAt(c.secret, second.body, second.headers, at2)).toBe(false)
  })

  test('410 → the delivery failed and the endpoint disabled, saying why; nothing more is sent to it', async () => {
    const r = receiver({ answer: () => new Response('gone', { status: 410 }) })
    const c = await createFor(r)
    await sendTest(c.id)
    await until('disabled', async () => ((await (await api('GET', `/api/webhooks/${c.id}`)).json()) as { disabled: boolean }).disabled)
    const ep = (await (await api('GET', `/api/webhooks/${c.id}`)).json()) as { disabledReason: string }
    expect(ep.disabledReason).toBe('410 Gone from the receiver')
    const [d] = await deliveries(c.id)
    expect(d).toMatchObject({ status: 'failed', lastStatusCode: 410, attempts: 1 })
    expect(r.received.every((x) => x.verified)).toBe(true)
    await expectError(await api('POST', `/api/webhooks/${c.id}/test`), 409, 'conflict', 'disabled')
    const metrics = await (await fetch(`${s.url}/metrics`)).text()
    expect(metrics).toContain(`wxgate_webhook_endpoints_disabled_total{endpoint="${c.id}",reason="410"} 1`)
    expect(metrics).toContain(`wxgate_webhook_deliveries_total{endpoint="${c.id}",outcome="failed"} 1`)
  })

  test('a redirect and a 5 MB answer are failures (retried later), recorded with the reason; the redirect is not followed', async () => {
    let followed = 0
    const target = receiver({ answer: () => { followed++; return new Response('ok') } })
    const redirect = receiver({ answer: () => new Response(null, { status: 302, headers: { location: target.url } }) })
    const big = receiver({ answer: () => new Response('x'.repeat(5 * 1024 * 1024), { status: 200 }) })
    const streamed = receiver({
      answer: () => new Response(new ReadableStream({ pull: (ctl) => { ctl.enqueue(new Uint8Array(256 * 1024)) } }), { status: 200 }),
    })
    const healthy = receiver()
    const eps = [await createFor(redirect), await createFor(big), await createFor(streamed), await createFor(healthy)]
    for (const e of eps) await sendTest(e.id)
    await until('every result recorded', async () => {
      for (const e of eps) if ((await deliveries(e.id))[0]?.attempts !== 1 || (await deliveries(e.id))[0]?.lastStatusCode === undefined) return false
      return true
    })
    const [dr] = await deliveries(eps[0]!.id)
    expect(dr).toMatchObject({ status: 'pending', lastStatusCode: 302 })
    expect(dr!.lastError).toContain('redirects are not followed')
    expect(followed).toBe(0)
    for (const e of [eps[1]!, eps[2]!]) {
      const [d] = await deliveries(e.id)
      expect(d).toMatchObject({ status: 'pending', lastStatusCode: 200 })
      expect(d!.lastError).toContain('larger than 64 KiB')
      // The next attempt on the schedule: 5 s (±10 %) after this one, on the injected clock.
      const wait = Date.parse(d!.nextAttemptAt!) - clock.now()
      expect(wait).toBeGreaterThan(0)
      expect(wait).toBeLessThanOrEqual(5_500)
    }
    expect((await deliveries(eps[3]!.id))[0]).toMatchObject({ status: 'delivered' })
    for (const e of eps) await api('DELETE', `/api/webhooks/${e.id}`)
  })

  test('429 with Retry-After: pending at that time, the attempt not counted against the schedule', async () => {
    let n = 0
    const r = receiver({ answer: () => (++n === 1 ? new Response('slow down', { status: 429, headers: { 'retry-after': '120' } }) : new Response(null, { status: 200 })) })
    const c = await createFor(r)
    await sendTest(c.id)
    await until('the 429 recorded', async () => (await deliveries(c.id))[0]?.lastStatusCode === 429)
    const [d] = await deliveries(c.id)
    expect(d!.status).toBe('pending')
    expect(d!.attempts).toBe(0)
    const wait = Date.parse(d!.nextAttemptAt!) - clock.now()
    expect(wait).toBeGreaterThan(100_000)
    expect(wait).toBeLessThanOrEqual(120_000)
    offset += 121_000
    await until('delivered after the wait', async () => (await deliveries(c.id))[0]?.status === 'delivered')
    expect((await deliveries(c.id))[0]).toMatchObject({ attempts: 1, lastStatusCode: 200 })
    expect(r.received.every((x) => x.verified)).toBe(true)
  })

  test('the schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±10 %), failed after the 8th attempt; retry sends it again with the same webhook-id', async () => {
    let failing = true
    const r = receiver({ answer: () => new Response('no', { status: failing ? 500 : 200 }) })
    const c = await createFor(r)
    const eventId = await sendTest(c.id)
    for (let attempt = 1; attempt <= 8; attempt++) {
      // Recorded (not only claimed: a claim counts the attempt before its POST's result is written).
      await until(`attempt ${attempt}`, async () => {
        const [d] = await deliveries(c.id)
        return d?.attempts === attempt && d.lastStatusCode === 500 && (attempt === 8 ? d.status === 'failed' : Date.parse(d.nextAttemptAt!) > clock.now())
      })
      const [d] = await deliveries(c.id)
      if (attempt === 8) {
        expect(d!.status).toBe('failed')
        break
      }
      expect(d!.status).toBe('pending')
      const wait = Date.parse(d!.nextAttemptAt!) - clock.now()
      const step = RETRY_SCHEDULE_MS[attempt - 1]!
      expect(wait).toBeGreaterThan(step * 0.9 - 2000)
      expect(wait).toBeLessThanOrEqual(step * 1.1)
      offset += wait + 1
    }
    expect(r.received).toHaveLength(8)
    expect(new Set(r.received.map((x) => x.id))).toEqual(new Set([eventId]))
    expect(r.received.every((x) => x.verified)).toBe(true)
    const ep = (await (await api('GET', `/api/webhooks/${c.id}`)).json()) as { failingSince?: string; disabled: boolean }
    expect(ep.failingSince).toBeDefined()
    expect(ep.disabled).toBe(false)

    failing = false
    const [failed] = await deliveries(c.id)
    const retried = await api('POST', `/api/webhooks/deliveries/${failed!.id}/retry`)
    expect(retried.status).toBe(200)
    expect(await retried.json()).toMatchObject({ id: failed!.id, status: 'pending' })
    await until('delivered after the retry', async () => (await deliveries(c.id))[0]?.status === 'delivered')
    expect(r.received.at(-1)!.id).toBe(eventId)
    expect(r.received.at(-1)!.verified).toBe(true)
    // A success ends the run of failures.
    expect(((await (await api('GET', `/api/webhooks/${c.id}`)).json()) as { failingSince?: string }).failingSince).toBeUndefined()
    await expectError(await api('POST', `/api/webhooks/deliveries/${failed!.id}/retry`), 409, 'conflict', 'only a failed delivery')
  })

  test('an endpoint failing every attempt for 5 days is disabled, saying so, with a warn line and the metric', async () => {
    const r = receiver({ answer: () => new Response('down', { status: 503 }) })
    const c = await createFor(r)
    await sendTest(c.id)
    await until('the first failure', async () => (await deliveries(c.id))[0]?.attempts === 1)
    offset += 5 * 86_400_000 + 1000
    await sendTest(c.id)
    await until('disabled', async () => ((await (await api('GET', `/api/webhooks/${c.id}`)).json()) as { disabled: boolean }).disabled)
    const ep = (await (await api('GET', `/api/webhooks/${c.id}`)).json()) as { disabledReason: string }
    expect(ep.disabledReason).toContain('every delivery failed for 5 days')
    expect(s.logLines.some((l) => l.includes('"level":"warn"') && l.includes('every delivery failed for 5 days') && l.includes(c.id))).toBe(true)
    expect(await (await fetch(`${s.url}/metrics`)).text()).toContain(`wxgate_webhook_endpoints_disabled_total{endpoint="${c.id}",reason="failing"} 1`)
  })

  test('finished deliveries and their events are pruned after 7 days (in chunks); pending ones and their events are kept', async () => {
    // What the earlier tests left is older than 7 days on the moved clock already.
    await s.deps.webhookWorker.prune()
    const ok = receiver()
    const down = receiver({ answer: () => new Response('down', { status: 500 }) })
    const a = await createFor(ok)
    const b = await createFor(down)
    const kept = await sendTest(b.id)
    const gone = await sendTest(a.id)
    await until('both tried', async () => (await deliveries(a.id))[0]?.status === 'delivered' && (await deliveries(b.id))[0]?.attempts === 1)
    expect(await s.deps.webhookWorker.prune()).toEqual({ deliveries: 0, events: 0 })
    // Keep b's delivery pending (not due) while the clock moves 7 days on.
    const events = async () => ((await testSql(s.deps.db).all('SELECT id FROM webhook_events')) as { id: string }[]).map((r) => r.id)
    await api('PATCH', `/api/webhooks/${b.id}`, { disabled: true })
    offset += 7 * 86_400_000 + 60_000
    const pruned = await s.deps.webhookWorker.prune()
    expect(pruned.deliveries).toBeGreaterThanOrEqual(1)
    expect(await deliveries(a.id)).toEqual([])
    expect((await deliveries(b.id)).map((d) => d.eventId)).toEqual([kept])
    expect(await events()).toContain(kept)
    expect(await events()).not.toContain(gone)
  })

  test('metrics: deliveries by endpoint and outcome, queue depth and oldest age, latency', async () => {
    const r = receiver()
    const c = await createFor(r)
    await sendTest(c.id)
    await until('delivered', async () => (await deliveries(c.id))[0]?.status === 'delivered')
    const m = await (await fetch(`${s.url}/metrics`)).text()
    expect(m).toContain(`wxgate_webhook_deliveries_total{endpoint="${c.id}",outcome="delivered"} 1`)
    expect(m).toContain(`wxgate_webhook_queue_depth{endpoint="${c.id}"} 0`)
    expect(m).toContain(`wxgate_webhook_queue_oldest_age_seconds{endpoint="${c.id}"} 0`)
    expect(m).toContain(`wxgate_webhook_delivery_duration_seconds_count{endpoint="${c.id}"} 1`)
  })
})
