// @first-pass-only: PostgreSQL on a cluster of its own (TEST_POSTGRES=required in .ci/run)
/**
 * The PostgreSQL Db (src/store/postgres/db.ts, issue 14) on a real throwaway cluster: transactions (atomic,
 * never nested, re-run after a deadlock), the webhook feed's cursor when ids commit out of order, the
 * configuration version, connection failures as one 503 without the password, and a Db that outlives a
 * server restart.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { AppError } from '../../src/lib/errors'
import type { InboundInsert } from '../../src/store/contract'
import { openPostgres, postgresSecrets, shownPostgresUrl, TxMisuseError, type PostgresDb } from '../../src/store/postgres/db'
import { freePort } from '../support/gateway-process'
import { postgresMissing, postgresRequired, startPostgres, type TestPostgres } from '../support/postgres'

const NOW = Date.UTC(2026, 11, 1)
const missing = postgresMissing()
if (missing && postgresRequired) throw new Error(`TEST_POSTGRES=required but ${missing}`)

test('the password of a PostgreSQL URL: a secret for the logger, *** where the URL is shown', () => {
  expect(postgresSecrets('postgres://wx:p%40ss%3Aw0rd@db.internal:5432/wxgate')).toEqual(['p%40ss%3Aw0rd', 'p@ss:w0rd'])
  expect(postgresSecrets('postgresql://wx@db/wxgate?password=s3cret&sslmode=require')).toEqual(['s3cret'])
  expect(postgresSecrets('postgres://wx@db/wxgate')).toEqual([])
  expect(shownPostgresUrl('postgres://wx:p%40ss@db.internal:5432/wxgate')).toBe('postgres://wx:***@db.internal:5432/wxgate')
  expect(shownPostgresUrl('postgresql://wx@db/wxgate?password=s3cret')).toBe('postgresql://wx@db/wxgate?password=***')
  expect(shownPostgresUrl('postgres://wx@db/wxgate')).toBe('postgres://wx@db/wxgate')
})

test('a server that refuses the connection: openPostgres fails with database_unavailable (503), without the password', async () => {
  const port = await freePort()
  const err = await openPostgres(`postgres://wx:hunter2@127.0.0.1:${port}/wxgate`).then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(AppError)
  expect(err).toMatchObject({ code: 'database_unavailable', status: 503 })
  const text = `${(err as Error).message} ${String((err as Error).stack)} ${JSON.stringify(err)}`
  expect(text).not.toContain('hunter2')
  expect((err as Error).message).toContain(`postgres://wx:***@127.0.0.1:${port}/wxgate`)
})

const row = (dedupKey: string, p: Partial<InboundInsert> = {}): InboundInsert => ({
  channelId: 'c1', dedupKey, msgType: 'text', event: null, fromUser: 'o1', createTime: 1, body: '<xml/>', reply: '', handledBy: 'none', receivedAt: NOW, ...p,
})

/** A gate a test opens by hand: holds a transaction open at a chosen point. */
const gate = () => {
  let open!: () => void
  const opened = new Promise<void>((r) => { open = r })
  return { open, opened }
}

