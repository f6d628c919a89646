// @first-pass-only: PostgreSQL on a cluster of its own (TEST_POSTGRES=required in .ci/run)
/**
 * The store contract (src/store/contract.ts, issue 14): every repository's behaviour, each case run against
 * both implementations: SQLite (a temporary file, the store on its connection, outside transactions) and
 * PostgreSQL (a throwaway cluster: db.read, and db.tx where a case writes together). Conditional updates,
 * ON CONFLICT paths, ordering and limits, prunes, the webhook feed, numbers as numbers, booleans as booleans.
 * Plus, on PostgreSQL only, the cross-instance callback dedup on two pools.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Awaitable, InboundInsert, NewMessage, Store } from '../../src/store/contract'
import { openPostgres, type PostgresDb } from '../../src/store/postgres/db'
import { openDb, type SqliteDb } from '../../src/store/sqlite/db'
import { migrate } from '../../src/store/sqlite/migrate'
import { sqliteStore } from '../../src/store/sqlite/store'
import { postgresMissing, postgresRequired, startPostgres, type TestPostgres } from '../support/postgres'

const NOW = Date.UTC(2026, 11, 1)
const missing = postgresMissing()
if (missing && postgresRequired) throw new Error(`TEST_POSTGRES=required but ${missing}`)

interface Ctx {
  kind: 'sqlite' | 'postgres'
  s: Store
  /** Writes together: db.tx on PostgreSQL; the store itself on SQLite (its Db's tx API is being changed). */
  tx<T>(fn: (s: Store) => Awaitable<T>): Promise<T>
}

interface Impl {
  name: 'sqlite' | 'postgres'
  skip?: string
  open(): Promise<void>
  /** A fresh, empty, migrated database for the next case. */
  reset(): Promise<Ctx>
  close(): Promise<void>
}

const sqliteImpl = (): Impl => {
  let dir = ''
  let db: SqliteDb | undefined
  let n = 0
  return {
    name: 'sqlite',
    open: async () => { dir = mkdtempSync(join(tmpdir(), 'wxgate-contract-')) },
    reset: async () => {
      db?.close()
      db = openDb(join(dir, `db${n++}.sqlite`))
      migrate(db.sqlite)
      const s = sqliteStore(db.sqlite, db.orm)
      return { kind: 'sqlite', s, tx: async (fn) => fn(s) }
    },
    close: async () => { db?.close(); rmSync(dir, { recursive: true, force: true }) },
  }
}

const TABLES = ['channels', 'api_keys', 'inbound_messages', 'channel_tokens', 'bind_codes', 'bindings', 'send_requests', 'messages',
  'message_attempts', 'webhook_endpoints', 'webhook_events', 'webhook_deliveries', 'media_uploads', 'leases', 'rate_buckets',
  'console_sessions']

const postgresImpl = (): Impl => {
  let pg: TestPostgres | undefined
  let db: PostgresDb | undefined
  return {
    name: 'postgres',
    skip: missing,
    open: async () => {
      pg = await startPostgres()
      db = await openPostgres(pg.url, { max: 4 })
      await db.migrate(NOW)
    },
    reset: async () => {
      await db!.sql.unsafe(`TRUNCATE ${TABLES.join(', ')} RESTART IDENTITY CASCADE`)
      return { kind: 'postgres', s: db!.read, tx: (fn) => db!.tx(fn) }
    },
    close: async () => { await db?.close(); await pg?.stop() },
  }
}

// ---- fixtures ------------------------------------------------------------------------------------------

const channel = (s: Store, id: string, now = NOW) => s.channels.upsert({ id, appId: `wx_${id}`, appSecret: `secret_${id}`, token: 'tok' }, now)

let inboundN = 0
const inbound = (p: Partial<InboundInsert> = {}): InboundInsert => ({
  channelId: 'c1', dedupKey: `k${++inboundN}`, msgType: 'text', event: null, fromUser: 'o1', createTime: 1, body: '<xml/>',
  reply: '', handledBy: 'none', receivedAt: NOW, ...p,
})

const message = (id: string, p: Partial<NewMessage> = {}): NewMessage => ({
  id, requestId: 'r1', channelId: 'c1', openid: 'o1', subject: 'alice', templateId: 'T', payload: '{}', status: 'queued', attempts: 0,
  errcode: null, error: null, wechatMsgId: null, nextAttemptAt: NOW, createdAt: NOW, sentAt: null, finishedAt: null, ...p,
})

/** A claim by `owner` at `now` with a lease of LEASE ms. */
const LEASE = 30_000
const claimBy = (owner: string, now: number) => ({ owner, now, leaseUntil: now + LEASE })

const endpoint = (id: string, p: { channelId?: string | null; createdAt?: number } = {}) => ({
  id, url: `http://127.0.0.1:9/${id}`, events: '["*"]', channelId: p.channelId ?? null, description: null, secret: `whsec_${id}`,
  createdAt: p.createdAt ?? NOW, updatedAt: p.createdAt ?? NOW,
})

// ---- the cases -------------------------------------------------------------------------------------------

