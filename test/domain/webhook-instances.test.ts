// @first-pass-only: PostgreSQL on a cluster of its own (TEST_POSTGRES=required in .ci/run)
/**
 * Webhook deliveries and the webhook feed across instances (issue 14, SPEC §8): two webhook workers, each on
 * its own pool of one real PostgreSQL database, POSTing to real receivers on loopback that count webhook-ids.
 * - every webhook-id exactly once with both instances running (the feed read by one instance per endpoint,
 *   its lease `feed:<endpoint>`; deliveries claimed by one);
 * - a feed lease whose holder died lapses and the other instance delivers what followed the stored cursor;
 *   a holder that stops hands its feeds over at once;
 * - a delivery claimed by an instance that died is delivered by the other within 60 s, and the dead one's
 *   late result does not overwrite it.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { feedEvent, feedEventId } from '../../src/domain/webhook-feed'
import { createWebhookWorker, FEED_LEASE_MS, type WebhookWorker } from '../../src/domain/webhook-worker'
import { fixedClock, systemClock, type Clock } from '../../src/lib/clock'
import { memoryLogger } from '../../src/lib/log'
import { systemRandom } from '../../src/lib/random'
import type { Db, FeedRow, InboundInsert } from '../../src/store/contract'
import { openPostgres, type PostgresDb } from '../../src/store/postgres/db'
import { postgresMissing, postgresRequired, startPostgres, type TestPostgres } from '../support/postgres'
import { textXml } from '../support/server'
import { startReceiver, until, type Receiver } from '../support/webhook-receiver'

const missing = postgresMissing()
if (missing && postgresRequired) throw new Error(`TEST_POSTGRES=required but ${missing}`)

const T0 = Date.UTC(2026, 11, 1)
const TABLES = ['channels', 'api_keys', 'inbound_messages', 'channel_tokens', 'bind_codes', 'bindings', 'send_requests', 'messages',
  'message_attempts', 'webhook_endpoints', 'webhook_events', 'webhook_deliveries', 'media_uploads', 'leases', 'rate_buckets',
  'console_sessions']
const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`

describe.skipIf(missing !== undefined && !postgresRequired)(`webhooks across two instances on one PostgreSQL${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pg: TestPostgres
  let dbA: PostgresDb
  let dbB: PostgresDb
  const receivers: Receiver[] = []
  const workers: WebhookWorker[] = []
  beforeAll(async () => {
    pg = await startPostgres()
    dbA = await openPostgres(pg.url, { max: 6 })
    await dbA.migrate(T0)
    dbB = await openPostgres(pg.url, { max: 6 })
  }, 60_000)
  afterAll(async () => { await dbA?.close(); await dbB?.close(); await pg?.stop() })
  beforeEach(async () => {
    await dbA.sql.unsafe(`TRUNCATE ${TABLES.join(', ')} RESTART IDENTITY CASCADE`)
    await dbA.read.channels.upsert({ id: 'c1', appId: 'wx_c1', appSecret: 'secret_c1', token: 'tok' }, T0)
  })
  afterEach(async () => {
    await Promise.allSettled(workers.splice(0).map((w) => w.stop()))
    for (const r of receivers.splice(0)) await r.stop()
  })

  const worker = (db: Db, instanceId: string, clock: Clock, o: { fetch?: typeof fetch; timeoutMs?: number } = {}) => {
    const { logger, lines } = memoryLogger('info')
    const w = createWebhookWorker({ db, instanceId, clock, random: systemRandom, log: logger, events: { onEmitted: () => undefined }, userAgent: 'wxgate-test', ...o })
    workers.push(w)
    return { w, lines }
  }
  /** Instance a on dbA, whose POSTs hang until `answerA` (their webhook-ids in aCalls). */
  const hanging = (clock: ReturnType<typeof fixedClock>) => {
    const aCalls: string[] = []
    let answerA!: (r: Response) => void
    const aAnswer = new Promise<Response>((res) => { answerA = res })
    const a = worker(dbA, 'a', clock, {
      fetch: (async (_url: string, init: RequestInit) => {
        aCalls.push((init.headers as Record<string, string>)['webhook-id']!)
        return aAnswer
      }) as unknown as typeof fetch,
    })
    return { a, aCalls, answerA: (r: Response) => answerA(r) }
  }

  const receiver = (o: Parameters<typeof startReceiver>[0] = {}) => {
    const r = startReceiver(o)
    receivers.push(r)
    return r
  }
  const endpoint = (db: Db, id: string, url: string, now: number) =>
    db.read.webhooks.insertEndpoint({ id, url, events: '["*"]', channelId: null, description: null, secret: SECRET, createdAt: now, updatedAt: now })
  let n = 0
  const inbound = (now: number): InboundInsert => {
    const i = ++n
    return {
      channelId: 'c1', dedupKey: `k${i}`, msgType: 'text', event: null, fromUser: 'o_user', createTime: Math.floor(now / 1000),
      body: textXml({ content: `m${i}`, from: 'o_user', msgId: String(7_000_000_000 + i), createTime: String(Math.floor(now / 1000)) }),
      reply: '', handledBy: 'none', receivedAt: now,
    }
  }
  /** Every committed feed row after `after`, in cursor order. */
  const feedRows = async (db: Db, after: number): Promise<FeedRow[]> => {
    const out: FeedRow[] = []
    for (let c = after; ;) {
      const rows = await db.read.inbound.feedAfter(c, 500)
      if (rows.length === 0) return out
      out.push(...rows)
      c = rows.at(-1)!.cursor
    }
  }
  const counts = (r: Receiver): Map<string, number> => {
    const m = new Map<string, number>()
    for (const x of r.received) m.set(x.id, (m.get(x.id) ?? 0) + 1)
    return m
  }

  test('1,000 inbound messages and 400 other events, two instances running: every webhook-id received exactly once at each endpoint', async () => {
    const ra = receiver()
    const rb = receiver()
    const now = systemClock.now()
    await endpoint(dbA, 'e1', ra.url, now)
    await endpoint(dbA, 'e2', rb.url, now)
    const a = worker(dbA, 'a', systemClock)
    const b = worker(dbB, 'b', systemClock)
    await Promise.all([a.w.start(), b.w.start()])
    // Inbound rows committed through both pools in many transactions (the feed's cursors interleave), and
    // events of other types with a delivery per endpoint (claimed rows).
    const others: string[] = []
    await Promise.all([dbA, dbB].map(async (db, k) => {
      for (let t = 0; t < 20; t++) {
        await db.tx(async (s) => { for (let i = 0; i < 25; i++) await s.inbound.insert(inbound(systemClock.now())) })
        await db.tx(async (s) => {
          for (let i = 0; i < 10; i++) {
            const id = `evt_other_${k}_${t}_${i}`
            others.push(id)
            await s.webhooks.insertEvent({ id, type: 'message.sent', channelId: 'c1', body: JSON.stringify({ type: 'message.sent', n: id }), createdAt: systemClock.now() })
            await s.webhooks.insertDeliveries(['e1', 'e2'].map((e) => ({ id: `whd_${id}_${e}`, eventId: id, endpointId: e, nextAttemptAt: systemClock.now(), createdAt: systemClock.now() })))
          }
        })
      }
    }))
    // The feed is read below the oldest transaction still running (the workers' own records): all 1,000 soon.
    let rows: FeedRow[] = []
    await until('1,000 rows in the feed', async () => (rows = await feedRows(dbA, 0)).length === 1000)
    const expected = new Set([...rows.map(feedEventId), ...others])
    expect(expected.size).toBe(1400)
    for (const r of [ra, rb]) await until(`${expected.size} webhook-ids at ${r.url}`, () => counts(r).size >= expected.size, 60_000)
    // Whatever was going to be sent twice has had time to be.
    await Bun.sleep(1500)
    for (const r of [ra, rb]) {
      const c = counts(r)
      expect([...c].filter(([, k]) => k > 1)).toEqual([])
      expect(new Set(c.keys())).toEqual(expected)
      expect(r.received).toHaveLength(expected.size)
    }
    // Each endpoint's feed was read by one instance; both cursors at the end of the feed.
    for (const e of ['e1', 'e2']) {
      expect(['a', 'b']).toContain((await dbA.read.leases.get(`feed:${e}`))!.owner)
      await until(`${e}'s cursor at the end`, async () => (await dbA.read.webhooks.endpoint(e))!.feedCursor === rows.at(-1)!.cursor)
    }
    expect(await dbA.read.webhooks.pendingDepth()).toEqual([])
  }, 90_000)

  test('a feed whose holder died: the other instance takes it over once the lease lapses and delivers what followed the stored cursor', async () => {
    const clock = fixedClock(T0)
    const r = receiver()
    await endpoint(dbA, 'e1', r.url, T0)
    const start = (await dbA.read.webhooks.endpoint('e1'))!.feedCursor
    // 'dead' took the feed, POSTed and recorded its first 3 events (cursor moved), then died without renewing.
    expect(await dbA.read.leases.acquire('feed:e1', 'dead', T0 + FEED_LEASE_MS, T0)).toBe(true)
    for (let i = 0; i < 10; i++) await dbA.tx((s) => s.inbound.insert(inbound(T0)))
    const rows = await feedRows(dbA, start)
    expect(rows).toHaveLength(10)
    const events = rows.map((row) => feedEvent(row)!)
    await dbA.tx(async (s) => {
      for (const ev of events.slice(0, 3)) await s.webhooks.insertFeedDelivery(ev, { id: `whd_dead_${ev.id}`, endpointId: 'e1', now: T0, attempts: 1, status: 'delivered', statusCode: 204 })
      await s.webhooks.advanceFeed('e1', events[2]!.cursor)
    })
    const b = worker(dbB, 'b', clock)
    await b.w.start()
    await Bun.sleep(1500)
    expect(r.received).toHaveLength(0)
    expect((await dbA.read.leases.get('feed:e1'))!.owner).toBe('dead')
    // The lease lapses: b takes the feed over from the stored cursor.
    clock.advance(FEED_LEASE_MS + 1000)
    await until('7 deliveries', () => r.received.length >= 7)
    await Bun.sleep(500)
    expect(r.received.map((x) => x.id).sort()).toEqual(events.slice(3).map((e) => e.id).sort())
    expect(await dbA.read.leases.get('feed:e1')).toMatchObject({ owner: 'b', until: clock.now() + FEED_LEASE_MS })
    await until('the cursor at the end', async () => (await dbA.read.webhooks.endpoint('e1'))!.feedCursor === events.at(-1)!.cursor)
    // A feed b holds is not taken by another while b renews it (once it is 10 s old), past its first lease's end.
    const first = (await dbA.read.leases.get('feed:e1'))!.until
    for (let i = 0; i < 2; i++) {
      clock.advance(20_000)
      await until('b renews its lease', async () => (await dbA.read.leases.get('feed:e1'))!.until === clock.now() + FEED_LEASE_MS)
    }
    expect(clock.now()).toBeGreaterThan(first)
    expect(await dbA.read.leases.acquire('feed:e1', 'other', clock.now() + FEED_LEASE_MS, clock.now())).toBe(false)
    expect((await dbA.read.leases.get('feed:e1'))!.owner).toBe('b')
  }, 30_000)

  test('a feed holder that stalled past its lease: the other instance sends the event, the stalled one\'s late result is not recorded', async () => {
    const clock = fixedClock(T0)
    const r = receiver()
    await endpoint(dbA, 'e1', r.url, T0)
    const { a, aCalls, answerA } = hanging(clock)
    await a.w.start()
    await until('a holds the feed', async () => (await dbA.read.leases.get('feed:e1'))?.owner === 'a')
    await dbA.tx((s) => s.inbound.insert(inbound(T0)))
    await until('a POSTs the event', () => aCalls.length === 1)
    // a stalls (no more passes: it is stopping, its POST hangs) and its lease lapses; b takes the feed over.
    const aStopped = a.w.stop()
    const b = worker(dbB, 'b', clock)
    await b.w.start()
    clock.advance(FEED_LEASE_MS + 1000)
    await until('b sends the event', () => r.received.length === 1)
    expect(r.received[0]!.id).toBe(aCalls[0]!)
    await until('b recorded it', async () => (await dbA.read.webhooks.deliveries({ endpointId: 'e1', limit: 10 })).length === 1)
    // a's 200 comes late: its feed result is rolled back (one delivery row, b's).
    answerA(new Response(null, { status: 200 }))
    await aStopped
    expect(a.lines.some((l) => l.includes('was not recorded'))).toBe(true)
    const rows = await dbA.read.webhooks.deliveries({ endpointId: 'e1', limit: 10 })
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ eventId: aCalls[0]!, status: 'delivered', lastStatusCode: 204 })
    expect((await dbA.read.leases.get('feed:e1'))!.owner).toBe('b')
  }, 30_000)

  test('a holder that stops releases its feeds: the other instance goes on at once, each event once', async () => {
    const clock = fixedClock(T0)
    const r = receiver()
    await endpoint(dbA, 'e1', r.url, T0)
    const a = worker(dbA, 'a', clock)
    await a.w.start()
    await until('a holds the feed', async () => (await dbA.read.leases.get('feed:e1'))?.owner === 'a')
    const b = worker(dbB, 'b', clock)
    await b.w.start()
    for (let i = 0; i < 5; i++) await dbA.tx((s) => s.inbound.insert(inbound(T0)))
    await until('5 deliveries', () => r.received.length >= 5)
    // Recorded by a before it stops (a POST that a stop aborts is not recorded: sent again by b, at least once).
    await until('a recorded them', async () => (await dbA.read.webhooks.deliveries({ endpointId: 'e1', status: 'delivered', limit: 10 })).length === 5)
    await a.w.stop()
    expect(await dbA.read.leases.get('feed:e1')).toBeUndefined()
    // One FEED_TRY_MS later (the clock moves 1 s, far from the 30 s lease) b holds it and delivers what follows.
    clock.advance(1000)
    for (let i = 0; i < 5; i++) await dbB.tx((s) => s.inbound.insert(inbound(T0)))
    await until('10 deliveries', () => r.received.length >= 10)
    await Bun.sleep(500)
    expect((await dbA.read.leases.get('feed:e1'))!.owner).toBe('b')
    const c = counts(r)
    expect(c.size).toBe(10)
    expect([...c.values()].every((k) => k === 1)).toBe(true)
  }, 30_000)

  test('an instance that stops releases its claims: the other sends them at once, not after their lease', async () => {
    const clock = fixedClock(T0)
    const r = receiver()
    await endpoint(dbA, 'e1', r.url, T0)
    await dbA.tx(async (s) => {
      await s.webhooks.insertEvent({ id: 'evt_stop', type: 'message.sent', channelId: 'c1', body: '{"type":"message.sent"}', createdAt: T0 })
      await s.webhooks.insertDeliveries([{ id: 'whd_stop', eventId: 'evt_stop', endpointId: 'e1', nextAttemptAt: T0, createdAt: T0 }])
    })
    // a's POST hangs until the stop aborts it.
    let aPosted = false
    const a = worker(dbA, 'a', clock, {
      fetch: ((_url: string, init: RequestInit) => {
        aPosted = true
        return new Promise<Response>((_res, rej) => init.signal!.addEventListener('abort', () => rej(init.signal!.reason)))
      }) as unknown as typeof fetch,
    })
    await a.w.start()
    await until('a POSTs', () => aPosted)
    const b = worker(dbB, 'b', clock)
    await b.w.start()
    await a.w.stop()
    expect(await dbA.read.webhooks.delivery('whd_stop')).toMatchObject({ status: 'pending', leaseOwner: null })
    clock.advance(1000)
    await until('b sends it', () => r.received.length === 1)
    expect(r.received[0]!.id).toBe('evt_stop')
    await until('b records it', async () => (await dbA.read.webhooks.delivery('whd_stop'))!.status === 'delivered')
  }, 30_000)

  test('a delivery claimed by an instance that died is delivered by the other within 60 s; the dead one\'s late result does not overwrite it', async () => {
    const clock = fixedClock(T0)
    let answerB!: () => void
    const bAnswered = new Promise<void>((res) => { answerB = res })
    const r = receiver({ answer: async () => { await bAnswered; return new Response(null, { status: 204 }) } })
    await endpoint(dbA, 'e1', r.url, T0)
    await dbA.tx(async (s) => {
      await s.webhooks.insertEvent({ id: 'evt_takeover', type: 'message.sent', channelId: 'c1', body: '{"type":"message.sent"}', createdAt: T0 })
      await s.webhooks.insertDeliveries([{ id: 'whd_takeover', eventId: 'evt_takeover', endpointId: 'e1', nextAttemptAt: T0, createdAt: T0 }])
    })
    // a's POST hangs (its answer ignores the abort at stop) and a dies with it: no more passes of its own.
    const { a, aCalls, answerA } = hanging(clock)
    await a.w.start()
    await until('a POSTs', () => aCalls.length === 1)
    expect(await dbA.read.webhooks.delivery('whd_takeover')).toMatchObject({ status: 'delivering', leaseOwner: 'a', attempts: 1 })
    const aStopped = a.w.stop()
    const b = worker(dbB, 'b', clock)
    await b.w.start()
    // Time goes by in 5 s steps; by 55 s after a's claim the row is b's (lease 45 s, looked for every 10 s).
    for (let t = 5_000; t <= 55_000 && r.received.length === 0; t += 5_000) {
      clock.set(T0 + t)
      await Bun.sleep(400)
    }
    await until('b POSTs it', () => r.received.length === 1, 5000)
    expect(clock.now() - T0).toBeLessThan(60_000)
    expect(r.received[0]!.id).toBe('evt_takeover')
    expect(await dbA.read.webhooks.delivery('whd_takeover')).toMatchObject({ status: 'delivering', leaseOwner: 'b', attempts: 2 })
    // a's answer comes now (500): its result is not recorded over b's claim.
    answerA(new Response('late', { status: 500 }))
    await aStopped
    expect(a.lines.some((l) => l.includes('was not recorded'))).toBe(true)
    expect(await dbA.read.webhooks.delivery('whd_takeover')).toMatchObject({ status: 'delivering', leaseOwner: 'b', attempts: 2, lastError: null })
    answerB()
    await until('b records it', async () => (await dbA.read.webhooks.delivery('whd_takeover'))!.status === 'delivered')
    expect(await dbA.read.webhooks.delivery('whd_takeover')).toMatchObject({ status: 'delivered', lastStatusCode: 204, attempts: 2, leaseOwner: null })
    clock.advance(60_000)
    await Bun.sleep(600)
    expect(r.received).toHaveLength(1)
    expect(aCalls).toEqual(['evt_takeover'])
  }, 30_000)
})