describe.skipIf(missing !== undefined)(`the PostgreSQL Db${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pg: TestPostgres
  let db: PostgresDb
  beforeAll(async () => {
    pg = await startPostgres()
    db = await openPostgres(pg.url, { max: 5 })
    expect(await db.migrate(NOW)).toEqual(['0000_init', '0001_feed_xid', '0002_config_version', '0003_instances', '0004_console_sessions'])
    expect(await db.migrate(NOW)).toEqual([])
    await db.read.channels.upsert({ id: 'c1', appId: 'wx1', appSecret: 's', token: 't' }, NOW)
  }, 60_000)
  afterAll(async () => { await db?.close(); await pg?.stop() })

  test('check(): the applied migrations and the server version', async () => {
    const c = await db.check()
    expect(c.migrations).toEqual(['0000_init', '0001_feed_xid', '0002_config_version', '0003_instances', '0004_console_sessions'])
    expect(c.version).toMatch(/^\d+/)
    expect(db.kind).toBe('postgres')
  })

  test('tx: the writes of fn commit together, are invisible outside until then, and roll back together when fn throws', async () => {
    const g = gate()
    let inside: string | undefined
    const t = db.tx(async (s) => {
      await s.inbound.insert(row('tx-1', { reply: 'one' }))
      inside = await s.inbound.findReply('c1', 'tx-1')
      await g.opened
      await s.inbound.insert(row('tx-2'))
      return 42
    })
    while (inside === undefined) await Bun.sleep(5)
    expect(inside).toBe('one')
    expect(await db.read.inbound.findReply('c1', 'tx-1')).toBeUndefined()
    g.open()
    expect(await t).toBe(42)
    expect(await db.read.inbound.findReply('c1', 'tx-1')).toBe('one')
    const before = db.stats()
    const err = await db.tx(async (s) => {
      await s.inbound.insert(row('tx-3'))
      await s.inbound.insert(row('tx-4'))
      throw new Error('no')
    }).catch((e: Error) => e.message)
    expect(err).toBe('no')
    expect(await db.read.inbound.findRow('c1', 'tx-3')).toBeUndefined()
    expect(db.stats()).toEqual({ batches: before.batches, jobs: before.jobs + 1, busyRetries: before.busyRetries })
  })

  test('a statement error is the driver\'s error (SQLSTATE in errno), not drizzle\'s wrapper that lists the parameters', async () => {
    const key = { id: 'dup-key', name: 'n', keyHash: 'hash-that-must-not-leak', prefix: 'p', scopes: 's', createdAt: NOW }
    await db.read.apiKeys.insert(key)
    const err = await Promise.resolve(db.read.apiKeys.insert(key)).then(() => undefined, (e: unknown) => e)
    expect(err).toMatchObject({ errno: '23505' })
    expect((err as Error).message).not.toContain('hash-that-must-not-leak')
    const inTx = await db.tx(async (s) => s.apiKeys.insert(key)).then(() => undefined, (e: unknown) => e)
    expect(inTx).toMatchObject({ errno: '23505' })
    expect((inTx as Error).message).not.toContain('hash-that-must-not-leak')
  })

  test('tx never nests: db.tx inside a transaction function throws TxMisuseError at once, and the outer one rolls back', async () => {
    let thrown: unknown
    const err = await db.tx(async (s) => {
      await s.inbound.insert(row('nest-1'))
      try {
        void db.tx(async () => undefined)
      } catch (e) {
        thrown = e
        throw e
      }
    }).catch((e: unknown) => e)
    expect(thrown).toBeInstanceOf(TxMisuseError)
    expect(err).toBe(thrown)
    expect(await db.read.inbound.findRow('c1', 'nest-1')).toBeUndefined()
    // Outside any transaction, after it: fine.
    expect(await db.tx(async (s) => s.inbound.insert(row('nest-2')))).toBe(true)
  })

  test('a deadlock between two transactions: the one PostgreSQL aborts runs again (busyRetries), both commit', async () => {
    await db.read.apiKeys.insert({ id: 'dl-a', name: 'a', keyHash: 'ha', prefix: 'p', scopes: 's', createdAt: NOW })
    await db.read.apiKeys.insert({ id: 'dl-b', name: 'b', keyHash: 'hb', prefix: 'p', scopes: 's', createdAt: NOW })
    const before = db.stats()
    const runs = { one: 0, two: 0 }
    const both = gate()
    let locked = 0
    const lockThen = (first: string, second: string, name: 'one' | 'two') => db.tx(async (s) => {
      runs[name]++
      await s.apiKeys.touch(first, NOW + 1)
      if (++locked === 2) both.open()
      await both.opened
      await s.apiKeys.touch(second, NOW + 2)
      return name
    })
    expect(await Promise.all([lockThen('dl-a', 'dl-b', 'one'), lockThen('dl-b', 'dl-a', 'two')])).toEqual(['one', 'two'])
    expect(runs.one + runs.two).toBe(3)
    const after = db.stats()
    expect(after.busyRetries - before.busyRetries).toBe(1)
    expect(after.jobs - before.jobs).toBe(2)
    expect(after.batches - before.batches).toBe(2)
  }, 20_000)

  test('the feed when ids commit out of order: a read in between never returns the later row, and after the commit both come in order', async () => {
    await db.read.inbound.insert(row('ooo-0'))
    const start = await db.read.inbound.newestCursor()
    const hold = gate()
    let aInserted = false
    // A takes the smaller id and commits last.
    const a = db.tx(async (s) => {
      await s.inbound.insert(row('ooo-a'))
      aInserted = true
      await hold.opened
    })
    while (!aInserted) await Bun.sleep(5)
    await db.tx(async (s) => { await s.inbound.insert(row('ooo-b')) })
    const ids = Object.fromEntries(await Promise.all(['ooo-b'].map(async (k) => [k, (await db.read.inbound.findRow('c1', k))!.id] as const)))
    // B is committed and visible, yet the feed holds it back while A (an older transaction) runs.
    expect(ids['ooo-b']).toBeGreaterThan(0)
    expect(await db.read.inbound.feedAfter(start, 10)).toEqual([])
    hold.open()
    await a
    const feed = await db.read.inbound.feedAfter(start, 10)
    expect(feed.map((r) => r.id)).toEqual([(await db.read.inbound.findRow('c1', 'ooo-a'))!.id, ids['ooo-b']!])
    expect(feed[0]!.id).toBeLessThan(feed[1]!.id)
    expect(feed[0]!.cursor).toBeLessThan(feed[1]!.cursor)
    // And the other way round: the smaller id committed first, the larger one later; a reader in between
    // gets the first and its cursor does not pass the second.
    const c = gate()
    let cInserted = false
    const later = db.tx(async (s) => { await s.inbound.insert(row('ooo-c')); cInserted = true; await c.opened })
    while (!cInserted) await Bun.sleep(5)
    await db.tx(async (s) => { await s.inbound.insert(row('ooo-d')) })
    const cursor = feed[1]!.cursor
    expect(await db.read.inbound.feedAfter(cursor, 10)).toEqual([])
    c.open()
    await later
    expect((await db.read.inbound.feedAfter(cursor, 10)).map((r) => r.body && r.id)).toEqual([
      (await db.read.inbound.findRow('c1', 'ooo-c'))!.id, (await db.read.inbound.findRow('c1', 'ooo-d'))!.id,
    ])
    expect(await db.read.inbound.lagAfter(cursor)).toEqual({ depth: 2, oldestReceivedAt: NOW })
  })

  test('dataVersion: a change made through another connection is seen within 2 s; touch and advanceFeed leave it alone', async () => {
    const other = new Bun.SQL(pg.url, { max: 1 })
    try {
      await db.read.apiKeys.insert({ id: 'dv-1', name: 'n', keyHash: 'dvh', prefix: 'p', scopes: 's', createdAt: NOW })
      await db.read.webhooks.insertEndpoint({ id: 'dv-e', url: 'http://127.0.0.1:9/x', events: '["*"]', channelId: null, description: null, secret: 'whsec_x', createdAt: NOW, updatedAt: NOW })
      const settle = async () => { const v = (await other`SELECT v FROM _wxgate_config_version`)[0].v; for (let i = 0; i < 200 && db.dataVersion() !== Number(v); i++) await Bun.sleep(10); return Number(v) }
      const v0 = await settle()
      expect(db.dataVersion()).toBe(v0)
      const changed = async (change: () => Promise<unknown>) => {
        const before = db.dataVersion()
        await change()
        const t0 = performance.now()
        while (db.dataVersion() === before && performance.now() - t0 < 2_000) await Bun.sleep(20)
        return db.dataVersion() !== before
      }
      expect(await changed(() => other`UPDATE api_keys SET revoked_at = ${NOW} WHERE id = 'dv-1'`)).toBe(true)
      expect(await changed(() => other`UPDATE channels SET name = 'x' WHERE id = 'c1'`)).toBe(true)
      expect(await changed(() => other`UPDATE webhook_endpoints SET url = 'http://127.0.0.1:9/y' WHERE id = 'dv-e'`)).toBe(true)
      expect(await changed(() => other`DELETE FROM webhook_endpoints WHERE id = 'nope'`)).toBe(true)
      const v1 = await settle()
      await db.read.apiKeys.touch('dv-1', NOW + 5)
      await db.read.webhooks.advanceFeed('dv-e', 123)
      await db.read.webhooks.markFailing('dv-e', NOW)
      await db.read.webhooks.clearFailing('dv-e')
      await other`UPDATE api_keys SET last_used_at = 1 WHERE id = 'dv-1'`
      expect(Number((await other`SELECT v FROM _wxgate_config_version`)[0].v)).toBe(v1)
      // Past one poll (500 ms): still the same.
      await Bun.sleep(800)
      expect(db.dataVersion()).toBe(v1)
    } finally {
      await other.close()
    }
  })

  test('ping, and a server restart: false and 503s while it is down, then the same Db recovers without being reopened', async () => {
    expect(await db.ping()).toBe(true)
    pg.stopServer()
    try {
      const t0 = performance.now()
      expect(await db.ping()).toBe(false)
      expect(await db.ping()).toBe(false)
      expect(performance.now() - t0).toBeLessThan(5_000)
      const read = await Promise.resolve(db.read.channels.get('c1')).then(() => undefined, (e: unknown) => e)
      expect(read).toMatchObject({ code: 'database_unavailable', status: 503 })
      const write = await db.tx(async (s) => s.inbound.insert(row('down-1'))).then(() => undefined, (e: unknown) => e)
      expect(write).toMatchObject({ code: 'database_unavailable', status: 503 })
      expect((write as Error).message).toContain('is not answering')
    } finally {
      pg.startServer()
    }
    const t1 = performance.now()
    while (!(await db.ping()) && performance.now() - t1 < 10_000) await Bun.sleep(100)
    expect(await db.ping()).toBe(true)
    expect((await db.read.channels.get('c1'))?.id).toBe('c1')
    expect(await db.tx(async (s) => s.inbound.insert(row('up-1')))).toBe(true)
  }, 30_000)
})