const cases = (c: () => Ctx) => {
  test('channels: upsert tells created, then updated; name undefined keeps it, null clears it; list by creation', async () => {
    const { s } = c()
    const a = await s.channels.upsert({ id: 'b', appId: 'wx1', appSecret: 's1', token: 't', replies: { subscribed: '欢迎' }, name: 'B' }, NOW)
    expect(a.created).toBe(true)
    expect(a.row).toEqual({ id: 'b', appId: 'wx1', appSecret: 's1', token: 't', aesKey: null, replies: '{"subscribed":"欢迎"}', name: 'B', createdAt: NOW, updatedAt: NOW })
    const b = await s.channels.upsert({ id: 'b', appId: 'wx2', appSecret: 's2', token: 't' }, NOW + 5)
    expect(b.created).toBe(false)
    expect(b.row).toMatchObject({ appId: 'wx2', name: 'B', replies: '{"subscribed":"欢迎"}', createdAt: NOW, updatedAt: NOW + 5 })
    expect((await s.channels.upsert({ id: 'b', appId: 'wx2', appSecret: 's2', token: 't', name: null, replies: null }, NOW + 6)).row).toMatchObject({ name: null, replies: null })
    await channel(s, 'a', NOW + 1)
    expect((await s.channels.list()).map((r) => r.id)).toEqual(['b', 'a'])
    expect((await s.channels.get('a'))?.appSecret).toBe('secret_a')
    expect(await s.channels.get('nope')).toBeUndefined()
  })

  test('api keys: an active key by hash, revoke once (the second is false), touch, exists', async () => {
    const { s } = c()
    await s.apiKeys.insert({ id: 'k1', name: 'ci', keyHash: 'h1', prefix: 'wxg_1', scopes: 'send', createdAt: NOW })
    await s.apiKeys.insert({ id: 'k0', name: 'old', keyHash: 'h0', prefix: 'wxg_0', scopes: 'admin', createdAt: NOW - 1 })
    expect((await s.apiKeys.list()).map((k) => k.id)).toEqual(['k0', 'k1'])
    expect(await s.apiKeys.findActiveByHash('h1')).toEqual({ id: 'k1', name: 'ci', keyHash: 'h1', prefix: 'wxg_1', scopes: 'send', createdAt: NOW, revokedAt: null, lastUsedAt: null })
    await s.apiKeys.touch('k1', NOW + 7)
    expect((await s.apiKeys.findActiveByHash('h1'))?.lastUsedAt).toBe(NOW + 7)
    expect(await s.apiKeys.revoke('k1', NOW + 8)).toBe(true)
    expect(await s.apiKeys.revoke('k1', NOW + 9)).toBe(false)
    expect(await s.apiKeys.findActiveByHash('h1')).toBeUndefined()
    expect(await s.apiKeys.exists('k1')).toBe(true)
    expect(await s.apiKeys.exists('zz')).toBe(false)
  })

  test('tokens: ensureDay creates and resets the counters on a new day; store, force, compare-and-set invalidate', async () => {
    const { s, tx } = c()
    await channel(s, 'c1')
    await tx(async (t) => { await t.tokens.ensureDay('c1', '2026-12-01'); await t.tokens.ensureDay('c1', '2026-12-01') })
    expect(await s.tokens.get('c1')).toEqual({ channelId: 'c1', accessToken: null, expiresAt: null, refreshedAt: null, day: '2026-12-01', refreshesToday: 0,
      forceRefreshesToday: 0, lastForceAt: null, quotaUntil: null, apiQuotas: null, lastError: null })
    await s.tokens.setError('c1', 'boom')
    await s.tokens.storeToken('c1', { accessToken: 'AT1', expiresAt: NOW + 7_200_000, now: NOW, forced: false })
    await s.tokens.storeToken('c1', { accessToken: 'AT2', expiresAt: NOW + 7_200_001, now: NOW + 1, forced: true })
    await s.tokens.countForceAttempt('c1', NOW + 2)
    expect(await s.tokens.get('c1')).toMatchObject({ accessToken: 'AT2', expiresAt: NOW + 7_200_001, refreshesToday: 2, forceRefreshesToday: 2, lastForceAt: NOW + 2, lastError: null })
    expect(await s.tokens.invalidateIf('c1', 'AT1')).toBe(false)
    expect(await s.tokens.invalidateIf('c1', 'AT2')).toBe(true)
    expect(await s.tokens.expiries()).toEqual([{ channelId: 'c1', expiresAt: null }])
    await s.tokens.setQuotaUntil('c1', NOW + 99)
    await s.tokens.setApiQuotas('c1', '{"send":1}')
    await s.tokens.ensureDay('c1', '2026-12-02')
    expect(await s.tokens.get('c1')).toMatchObject({ day: '2026-12-02', refreshesToday: 0, forceRefreshesToday: 0, quotaUntil: NOW + 99, apiQuotas: '{"send":1}' })
  })

  test('bind codes: consume once (the second gets nothing), not when expired; cancel only pending; prune up to the limit', async () => {
    const { s } = c()
    await channel(s, 'c1')
    const code = (id: string, expiresAt: number) => s.bindCodes.insert({ code: id, channelId: 'c1', subject: 'alice', label: null, status: 'pending', qrTicket: 't', qrUrl: 'u', createdAt: NOW, expiresAt, openid: null, boundAt: null })
    await code('A', NOW + 1000)
    await code('B', NOW - 1)
    await code('C', NOW + 1000)
    expect(await s.bindCodes.consume({ code: 'A', channelId: 'c2', openid: 'o1', now: NOW })).toBeUndefined()
    expect(await s.bindCodes.consume({ code: 'A', channelId: 'c1', openid: 'o1', now: NOW })).toMatchObject({ code: 'A', status: 'bound', openid: 'o1', boundAt: NOW })
    expect(await s.bindCodes.consume({ code: 'A', channelId: 'c1', openid: 'o2', now: NOW })).toBeUndefined()
    expect(await s.bindCodes.consume({ code: 'B', channelId: 'c1', openid: 'o2', now: NOW })).toBeUndefined()
    expect(await s.bindCodes.cancel('A')).toBe(false)
    expect(await s.bindCodes.cancel('C')).toBe(true)
    expect(await s.bindCodes.cancel('C')).toBe(false)
    expect((await s.bindCodes.get('C'))?.status).toBe('cancelled')
    expect(await s.bindCodes.pruneExpiredBefore(NOW + 2000, 2)).toBe(2)
    expect(await s.bindCodes.pruneExpiredBefore(NOW + 2000, 2)).toBe(1)
    expect(await s.bindCodes.pruneExpiredBefore(NOW + 2000, 2)).toBe(0)
  })

  test('bindings: bind moves a bound OpenID, bindIfUnbound does not (undefined), status, list pages by seq, delete', async () => {
    const { s } = c()
    await channel(s, 'c1')
    const b1 = await s.bindings.bind({ id: 'b1', channelId: 'c1', openid: 'o1', subject: 'alice', code: 'A', now: NOW })
    expect(b1).toMatchObject({ id: 'b1', subject: 'alice', status: 'active', boundAt: NOW })
    expect(typeof b1.seq).toBe('number')
    expect(await s.bindings.bindIfUnbound({ id: 'bx', channelId: 'c1', openid: 'o1', subject: 'mallory', code: 'B', now: NOW })).toBeUndefined()
    expect(await s.bindings.setStatus({ channelId: 'c1', openid: 'o1', status: 'unsubscribed', now: NOW + 1 })).toBe(true)
    expect(await s.bindings.setStatus({ channelId: 'c1', openid: 'nobody', status: 'unsubscribed', now: NOW + 1 })).toBe(false)
    const moved = await s.bindings.bind({ id: 'b9', channelId: 'c1', openid: 'o1', subject: 'bob', code: 'C', now: NOW + 2 })
    expect(moved).toMatchObject({ id: 'b1', seq: b1.seq, subject: 'bob', status: 'active', code: 'C', boundAt: NOW + 2 })
    expect(await s.bindings.bindIfUnbound({ id: 'b2', channelId: 'c1', openid: 'o2', subject: 'carol', code: 'D', now: NOW })).toMatchObject({ id: 'b2', subject: 'carol' })
    await s.bindings.bind({ id: 'b3', channelId: 'c1', openid: 'o3', subject: 'bob', code: 'E', now: NOW })
    expect((await s.bindings.byOpenid('c1', 'o2'))?.id).toBe('b2')
    expect(await s.bindings.byOpenid('c1', 'o9')).toBeUndefined()
    const page1 = await s.bindings.list({ channelId: 'c1', limit: 2 })
    expect(page1.map((b) => b.id)).toEqual(['b1', 'b2'])
    expect((await s.bindings.list({ channelId: 'c1', afterSeq: page1[1]!.seq, limit: 2 })).map((b) => b.id)).toEqual(['b3'])
    expect((await s.bindings.list({ subject: 'bob', limit: 10 })).map((b) => b.id)).toEqual(['b1', 'b3'])
    expect((await s.bindings.list({ openid: 'o2', limit: 10 })).map((b) => b.id)).toEqual(['b2'])
    expect(await s.bindings.delete('b2')).toBe(true)
    expect(await s.bindings.delete('b2')).toBe(false)
    expect(await s.bindings.get('b2')).toBeUndefined()
  })

  test('inbound: insert once (a duplicate is false), its reply and row (claimed a boolean), outcome; history pages newest first', async () => {
    const { s, tx } = c()
    await channel(s, 'c1')
    await s.bindings.bind({ id: 'b1', channelId: 'c1', openid: 'o1', subject: 'alice', code: 'A', now: NOW })
    expect(await s.inbound.insert(inbound({ dedupKey: 'm1', reply: 'r1' }))).toBe(true)
    expect(await s.inbound.insert(inbound({ dedupKey: 'm1', reply: 'other' }))).toBe(false)
    expect(await s.inbound.findReply('c1', 'm1')).toBe('r1')
    expect(await s.inbound.findReply('c1', 'm2')).toBeUndefined()
    const id2 = await s.inbound.insertReturningId(inbound({ dedupKey: 'm2', msgType: 'event', event: 'CLICK', fromUser: 'o2', receivedAt: NOW + 1 }))
    expect(typeof id2).toBe('number')
    expect(await s.inbound.insertReturningId(inbound({ dedupKey: 'm2' }))).toBeUndefined()
    expect(await s.inbound.findRow('c1', 'm2')).toEqual({ id: id2!, receivedAt: NOW + 1, claimed: false, handledBy: 'none' })
    await tx(async (t) => { await t.inbound.setOutcome('c1', 'm2', 'pong', 'webhook', true) })
    expect(await s.inbound.findRow('c1', 'm2')).toEqual({ id: id2!, receivedAt: NOW + 1, claimed: true, handledBy: 'webhook' })
    expect(await s.inbound.findReply('c1', 'm2')).toBe('pong')
    await s.inbound.insert(inbound({ dedupKey: 'm3', receivedAt: NOW + 2 }))
    const all = await s.inbound.history({ limit: 10 })
    expect(all.map((r) => r.fromUser)).toEqual(['o1', 'o2', 'o1'])
    expect(all[0]).toMatchObject({ channelId: 'c1', msgType: 'text', event: null, createTime: 1, body: '<xml/>', receivedAt: NOW + 2, subject: 'alice' })
    expect(all[1]!.subject).toBeNull()
    const page = await s.inbound.history({ limit: 2 })
    expect((await s.inbound.history({ limit: 2, beforeId: page[1]!.id })).map((r) => r.id)).toEqual([all[2]!.id])
    expect((await s.inbound.history({ type: 'CLICK', limit: 10 })).map((r) => r.id)).toEqual([id2!])
    expect((await s.inbound.history({ type: 'text', subject: 'alice', limit: 10 })).length).toBe(2)
    expect((await s.inbound.history({ openid: 'o2', channelId: 'c1', limit: 10 })).length).toBe(1)
    expect((await s.inbound.history({ since: NOW + 1, limit: 10 })).length).toBe(2)
    expect(await s.inbound.historyRow(id2!)).toMatchObject({ id: id2!, event: 'CLICK', subject: null })
    expect(await s.inbound.historyRow(999_999)).toBeUndefined()
  })

  test('the console: counts since a time (messages by channel and status, callbacks without delivery reports); history without delivery reports', async () => {
    const { s, tx } = c()
    await channel(s, 'c1')
    await channel(s, 'c2')
    await tx(async (t) => {
      await t.messages.insertMessages([message('m1', { createdAt: NOW - 10 }), message('m2', { status: 'failed', createdAt: NOW }), message('m3', { status: 'failed', createdAt: NOW + 1 }),
        message('m4', { channelId: 'c2', status: 'delivered', createdAt: NOW + 2 })])
      await t.inbound.insert(inbound({ dedupKey: 'x1', receivedAt: NOW - 10 }))
      await t.inbound.insert(inbound({ dedupKey: 'x2', receivedAt: NOW }))
      await t.inbound.insert(inbound({ dedupKey: 'x3', msgType: 'event', event: 'TEMPLATESENDJOBFINISH', receivedAt: NOW + 1 }))
      await t.inbound.insert(inbound({ dedupKey: 'x4', msgType: 'event', event: 'subscribe', channelId: 'c2', receivedAt: NOW + 2 }))
    })
    expect(await s.messages.countsSince(NOW)).toEqual([{ channelId: 'c1', status: 'failed', n: 2 }, { channelId: 'c2', status: 'delivered', n: 1 }])
    expect(await s.inbound.countsSince(NOW)).toEqual([{ channelId: 'c1', n: 1 }, { channelId: 'c2', n: 1 }])
    const all = await s.inbound.history({ limit: 10 })
    const talk = await s.inbound.history({ limit: 10, withoutDeliveryReports: true })
    expect(all.length - talk.length).toBe(1)
    expect(talk.some((r) => r.event === 'TEMPLATESENDJOBFINISH')).toBe(false)
    expect(talk.some((r) => r.event === 'subscribe')).toBe(true)
  })

  test('inbound prune: at most `limit` rows received before, never past maxCursor', async () => {
    const { s } = c()
    await channel(s, 'c1')
    for (let i = 0; i < 4; i++) await s.inbound.insert(inbound({ receivedAt: NOW + i }))
    const cursors = (await s.inbound.feedAfter(0, 10)).map((r) => r.cursor)
    expect(await s.inbound.pruneBefore(NOW + 3, 1, cursors[0])).toBe(1)
    expect(await s.inbound.pruneBefore(NOW + 3, 5, cursors[0])).toBe(0)
    expect(await s.inbound.pruneBefore(NOW + 3, 5)).toBe(2)
    expect((await s.inbound.history({ limit: 10 })).map((r) => r.receivedAt)).toEqual([NOW + 3])
  })

  test('the feed: rows after a cursor in cursor order, a limit that never splits a cursor, newest cursor and lag as numbers', async () => {
    const { s, tx, kind } = c()
    await channel(s, 'c1')
    await s.bindings.bind({ id: 'b1', channelId: 'c1', openid: 'o1', subject: 'alice', code: 'A', now: NOW })
    expect(await s.inbound.newestCursor()).toBe(0)
    expect(await s.inbound.lagAfter(0)).toEqual({ depth: 0, oldestReceivedAt: null })
    await s.inbound.insert(inbound({ dedupKey: 'a', receivedAt: NOW + 1 }))
    // Three rows in one transaction (one cursor on PostgreSQL), then one more.
    await tx(async (t) => { for (const k of ['b', 'c', 'd']) await t.inbound.insert(inbound({ dedupKey: k, receivedAt: NOW + 2, fromUser: 'o2' })) })
    await s.inbound.insert(inbound({ dedupKey: 'e', msgType: 'event', event: 'subscribe', receivedAt: NOW + 3 }))
    const all = await s.inbound.feedAfter(0, 100)
    expect(all.length).toBe(5)
    expect(all[0]).toEqual({ id: all[0]!.id, cursor: all[0]!.cursor, channelId: 'c1', msgType: 'text', event: null, body: '<xml/>', claimed: false, receivedAt: NOW + 1, subject: 'alice' })
    expect(all[1]!.subject).toBeNull()
    expect(all.at(-1)!.event).toBe('subscribe')
    for (let i = 1; i < all.length; i++) {
      expect(all[i]!.cursor).toBeGreaterThanOrEqual(all[i - 1]!.cursor)
      if (all[i]!.cursor === all[i - 1]!.cursor) expect(all[i]!.id).toBeGreaterThan(all[i - 1]!.id)
    }
    for (const r of all) { expect(typeof r.cursor).toBe('number'); expect(typeof r.id).toBe('number') }
    // Each page is a prefix of what is left, and never ends inside one cursor's rows.
    let after = 0
    const seen: number[] = []
    for (let guard = 0; guard < 10; guard++) {
      const page = await s.inbound.feedAfter(after, 2)
      if (page.length === 0) break
      expect(page.length).toBeGreaterThanOrEqual(Math.min(2, all.length - seen.length))
      const rest = all.filter((r) => r.cursor > after)
      expect(page.map((r) => r.id)).toEqual(rest.slice(0, page.length).map((r) => r.id))
      expect(rest[page.length]?.cursor).not.toBe(page.at(-1)!.cursor)
      seen.push(...page.map((r) => r.id))
      after = page.at(-1)!.cursor
    }
    expect(seen).toEqual(all.map((r) => r.id))
    if (kind === 'postgres') expect((await s.inbound.feedAfter(all[0]!.cursor, 1)).length).toBe(3)
    expect(await s.inbound.newestCursor()).toBe(all.at(-1)!.cursor)
    expect(await s.inbound.lagAfter(all[0]!.cursor)).toEqual({ depth: 4, oldestReceivedAt: NOW + 2 })
    expect(await s.inbound.feedAfter(all.at(-1)!.cursor, 10)).toEqual([])
    expect(await s.inbound.feedAfter(0, 0)).toEqual([])
  })

  test('window: the latest message, unsubscribe and short event since a time (in that order), the last follow, CS sends since', async () => {
    const { s } = c()
    await channel(s, 'c1')
    const ev = (event: string, at: number, fromUser = 'o1') => s.inbound.insert(inbound({ msgType: 'event', event, receivedAt: at, fromUser }))
    await ev('subscribe', NOW - 100)
    await s.inbound.insert(inbound({ receivedAt: NOW + 1 }))
    await s.inbound.insert(inbound({ msgType: 'image', receivedAt: NOW + 2 }))
    await ev('CLICK', NOW + 3)
    await ev('VIEW', NOW + 4)
    await ev('LOCATION', NOW + 5)
    await ev('unsubscribe', NOW + 6)
    await s.inbound.insert(inbound({ receivedAt: NOW + 9, fromUser: 'o2' }))
    const rows = await s.window.latestInteractions({ channelId: 'c1', openid: 'o1', since: NOW, shortEvents: ['CLICK', 'VIEW'] })
    expect(rows.map((r) => [r.msgType, r.event, r.receivedAt])).toEqual([['image', null, NOW + 2], ['event', 'unsubscribe', NOW + 6], ['event', 'VIEW', NOW + 4]])
    for (const r of rows) expect(typeof r.id).toBe('number')
    expect((await s.window.latestInteractions({ channelId: 'c1', openid: 'o1', since: NOW + 3, shortEvents: [] })).map((r) => r.event)).toEqual(['unsubscribe'])
    expect(await s.window.latestInteractions({ channelId: 'c1', openid: 'o1', since: NOW + 7, shortEvents: ['CLICK'] })).toEqual([])
    expect(await s.window.lastFollowEvent('c1', 'o1')).toBe('unsubscribe')
    expect(await s.window.lastFollowEvent('c1', 'o2')).toBeUndefined()
    await s.messages.insertMessages([
      message('m1', { type: 'text', status: 'sent', sentAt: NOW + 1 }),
      message('m2', { type: 'text', status: 'sent', sentAt: NOW + 2, sentAs: 'template' }),
      message('m3', { status: 'sent', sentAt: NOW + 3 }),
      message('m4', { type: 'image', status: 'sent', sentAt: NOW - 1 }),
    ])
    expect(await s.window.sentSince('c1', 'o1', NOW)).toBe(1)
    expect(await s.window.sentSince('c1', 'o1', NOW - 10)).toBe(2)
  })

  test('send requests: insert once (a duplicate key is false), find, forget; prune the oldest up to the limit', async () => {
    const { s } = c()
    const req = (id: string, key: string | null, createdAt = NOW) => ({ id, apiKeyId: 'k1', idempotencyKey: key, bodyHash: 'h', answer: '{}', createdAt })
    expect(await s.messages.insertRequest(req('r1', 'K'))).toBe(true)
    expect(await s.messages.insertRequest(req('r2', 'K'))).toBe(false)
    expect(await s.messages.insertRequest(req('r3', null, NOW + 1))).toBe(true)
    expect(await s.messages.insertRequest(req('r4', null, NOW + 2))).toBe(true)
    expect(await s.messages.findRequest('k1', 'K')).toEqual(req('r1', 'K'))
    // Only a request made before the given time is forgotten (a concurrent one committed meanwhile is kept).
    await s.messages.forgetRequest('k1', 'K', NOW)
    expect(await s.messages.findRequest('k1', 'K')).toMatchObject({ id: 'r1' })
    await s.messages.forgetRequest('k1', 'K', NOW + 1)
    expect(await s.messages.findRequest('k1', 'K')).toBeUndefined()
    expect(await s.messages.insertRequest(req('r5', 'K', NOW + 3))).toBe(true)
    expect(await s.messages.pruneRequests({ before: NOW + 3, limit: 1 })).toBe(1)
    expect(await s.messages.pruneRequests({ before: NOW + 3, limit: 5 })).toBe(1)
    expect(await s.messages.pruneRequests({ before: NOW + 3, limit: 5 })).toBe(0)
    expect(await s.messages.findRequest('k1', 'K')).toMatchObject({ id: 'r5' })
  })

  test('messages: due (longest due first, ties in acceptance order, limit), customer-service due, claim once, list pages', async () => {
    const { s, tx } = c()
    await channel(s, 'c1')
    await channel(s, 'c2')
    await tx(async (t) => {
      await t.messages.insertMessages([
        message('a', { nextAttemptAt: NOW }),
        message('b', { nextAttemptAt: NOW - 10, type: 'text' }),
        message('c', { nextAttemptAt: NOW }),
        message('d', { nextAttemptAt: NOW + 1 }),
        message('e', { channelId: 'c2', nextAttemptAt: NOW - 99 }),
        message('f', { nextAttemptAt: NOW - 50, status: 'sent' }),
      ])
    })
    expect((await s.messages.due('c1', NOW, 10)).map((m) => m.id)).toEqual(['b', 'a', 'c'])
    expect((await s.messages.due('c1', NOW, 2)).map((m) => m.id)).toEqual(['b', 'a'])
    expect((await s.messages.dueCustom('c1', NOW, 10)).map((m) => m.id)).toEqual(['b'])
    const got = await s.messages.get('a')
    expect(got).toMatchObject({ id: 'a', type: 'template', fallback: null, sentAs: null, attempts: 0, lastCallAt: null, uncertainSince: null })
    expect(typeof got!.seq).toBe('number')
    expect(await tx((t) => t.messages.claim('a', claimBy('i1', NOW + 5)))).toMatchObject({ id: 'a', status: 'sending', attempts: 1, lastCallAt: NOW + 5, leaseOwner: 'i1', leaseUntil: NOW + 5 + LEASE })
    expect(await tx((t) => t.messages.claim('a', claimBy('i2', NOW + 6)))).toBeUndefined()
    expect((await s.messages.getMany(['a', 'e', 'zz'])).map((m) => m.id).sort()).toEqual(['a', 'e'])
    expect(await s.messages.getMany([])).toEqual([])
    const page = await s.messages.list({ channelId: 'c1', limit: 2 })
    expect(page.map((m) => m.id)).toEqual(['f', 'd'])
    expect((await s.messages.list({ channelId: 'c1', limit: 10, beforeSeq: page[1]!.seq })).map((m) => m.id)).toEqual(['c', 'b', 'a'])
    expect((await s.messages.list({ status: 'queued', limit: 10 })).map((m) => m.id)).toEqual(['e', 'd', 'c', 'b'])
    expect((await s.messages.list({ subject: 'alice', since: NOW, limit: 1 })).map((m) => m.id)).toEqual(['f'])
    expect(await s.messages.seqRange()).toEqual({ min: (await s.messages.get('a'))!.seq, max: (await s.messages.get('f'))!.seq })
  })

  test('messages: results only on a sending row; requeue marks uncertain; attempts; the finish callback; outbox depth as numbers', async () => {
    const { s } = c()
    await channel(s, 'c1')
    await channel(s, 'c2')
    expect(await s.messages.outboxDepth()).toEqual([])
    expect(await s.messages.seqRange()).toBeUndefined()
    await s.messages.insertMessages([message('a', { createdAt: NOW + 1 }), message('b', { createdAt: NOW + 2 }), message('c', { createdAt: NOW + 3 }),
      message('d', { channelId: 'c2', createdAt: NOW + 4 })])
    expect(await s.messages.markSent('a', { owner: 'i1', wechatMsgId: 'w', now: NOW, extraCalls: 0 })).toBe(false)
    expect((await s.messages.get('a'))!.status).toBe('queued')
    await s.messages.claim('a', claimBy('i1', NOW + 10))
    await s.messages.claim('b', claimBy('i1', NOW + 11))
    const depth = (await s.messages.outboxDepth()).sort((x, y) => x.channelId.localeCompare(y.channelId))
    expect(depth).toEqual([{ channelId: 'c1', depth: 3, oldestCreatedAt: NOW + 1 }, { channelId: 'c2', depth: 1, oldestCreatedAt: NOW + 4 }])
    expect(await s.messages.markSent('a', { owner: 'i1', wechatMsgId: '3662956322040938501', now: NOW + 20, extraCalls: 1, sentAs: 'template' })).toBe(true)
    expect(await s.messages.get('a')).toMatchObject({ status: 'sent', wechatMsgId: '3662956322040938501', sentAt: NOW + 20, attempts: 2, sentAs: 'template', errcode: null, leaseOwner: null, leaseUntil: null })
    expect(await s.messages.requeueSending(NOW + 30)).toBe(1)
    expect(await s.messages.get('b')).toMatchObject({ status: 'queued', nextAttemptAt: NOW + 30, uncertainSince: NOW + 11, leaseOwner: null, leaseUntil: null })
    await s.messages.claim('b', claimBy('i1', NOW + 40))
    expect(await s.messages.markRetry('b', { owner: 'i1', nextAttemptAt: NOW + 50, errcode: -1, error: 'busy', extraCalls: -1, uncertainSince: NOW + 40 })).toBe(true)
    expect(await s.messages.get('b')).toMatchObject({ status: 'queued', nextAttemptAt: NOW + 50, errcode: -1, error: 'busy', attempts: 1, uncertainSince: NOW + 11, leaseOwner: null })
    await s.messages.claim('c', claimBy('i1', NOW + 41))
    expect(await s.messages.markFailed('c', { owner: 'i1', errcode: 43004, error: 'not subscribed', now: NOW + 42, extraCalls: 0 })).toBe(true)
    expect(await s.messages.markFailed('c', { owner: 'i1', errcode: 1, error: 'again', now: NOW + 43, extraCalls: 0 })).toBe(false)
    expect(await s.messages.get('c')).toMatchObject({ status: 'failed', errcode: 43004, finishedAt: NOW + 42 })
    await s.messages.addAttempt({ messageId: 'a', at: NOW, durationMs: 12, outcome: 'ok', errcode: 0, error: null })
    await s.messages.addAttempt({ messageId: 'a', at: NOW + 1, durationMs: 5, outcome: 'retry', errcode: -1, error: 'x' })
    const attempts = await s.messages.attemptsOf('a')
    expect(attempts.map((a) => [a.outcome, a.durationMs])).toEqual([['ok', 12], ['retry', 5]])
    expect(typeof attempts[0]!.id).toBe('number')
    expect(await s.messages.finishByWechatMsgId({ channelId: 'c2', wechatMsgId: '3662956322040938501', status: 'delivered', error: null, now: NOW + 60 })).toBeUndefined()
    expect(await s.messages.finishByWechatMsgId({ channelId: 'c1', wechatMsgId: '3662956322040938501', status: 'delivered', error: null, now: NOW + 60 })).toMatchObject({ id: 'a', status: 'delivered', finishedAt: NOW + 60 })
    expect(await s.messages.finishByWechatMsgId({ channelId: 'c1', wechatMsgId: '3662956322040938501', status: 'failed', error: 'x', now: NOW + 61 })).toBeUndefined()
  })

  test('messages: leases — renewed for the owner\'s sending rows only; results only by the owner; the takeover requeues lapsed rows but the caller\'s own', async () => {
    const { s, tx } = c()
    await channel(s, 'c1')
    await s.messages.insertMessages(['a', 'b', 'c', 'd', 'e'].map((id) => message(id)))
    // a, b: i1's; c, d: i2's (renewed below); e: queued.
    for (const [id, owner] of [['a', 'i1'], ['b', 'i1'], ['c', 'i2'], ['d', 'i2']] as const) expect(await tx((t) => t.messages.claim(id, claimBy(owner, NOW)))).toBeDefined()
    expect(await s.messages.renewLeases('i2', NOW + 2 * LEASE)).toBe(2)
    expect(await s.messages.renewLeases('i9', NOW + 2 * LEASE)).toBe(0)
    expect(await s.messages.get('c')).toMatchObject({ leaseOwner: 'i2', leaseUntil: NOW + 2 * LEASE })
    expect(await s.messages.get('a')).toMatchObject({ leaseOwner: 'i1', leaseUntil: NOW + LEASE })
    // Nobody's lease has lapsed yet: nothing is taken over.
    expect(await s.messages.requeueLapsed(NOW + LEASE - 1, { owner: 'i2' })).toBe(0)
    // i1's leases lapse at NOW + LEASE: i2 takes them over (uncertain since their call), i1 itself does not requeue its own.
    expect(await s.messages.requeueLapsed(NOW + LEASE, { owner: 'i1' })).toBe(0)
    expect(await s.messages.requeueLapsed(NOW + LEASE, { owner: 'i2' })).toBe(2)
    expect(await s.messages.get('a')).toMatchObject({ status: 'queued', nextAttemptAt: NOW + LEASE, uncertainSince: NOW, leaseOwner: null, leaseUntil: null, attempts: 1 })
    // i1's late results are not recorded (the rows are queued again) …
    expect(await s.messages.markSent('a', { owner: 'i1', wechatMsgId: 'w1', now: NOW + LEASE + 1, extraCalls: 0 })).toBe(false)
    expect(await s.messages.markRetry('b', { owner: 'i1', nextAttemptAt: NOW + 99, errcode: -1, error: 'busy', extraCalls: 0 })).toBe(false)
    expect(await s.messages.get('a')).toMatchObject({ status: 'queued', wechatMsgId: null })
    // … nor over the new owner's claim.
    await tx((t) => t.messages.claim('a', claimBy('i2', NOW + LEASE + 2)))
    expect(await s.messages.markFailed('a', { owner: 'i1', errcode: 1, error: 'late', now: NOW + LEASE + 3, extraCalls: 0 })).toBe(false)
    expect(await s.messages.get('a')).toMatchObject({ status: 'sending', leaseOwner: 'i2', attempts: 2, error: null })
    expect(await s.messages.markSent('a', { owner: 'i2', wechatMsgId: 'w2', now: NOW + LEASE + 4, extraCalls: 0 })).toBe(true)
    expect(await s.messages.get('a')).toMatchObject({ status: 'sent', wechatMsgId: 'w2' })
    // A start (includeOwn) takes its own rows back whether lapsed or not, and others' lapsed ones only.
    await tx((t) => t.messages.claim('e', claimBy('i3', NOW + LEASE)))
    expect(await s.messages.requeueLapsed(NOW + LEASE + 5, { owner: 'i2', includeOwn: true })).toBe(2)
    expect((await s.messages.list({ status: 'sending', limit: 10 })).map((m) => m.id)).toEqual(['e'])
    expect((await s.messages.list({ status: 'queued', limit: 10 })).map((m) => m.id).sort()).toEqual(['b', 'c', 'd'])
  })

  test('messages prune: finished rows (and their attempts) in a seq window, nothing unfinished or newer', async () => {
    const { s } = c()
    await channel(s, 'c1')
    await s.messages.insertMessages([
      message('a', { status: 'delivered', finishedAt: NOW - 10 }),
      message('b', { status: 'sent', sentAt: NOW - 10 }),
      message('c', { status: 'failed', finishedAt: NOW + 10 }),
      message('d', { status: 'queued' }),
      message('e', { status: 'failed', finishedAt: NOW - 10 }),
    ])
    await s.messages.addAttempt({ messageId: 'a', at: NOW, durationMs: 1, outcome: 'ok', errcode: 0, error: null })
    const { min } = (await s.messages.seqRange())!
    expect(await s.messages.pruneWindow({ finishedBefore: NOW, fromSeq: min, window: 4 })).toBe(2)
    expect(await s.messages.attemptsOf('a')).toEqual([])
    expect((await s.messages.list({ limit: 10 })).map((m) => m.id)).toEqual(['e', 'd', 'c'])
    expect(await s.messages.pruneWindow({ finishedBefore: NOW, fromSeq: min + 4, window: 4 })).toBe(1)
  })

  test('webhook endpoints: booleans, the feed starts at the newest cursor, re-enabling moves it, advanceFeed never back, floor', async () => {
    const { s } = c()
    await channel(s, 'c1')
    expect(await s.webhooks.feedFloor()).toBeUndefined()
    await s.inbound.insert(inbound())
    const newest = await s.inbound.newestCursor()
    const e1 = await s.webhooks.insertEndpoint(endpoint('e1'))
    expect(e1).toEqual({ ...endpoint('e1'), previousSecret: null, previousSecretUntil: null, disabled: false, disabledReason: null, failingSince: null,
      reply: false, lateReply: 'send', feedCursor: newest })
    const e0 = await s.webhooks.insertEndpoint({ ...endpoint('e0', { createdAt: NOW - 1, channelId: 'c1' }), reply: true, lateReply: 'drop' })
    expect(e0).toMatchObject({ reply: true, lateReply: 'drop', channelId: 'c1' })
    expect((await s.webhooks.allEndpoints()).map((e) => e.id)).toEqual(['e0', 'e1'])
    // The reply hook reads no feed: the floor is e1's.
    expect(await s.webhooks.feedFloor()).toBe(newest)
    await s.webhooks.advanceFeed('e1', newest + 100)
    await s.webhooks.advanceFeed('e1', newest + 1)
    expect((await s.webhooks.endpoint('e1'))!.feedCursor).toBe(newest + 100)
    expect((await s.webhooks.updateEndpoint('e1', { disabled: true, disabledReason: 'gone' }, NOW + 1))).toMatchObject({ disabled: true, disabledReason: 'gone', updatedAt: NOW + 1, feedCursor: newest + 100 })
    expect(await s.webhooks.feedFloor()).toBeUndefined()
    expect((await s.webhooks.activeEndpoints()).map((e) => e.id)).toEqual(['e0'])
    await s.inbound.insert(inbound())
    const newer = await s.inbound.newestCursor()
    expect((await s.webhooks.updateEndpoint('e1', { disabled: false, disabledReason: null }, NOW + 2))).toMatchObject({ disabled: false, feedCursor: newer })
    // Already enabled: the cursor stays.
    await s.webhooks.advanceFeed('e1', newer + 5)
    expect((await s.webhooks.updateEndpoint('e1', { disabled: false, url: 'http://127.0.0.1:9/new' }, NOW + 3))).toMatchObject({ url: 'http://127.0.0.1:9/new', feedCursor: newer + 5 })
    expect(await s.webhooks.updateEndpoint('zz', { url: 'x' }, NOW)).toBeUndefined()
    const up = await s.webhooks.upsertEndpoint({ ...endpoint('e0'), url: 'http://127.0.0.1:9/env', secret: 'whsec_new', events: '["message"]', updatedAt: NOW + 4 })
    expect(up).toMatchObject({ url: 'http://127.0.0.1:9/env', secret: 'whsec_new', events: '["message"]', reply: true, channelId: 'c1', createdAt: NOW - 1, updatedAt: NOW + 4 })
    expect(await s.webhooks.markFailing('e1', NOW + 10)).toMatchObject({ failingSince: NOW + 10 })
    expect(await s.webhooks.markFailing('e1', NOW + 20)).toMatchObject({ failingSince: NOW + 10 })
    await s.webhooks.clearFailing('e1')
    expect((await s.webhooks.endpoint('e1'))!.failingSince).toBeNull()
    await s.webhooks.disableEndpoint('e1', '410', NOW + 30)
    await s.webhooks.disableEndpoint('e1', 'later', NOW + 31)
    expect(await s.webhooks.endpoint('e1')).toMatchObject({ disabled: true, disabledReason: '410', updatedAt: NOW + 30 })
    expect(await s.webhooks.deleteEndpoint('e1')).toBe(true)
    expect(await s.webhooks.deleteEndpoint('e1')).toBe(false)
  })

  test('webhook deliveries: due per endpoint (order, limit), claim once, results only while delivering, requeue, release, lists', async () => {
    const { s, tx } = c()
    await s.webhooks.insertEndpoint(endpoint('e1'))
    await s.webhooks.insertEndpoint(endpoint('e2'))
    await tx(async (t) => {
      await t.webhooks.insertEvent({ id: 'ev1', type: 'message', channelId: null, body: '{"n":1}', createdAt: NOW })
      await t.webhooks.insertDeliveries([
        { id: 'd1', eventId: 'ev1', endpointId: 'e1', nextAttemptAt: NOW, createdAt: NOW },
        { id: 'd2', eventId: 'ev1', endpointId: 'e1', nextAttemptAt: NOW - 5, createdAt: NOW + 1 },
        { id: 'd3', eventId: 'ev1', endpointId: 'e1', nextAttemptAt: NOW, createdAt: NOW + 2 },
        { id: 'd4', eventId: 'ev1', endpointId: 'e1', nextAttemptAt: NOW + 1, createdAt: NOW + 3 },
        { id: 'd5', eventId: 'ev1', endpointId: 'e2', nextAttemptAt: NOW - 9, createdAt: NOW + 4 },
      ])
      await t.webhooks.insertDeliveries([])
    })
    expect((await s.webhooks.dueFor('e1', NOW, 10)).map((d) => d.id)).toEqual(['d2', 'd1', 'd3'])
    expect((await s.webhooks.dueFor('e1', NOW, 2)).map((d) => d.id)).toEqual(['d2', 'd1'])
    const claimed = await tx((t) => t.webhooks.claim('d1', NOW + 100, 'i1'))
    expect(claimed).toMatchObject({ id: 'd1', status: 'delivering', attempts: 1, leaseUntil: NOW + 100, body: '{"n":1}', type: 'message' })
    expect(await tx((t) => t.webhooks.claim('d1', NOW + 100, 'i1'))).toBeUndefined()
    expect(await s.webhooks.retryLater('d2', NOW, null, 'x')).toBe(false)
    expect(await s.webhooks.retryLater('d1', NOW + 50, 503, 'busy', -1)).toBe(true)
    expect(await s.webhooks.delivery('d1')).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: NOW + 50, lastStatusCode: 503, leaseUntil: null, type: 'message' })
    await s.webhooks.claim('d1', NOW + 100, 'i1')
    expect(await s.webhooks.retryLater('d1', NOW + 50, null, 'again', -1)).toBe(true)
    await s.webhooks.claim('d1', NOW + 100, 'i1')
    expect(await s.webhooks.retryLater('d1', NOW + 50, null, 'floor', -5)).toBe(true)
    expect((await s.webhooks.delivery('d1'))!.attempts).toBe(0)
    await s.webhooks.claim('d2', NOW + 100, 'i1')
    expect(await s.webhooks.delivered('d2', NOW + 1, 204)).toBe(true)
    expect(await s.webhooks.delivered('d2', NOW + 2, 204)).toBe(false)
    expect(await s.webhooks.delivery('d2')).toMatchObject({ status: 'delivered', lastStatusCode: 204, deliveredAt: NOW + 1, finishedAt: NOW + 1 })
    await s.webhooks.claim('d3', NOW + 100, 'i1')
    expect(await s.webhooks.failed('d3', NOW + 3, 500, 'boom')).toBe(true)
    expect(await s.webhooks.failed('d3', NOW + 3, 500, 'boom')).toBe(false)
    expect(await s.webhooks.requeue('d2', NOW, 7)).toBeUndefined()
    expect(await s.webhooks.requeue('d3', NOW + 4, 7)).toMatchObject({ status: 'pending', attempts: 7, nextAttemptAt: NOW + 4, finishedAt: null })
    expect(await s.webhooks.delivery('zz')).toBeUndefined()
    // release: lapsed leases only, but `except`; Infinity: all.
    await s.webhooks.claim('d4', NOW + 10, 'i1')
    await s.webhooks.claim('d5', NOW + 1000, 'i1')
    expect(await s.webhooks.release(NOW + 500)).toBe(1)
    await s.webhooks.claim('d4', NOW + 10, 'i1')
    expect(await s.webhooks.release(Infinity, ['d4'])).toBe(1)
    expect(await s.webhooks.release(Infinity)).toBe(1)
    await s.webhooks.claim('d4', NOW + 10, 'i1')
    const all = await s.webhooks.deliveries({ endpointId: 'e1', limit: 10 })
    expect(all.map((d) => [d.id, d.type])).toEqual([['d4', 'message'], ['d3', 'message'], ['d2', 'message'], ['d1', 'message']])
    expect((await s.webhooks.deliveries({ endpointId: 'e1', status: 'pending', limit: 10 })).map((d) => d.id)).toEqual(['d4', 'd3', 'd1'])
    expect((await s.webhooks.deliveries({ endpointId: 'e1', status: 'delivered', limit: 10 })).map((d) => d.id)).toEqual(['d2'])
    expect((await s.webhooks.deliveries({ endpointId: 'e1', limit: 2, beforeSeq: all[1]!.seq })).map((d) => d.id)).toEqual(['d2', 'd1'])
    const depth = (await s.webhooks.pendingDepth()).sort((a, b) => a.endpointId.localeCompare(b.endpointId))
    expect(depth).toEqual([{ endpointId: 'e1', depth: 2, oldestCreatedAt: NOW }, { endpointId: 'e2', depth: 1, oldestCreatedAt: NOW + 4 }])
    expect(await s.webhooks.failPending('e1', NOW + 9, 'disabled')).toBe(2)
    expect((await s.webhooks.delivery('d1'))).toMatchObject({ status: 'failed', lastError: 'disabled', finishedAt: NOW + 9 })
  })

  test('webhook delivery owners: a claim records its owner; results with an owner only while it owns the row; release clears it', async () => {
    const { s, tx } = c()
    await s.webhooks.insertEndpoint(endpoint('e1'))
    await tx(async (t) => {
      await t.webhooks.insertEvent({ id: 'ev1', type: 'message', channelId: null, body: '{}', createdAt: NOW })
      await t.webhooks.insertDeliveries(['d1', 'd2', 'd3'].map((id) => ({ id, eventId: 'ev1', endpointId: 'e1', nextAttemptAt: NOW, createdAt: NOW })))
    })
    expect(await tx((t) => t.webhooks.claim('d1', NOW + 10, 'a'))).toMatchObject({ status: 'delivering', leaseOwner: 'a', leaseUntil: NOW + 10 })
    // a's lease lapses; b releases and claims it again: a's late results move nothing.
    expect(await s.webhooks.release(NOW + 11)).toBe(1)
    expect(await s.webhooks.delivery('d1')).toMatchObject({ status: 'pending', leaseOwner: null, leaseUntil: null })
    await tx((t) => t.webhooks.claim('d1', NOW + 100, 'b'))
    expect(await s.webhooks.delivered('d1', NOW + 20, 200, 'a')).toBe(false)
    expect(await s.webhooks.retryLater('d1', NOW + 50, 500, 'late', 0, 'a')).toBe(false)
    expect(await s.webhooks.failed('d1', NOW + 20, 500, 'late', 'a')).toBe(false)
    expect(await s.webhooks.delivery('d1')).toMatchObject({ status: 'delivering', leaseOwner: 'b', attempts: 2, lastError: null })
    expect(await s.webhooks.delivered('d1', NOW + 21, 204, 'b')).toBe(true)
    expect(await s.webhooks.delivery('d1')).toMatchObject({ status: 'delivered', leaseOwner: null, leaseUntil: null, lastStatusCode: 204 })
    await tx((t) => t.webhooks.claim('d2', NOW + 100, 'a'))
    expect(await s.webhooks.retryLater('d2', NOW + 50, 503, 'busy', 0, 'a')).toBe(true)
    expect(await s.webhooks.delivery('d2')).toMatchObject({ status: 'pending', leaseOwner: null })
    await tx((t) => t.webhooks.claim('d2', NOW + 100, 'a'))
    expect(await s.webhooks.failed('d2', NOW + 30, 500, 'boom', 'a')).toBe(true)
    expect(await s.webhooks.delivery('d2')).toMatchObject({ status: 'failed', leaseOwner: null })
    // Without an owner (a feed row written in the same transaction): whoever claimed it.
    await tx((t) => t.webhooks.claim('d3', NOW + 100, 'a'))
    expect(await s.webhooks.delivered('d3', NOW + 31, 200)).toBe(true)
    // At a stop an instance releases its own claims only.
    await tx(async (t) => {
      await t.webhooks.insertDeliveries(['d4', 'd5'].map((id) => ({ id, eventId: 'ev1', endpointId: 'e1', nextAttemptAt: NOW, createdAt: NOW })))
      await t.webhooks.claim('d4', NOW + 100, 'a')
      await t.webhooks.claim('d5', NOW + 100, 'b')
    })
    expect(await s.webhooks.release(Infinity, [], 'a')).toBe(1)
    expect(await s.webhooks.delivery('d4')).toMatchObject({ status: 'pending', leaseOwner: null })
    expect(await s.webhooks.delivery('d5')).toMatchObject({ status: 'delivering', leaseOwner: 'b' })
  })

  test('the feed cursor under a lease: advanceFeed with a holder moves it only while that owner holds the lease past validAfter', async () => {
    const { s, tx } = c()
    await s.webhooks.insertEndpoint(endpoint('e1'))
    const start = (await s.webhooks.endpoint('e1'))!.feedCursor
    expect(await s.leases.acquire('feed:e1', 'a', NOW + 30_000, NOW)).toBe(true)
    const cursor = async () => (await s.webhooks.endpoint('e1'))!.feedCursor
    expect(await tx((t) => t.webhooks.advanceFeed('e1', start + 5, { lease: 'feed:e1', owner: 'b', validAfter: NOW }))).toBe(false)
    expect(await cursor()).toBe(start)
    expect(await tx((t) => t.webhooks.advanceFeed('e1', start + 5, { lease: 'feed:e1', owner: 'a', validAfter: NOW + 29_999 }))).toBe(true)
    expect(await cursor()).toBe(start + 5)
    // Too close to the lease's end (another instance may be taking the feed over): nothing moves.
    expect(await tx((t) => t.webhooks.advanceFeed('e1', start + 9, { lease: 'feed:e1', owner: 'a', validAfter: NOW + 30_000 }))).toBe(false)
    expect(await tx((t) => t.webhooks.advanceFeed('e1', start + 9, { lease: 'feed:e2', owner: 'a', validAfter: NOW }))).toBe(false)
    expect(await cursor()).toBe(start + 5)
    // The holder's check moves nothing back; without a holder (SQLite's one process) as before.
    expect(await tx((t) => t.webhooks.advanceFeed('e1', 0, { lease: 'feed:e1', owner: 'a', validAfter: NOW }))).toBe(true)
    expect(await cursor()).toBe(start + 5)
    expect(await s.webhooks.advanceFeed('e1', start + 7)).toBe(true)
    expect(await cursor()).toBe(start + 7)
    expect(await s.webhooks.advanceFeed('nope', start + 7)).toBe(false)
  })

  test('webhook feed deliveries and prunes: the event once, recorded ones, finished deliveries and orphan events up to the limit', async () => {
    const { s, tx } = c()
    await channel(s, 'c1')
    await s.webhooks.insertEndpoint(endpoint('e1'))
    await s.webhooks.insertEndpoint(endpoint('e2'))
    await tx(async (t) => {
      await t.webhooks.insertFeedDelivery({ id: 'f1', type: 'message', channelId: 'c1', body: '{}', createdAt: NOW }, { id: 'fd1', endpointId: 'e1', now: NOW + 1, attempts: 1, status: 'delivered', statusCode: 200 })
      await t.webhooks.insertFeedDelivery({ id: 'f1', type: 'message', channelId: 'c1', body: '{}', createdAt: NOW }, { id: 'fd2', endpointId: 'e2', now: NOW + 1, attempts: 1, status: 'delivering' })
      await t.webhooks.insertFeedDelivery({ id: 'f2', type: 'event', channelId: 'c1', body: '{}', createdAt: NOW }, { id: 'fd3', endpointId: 'e1', now: NOW + 2, attempts: 0, status: 'pending' })
    })
    expect(await s.webhooks.delivery('fd1')).toMatchObject({ status: 'delivered', lastStatusCode: 200, deliveredAt: NOW + 1, finishedAt: NOW + 1, createdAt: NOW, attempts: 1 })
    expect(await s.webhooks.delivery('fd2')).toMatchObject({ status: 'delivering', lastStatusCode: null, deliveredAt: null, finishedAt: null })
    expect(await s.webhooks.feedRecorded('e1', ['f1', 'f2', 'f3'])).toEqual(new Set(['f1', 'f2']))
    expect(await s.webhooks.feedRecorded('e2', ['f2'])).toEqual(new Set())
    expect(await s.webhooks.feedRecorded('e2', [])).toEqual(new Set())
    await s.webhooks.insertEvent({ id: 'orphan1', type: 'x', channelId: null, body: '{}', createdAt: NOW - 10 })
    await s.webhooks.insertEvent({ id: 'orphan2', type: 'x', channelId: null, body: '{}', createdAt: NOW - 10 })
    await s.webhooks.insertEvent({ id: 'young', type: 'x', channelId: null, body: '{}', createdAt: NOW + 10 })
    expect(await s.webhooks.pruneEvents(NOW + 5, 1)).toBe(1)
    expect(await s.webhooks.pruneEvents(NOW + 5, 10)).toBe(1)
    expect(await s.webhooks.pruneDeliveries(NOW + 5, 10)).toBe(1)
    expect(await s.webhooks.pruneEvents(NOW + 5, 10)).toBe(0)
    // f1 is still referred to by fd2; deleting the endpoint takes its deliveries with it.
    expect(await s.webhooks.deleteEndpoint('e2')).toBe(true)
    expect(await s.webhooks.delivery('fd2')).toBeUndefined()
    expect(await s.webhooks.pruneEvents(NOW + 5, 10)).toBe(1)
  })

  test('media uploads: one row per content (a new upload replaces), reusable only while valid, prune up to the limit', async () => {
    const { s } = c()
    await channel(s, 'c1')
    const up = (sha256: string, mediaId: string, expiresAt: number) => ({ channelId: 'c1', type: 'image', sha256, mediaId, bytes: 1234, createdAt: NOW, expiresAt })
    await s.media.put(up('h1', 'M1', NOW + 100))
    await s.media.put(up('h1', 'M2', NOW + 200))
    await s.media.put(up('h2', 'M3', NOW - 1))
    await s.media.put(up('h3', 'M4', NOW - 1))
    expect(await s.media.reusable({ channelId: 'c1', type: 'image', sha256: 'h1', validAfter: NOW + 150 })).toEqual(up('h1', 'M2', NOW + 200))
    expect(await s.media.reusable({ channelId: 'c1', type: 'image', sha256: 'h1', validAfter: NOW + 200 })).toBeUndefined()
    expect(await s.media.reusable({ channelId: 'c1', type: 'voice', sha256: 'h1', validAfter: NOW })).toBeUndefined()
    expect(await s.media.pruneExpiredBefore(NOW, 1)).toBe(1)
    expect(await s.media.pruneExpiredBefore(NOW, 10)).toBe(1)
    expect(await s.media.pruneExpiredBefore(NOW, 10)).toBe(0)
  })

  test('leases: one holder at a time; the holder renews; a lapsed lease is anyone\'s; release frees it for others only', async () => {
    const { s } = c()
    expect(await s.leases.acquire('token:c1', 'i1', NOW + 1000, NOW)).toBe(true)
    expect(await s.leases.acquire('token:c1', 'i2', NOW + 1000, NOW + 10)).toBe(false)
    expect(await s.leases.acquire('token:c1', 'i1', NOW + 2000, NOW + 10)).toBe(true)
    expect(await s.leases.get('token:c1')).toEqual({ name: 'token:c1', owner: 'i1', until: NOW + 2000 })
    expect(await s.leases.acquire('token:c1', 'i2', NOW + 3000, NOW + 1999)).toBe(false)
    expect(await s.leases.acquire('token:c1', 'i2', NOW + 3000, NOW + 2000)).toBe(true)
    await s.leases.release('token:c1', 'i1')
    expect((await s.leases.get('token:c1'))?.owner).toBe('i2')
    await s.leases.release('token:c1', 'i2')
    expect(await s.leases.get('token:c1')).toBeUndefined()
    expect(await s.leases.acquire('feed:e1', 'i1', NOW + 1, NOW)).toBe(true)
  })

  test('rate buckets: a new bucket starts full, takes whole tokens, refills at the rate up to the burst, gives back', async () => {
    const { tx } = c()
    const p = (now: number) => ({ ratePerSecond: 10, burst: 2, now })
    expect(await tx((t) => t.rates.take('send:c1', 5, p(NOW)))).toBe(2)
    expect(await tx((t) => t.rates.take('send:c1', 5, p(NOW + 50)))).toBe(0)
    expect(await tx((t) => t.rates.take('send:c1', 5, p(NOW + 150)))).toBe(1)
    expect(await tx((t) => t.rates.take('send:c1', 5, p(NOW + 10_000)))).toBe(2)
    await tx((t) => t.rates.giveBack('send:c1', 1))
    expect(await tx((t) => t.rates.take('send:c1', 5, p(NOW + 10_000)))).toBe(1)
    expect(await tx((t) => t.rates.take('send:c2', 1, p(NOW)))).toBe(1)
  })

  const session = (id: string, keyId: string, at = NOW) => ({ id, keyId, csrf: `csrf_${id}`, createdAt: at, lastSeenAt: at })

  test('console sessions: insert and get (times as numbers), an unknown id is undefined; touch moves lastSeenAt forward only', async () => {
    const { s } = c()
    await s.consoleSessions.insert(session('h1', 'k1'))
    expect(await s.consoleSessions.get('h1')).toEqual({ id: 'h1', keyId: 'k1', csrf: 'csrf_h1', createdAt: NOW, lastSeenAt: NOW })
    expect(await s.consoleSessions.get('h2')).toBeUndefined()
    await s.consoleSessions.touch('h1', NOW + 5000)
    expect(await s.consoleSessions.get('h1')).toMatchObject({ createdAt: NOW, lastSeenAt: NOW + 5000 })
    // A request that read the clock earlier (or another instance's) never moves it back.
    await s.consoleSessions.touch('h1', NOW + 4000)
    expect((await s.consoleSessions.get('h1'))?.lastSeenAt).toBe(NOW + 5000)
    await s.consoleSessions.touch('nope', NOW + 9000)
    expect(await s.consoleSessions.get('nope')).toBeUndefined()
  })

  test('console sessions: delete (sign-out) true once then false; deleteByKey counts and leaves other keys\' sessions', async () => {
    const { s, tx } = c()
    for (const [id, key] of [['a1', 'k1'], ['a2', 'k1'], ['a3', 'k1'], ['b1', 'k2'], ['t1', 'admin-token:0123456789ab']] as const) await s.consoleSessions.insert(session(id, key))
    expect(await s.consoleSessions.delete('a3')).toBe(true)
    expect(await s.consoleSessions.delete('a3')).toBe(false)
    expect(await s.consoleSessions.delete('zz')).toBe(false)
    // The revocation and the end of its sessions in one transaction, as the caller does it.
    await s.apiKeys.insert({ id: 'k1', name: 'ops', keyHash: 'h', prefix: 'wxg_1', scopes: 'admin', createdAt: NOW })
    expect(await tx(async (t) => { await t.apiKeys.revoke('k1', NOW + 1); return t.consoleSessions.deleteByKey('k1') })).toBe(2)
    expect(await s.consoleSessions.deleteByKey('k1')).toBe(0)
    expect(await s.consoleSessions.get('a1')).toBeUndefined()
    expect(await s.consoleSessions.get('b1')).toMatchObject({ keyId: 'k2' })
    expect(await s.consoleSessions.deleteByKey('admin-token:0123456789ab')).toBe(1)
    expect(await s.consoleSessions.get('b1')).toMatchObject({ keyId: 'k2' })
  })

  test('console sessions: pruneIdle deletes only those last seen before the bound (a touched one stays)', async () => {
    const { s } = c()
    const IDLE = 12 * 3600_000
    await s.consoleSessions.insert(session('old', 'k1', NOW - IDLE - 1))
    await s.consoleSessions.insert(session('edge', 'k1', NOW - IDLE))
    await s.consoleSessions.insert(session('used', 'k2', NOW - 2 * IDLE))
    await s.consoleSessions.touch('used', NOW - 60_000)
    await s.consoleSessions.insert(session('new', 'k2', NOW))
    expect(await s.consoleSessions.pruneIdle(NOW - IDLE)).toBe(1)
    expect(await s.consoleSessions.get('old')).toBeUndefined()
    for (const id of ['edge', 'used', 'new']) expect((await s.consoleSessions.get(id))?.id).toBe(id)
    expect(await s.consoleSessions.pruneIdle(NOW - IDLE)).toBe(0)
    expect(await s.consoleSessions.pruneIdle(NOW + 1)).toBe(3)
  })
}

for (const impl of [sqliteImpl(), postgresImpl()]) {
  describe.skipIf(impl.skip !== undefined)(`the store contract on ${impl.name}${impl.skip ? ` (skipped: ${impl.skip})` : ''}`, () => {
    let ctx: Ctx
    beforeAll(() => impl.open(), 60_000)
    afterAll(() => impl.close())
    beforeEach(async () => { ctx = await impl.reset() })
    cases(() => ctx)
  })
}

// ---- PostgreSQL only: the callback dedup and the claims across instances ------------------------------------------------

describe.skipIf(missing !== undefined)(`two PostgreSQL instances (dedup, claims)${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pg: TestPostgres
  let a: PostgresDb
  let b: PostgresDb
  beforeAll(async () => {
    pg = await startPostgres()
    a = await openPostgres(pg.url, { max: 2 })
    b = await openPostgres(pg.url, { max: 2 })
    await a.migrate(NOW)
    await channel(a.read, 'c1')
  }, 60_000)
  afterAll(async () => { await a?.close(); await b?.close(); await pg?.stop() })

  /** a inserts the message in a transaction held open; b inserts the same meanwhile; then a commits or rolls back. */
  const race = async (aOutcome: 'commit' | 'rollback', key: string) => {
    let bSettled = false
    let release!: () => void
    const held = new Promise<void>((r) => { release = r })
    let inserted!: () => void
    const aInserted = new Promise<void>((r) => { inserted = r })
    const aTx = a.tx(async (t) => {
      expect(await t.inbound.insert(inbound({ dedupKey: key, reply: 'first' }))).toBe(true)
      inserted()
      await held
      if (aOutcome === 'rollback') throw new Error('rolled back on purpose')
    }).catch((e: Error) => e.message)
    await aInserted
    const bInsert = b.tx((t) => t.inbound.insert(inbound({ dedupKey: key, reply: 'second' }))).finally(() => { bSettled = true })
    await Bun.sleep(300)
    const waited = !bSettled
    release()
    return { waited, aResult: await aTx, bResult: await bInsert }
  }

  test('the second insert waits for the first\'s commit, then gets false, and findReply sees the first\'s reply', async () => {
    const r = await race('commit', 'dup-1')
    expect(r.waited).toBe(true)
    expect(r.aResult).toBeUndefined()
    expect(r.bResult).toBe(false)
    expect(await b.read.inbound.findReply('c1', 'dup-1')).toBe('first')
  })

  test('claims across instances (FOR UPDATE SKIP LOCKED): the second skips a row the first is claiming, at once; after the commit it is not queued any more', async () => {
    await a.read.messages.insertMessages([message('claim-m')])
    await a.read.webhooks.insertEndpoint(endpoint('claim-e'))
    await a.read.webhooks.insertEvent({ id: 'claim-ev', type: 'message', channelId: null, body: '{}', createdAt: NOW })
    await a.read.webhooks.insertDeliveries([{ id: 'claim-d', eventId: 'claim-ev', endpointId: 'claim-e', nextAttemptAt: NOW, createdAt: NOW }])
    let release!: () => void
    const held = new Promise<void>((r) => { release = r })
    let claimed!: () => void
    const aClaimed = new Promise<void>((r) => { claimed = r })
    const first = a.tx(async (t) => {
      const m = await t.messages.claim('claim-m', claimBy('a', NOW))
      const d = await t.webhooks.claim('claim-d', NOW + 60_000, 'a')
      claimed()
      await held
      return [m?.status, d?.status]
    })
    await aClaimed
    // While a's transaction holds both rows, b's claims answer at once (nothing waits on a's transaction).
    const second = await b.tx(async (t) => [await t.messages.claim('claim-m', claimBy('b', NOW + 1)), await t.webhooks.claim('claim-d', NOW + 60_001, 'b')])
    expect(second).toEqual([undefined, undefined])
    release()
    expect(await first).toEqual(['sending', 'delivering'])
    expect(await b.tx(async (t) => [await t.messages.claim('claim-m', claimBy('b', NOW + 2)), await t.webhooks.claim('claim-d', NOW + 60_002, 'b')])).toEqual([undefined, undefined])
    expect(await b.read.messages.get('claim-m')).toMatchObject({ status: 'sending', attempts: 1, lastCallAt: NOW, leaseOwner: 'a' })
  })

  test('a rate bucket taken by two instances at once hands out no more than it holds', async () => {
    const p = { ratePerSecond: 10, burst: 5, now: NOW }
    const takes = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).tx((t) => t.rates.take('send:race', 2, p))))
    expect(takes.reduce((x, y) => x + y, 0)).toBe(5)
  })

  test('a lease acquired by two instances at once has one holder', async () => {
    const got = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).read.leases.acquire('token:race', `i${i}`, NOW + 1000, NOW)))
    expect(got.filter(Boolean)).toHaveLength(1)
  })

  test('if the first rolls back, the second succeeds', async () => {
    const r = await race('rollback', 'dup-2')
    expect(r.waited).toBe(true)
    expect(r.aResult).toBe('rolled back on purpose')
    expect(r.bResult).toBe(true)
    expect(await a.read.inbound.findReply('c1', 'dup-2')).toBe('second')
  })
})
