// @first-pass-only: PostgreSQL on a cluster of its own (TEST_POSTGRES=required in .ci/run)
/**
 * One stable_token flight per channel for all instances of one PostgreSQL database (SPEC §8, issue 14):
 * two token services in this process, each with its own pool on the same database and its own instanceId,
 * one injected clock shared with the sandbox WeChat, which counts the stable_token calls.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { createChannelService } from '../../src/domain/channel.service'
import { createTokenService, LEASE_MS, LEASE_WAIT_MS, type TokenService } from '../../src/domain/token.service'
import { fixedClock } from '../../src/lib/clock'
import { memoryLogger } from '../../src/lib/log'
import { systemRandom } from '../../src/lib/random'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { openPostgres, type PostgresDb } from '../../src/store/postgres/db'
import { WeChatApiError, createWeChatClient } from '../../src/wechat-api/client'
import { ForceRefreshLimitedError, isTokenFetchError } from '../../src/domain/token.service'
import { postgresMissing, postgresRequired, startPostgres, type TestPostgres } from '../support/postgres'

const missing = postgresMissing()
if (missing && postgresRequired) throw new Error(`TEST_POSTGRES=required but ${missing}`)

const STABLE = '/cgi-bin/stable_token'
const forcedCalls = (sb: Sandbox) => sb.received(STABLE).filter((c) => (c.body as { force_refresh?: boolean }).force_refresh === true).length
const normalCalls = (sb: Sandbox) => sb.calls(STABLE) - forcedCalls(sb)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Settles within `ms` (real time)? */
const settlesWithin = async (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true, () => true), sleep(ms).then(() => false)])

describe.skipIf(missing !== undefined && !postgresRequired)(`two instances on one PostgreSQL${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pg: TestPostgres
  let sb: Sandbox
  let clock: ReturnType<typeof fixedClock>
  let dbs: PostgresDb[] = []
  let n = 0

  interface Instance { db: PostgresDb; tokens: TokenService; lines: string[] }

  const instance = async (url: string, instanceId: string): Promise<Instance> => {
    const db = await openPostgres(url)
    dbs.push(db)
    const { logger: log, lines } = memoryLogger('debug')
    const channels = createChannelService({ db, clock, log, allowEmptyToken: false })
    await channels.load()
    const client = createWeChatClient({ baseUrl: sb.url, log })
    const tokens = createTokenService({ db, instanceId, clock, random: systemRandom, log, client, channels })
    await tokens.load()
    return { db, tokens, lines }
  }

  /** A fresh database with one channel, served by instances a and b. */
  const two = async (): Promise<[Instance, Instance]> => {
    const name = `tok${n++}`
    const admin = new Bun.SQL(pg.url)
    try {
      await admin.unsafe(`CREATE DATABASE ${name}`)
    } finally {
      await admin.close()
    }
    const url = pg.url.replace(/\/[^/]+$/, `/${name}`)
    const first = await openPostgres(url)
    dbs.push(first)
    await first.migrate()
    const setup = createChannelService({ db: first, clock, log: memoryLogger('debug').logger, allowEmptyToken: false })
    await setup.upsert({ id: 'default', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'cbtoken1' })
    return [await instance(url, 'a'), await instance(url, 'b')]
  }

  beforeAll(async () => { pg = await startPostgres() })
  afterAll(async () => { await pg?.stop() })
  beforeEach(async () => {
    clock = fixedClock(Date.UTC(2026, 10, 24, 2, 0, 0)) // 10:00 in Shanghai
    sb = await startSandbox({ clock })
    sb.addUser(DEMO_ACCOUNT.appId, 'o_user')
  })
  afterEach(async () => {
    for (const db of dbs) await db.close()
    dbs = []
    await sb.stop()
  })

  test('2 × 500 concurrent cold-start getToken → exactly one stable_token call, one token for all', async () => {
    const [a, b] = await two()
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => (i % 2 ? a : b).tokens.getToken('default')))
    expect(sb.calls(STABLE)).toBe(1)
    expect(new Set(results.map((r) => r.accessToken)).size).toBe(1)
    expect(results[0]!.accessToken).toBe(sb.currentToken(DEMO_ACCOUNT.appId)!)
    // The lease was let go after the call.
    expect(await a.db.read.leases.get('token:default')).toBeUndefined()
  }, 30_000)

  test('both instances tick with the token due → one refresh; both then serve the new token', async () => {
    const [a, b] = await two()
    const old = await a.tokens.getToken('default')
    clock.set(old.expiresAt - 150_000) // inside the refresh window, past any jitter (at most 120 s)
    const before = sb.calls(STABLE)
    await Promise.all([a.tokens.tick(), b.tokens.tick()])
    expect(sb.calls(STABLE) - before).toBe(1)
    const fresh = sb.currentToken(DEMO_ACCOUNT.appId)!
    expect(fresh).not.toBe(old.accessToken)
    expect((await a.tokens.getToken('default')).accessToken).toBe(fresh)
    expect((await b.tokens.getToken('default')).accessToken).toBe(fresh)
    // Later ticks: not due any more, on either instance.
    await Promise.all([a.tokens.tick(), b.tokens.tick()])
    expect(sb.calls(STABLE) - before).toBe(1)
  }, 30_000)

  test('a token rejected on both instances at once → at most one normal and one forced call, the force budget counted once', async () => {
    const [a, b] = await two()
    const t = await a.tokens.getToken('default')
    expect((await b.tokens.getToken('default')).accessToken).toBe(t.accessToken)
    const before = sb.calls(STABLE)
    // Both are told the (still valid for stable_token) token is rejected: normal mode returns it again, then a force.
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).tokens.replaceFailing('default', t.accessToken)))
    expect(new Set(results.map((r) => r.accessToken)).size).toBe(1)
    expect(results[0]!.accessToken).not.toBe(t.accessToken)
    expect(results[0]!.accessToken).toBe(sb.currentToken(DEMO_ACCOUNT.appId)!)
    expect(normalCalls(sb) - before).toBeLessThanOrEqual(1)
    expect(forcedCalls(sb)).toBe(1)
    expect((await a.tokens.status('default')).forceRefreshesToday).toBe(1)
    expect((await b.tokens.status('default')).forceRefreshesToday).toBe(1)
  }, 30_000)

  test('a rejection on both instances while a forced refresh is not allowed (30 s) → one normal call in all, no force, both refused', async () => {
    const [a, b] = await two()
    const first = await a.tokens.getToken('default')
    const second = await a.tokens.replaceFailing('default', first.accessToken) // normal, then forced: the 30 s start now
    expect(forcedCalls(sb)).toBe(1)
    clock.advance(10_000)
    const before = sb.calls(STABLE)
    // The normal call is slow, so the other instance is sure to be waiting on the lease meanwhile.
    sb.inject({ path: STABLE, delayMs: 800 })
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).tokens.replaceFailing('default', second.accessToken)))
    for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ForceRefreshLimitedError)
    expect(sb.calls(STABLE) - before).toBe(1)
    expect(forcedCalls(sb)).toBe(1)
    expect((await b.tokens.status('default')).forceRefreshesToday).toBe(1)
  }, 30_000)

  test('a flight that outlasted its lease (another instance took it) makes no forced call after its normal one', async () => {
    const [a] = await two()
    const first = await a.tokens.getToken('default')
    // The normal call of the replacement is slow; meanwhile the lease lapses and another instance takes it.
    sb.inject({ path: STABLE, delayMs: 600 })
    const replacing = a.tokens.replaceFailing('default', first.accessToken)
    await sleep(200)
    clock.advance(LEASE_MS + 1)
    expect(await a.db.read.leases.acquire('token:default', 'other', clock.now() + LEASE_MS, clock.now())).toBe(true)
    await expect(replacing).rejects.toThrow('the token lease lapsed during the flight')
    // Its normal call went out (it answered the same token), the force did not: the other holder decides.
    expect(forcedCalls(sb)).toBe(0)
  }, 30_000)

  test('the lease holder dies mid-call → no call while its lease holds; after it lapses one call, a token for all', async () => {
    const [a, b] = await two()
    // A third instance took the lease and never lets go (it died during its call).
    expect(await a.db.read.leases.acquire('token:default', 'dead', clock.now() + LEASE_MS, clock.now())).toBe(true)
    const all = Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).tokens.getToken('default')))
    expect(await settlesWithin(all, 700)).toBe(false)
    expect(sb.calls(STABLE)).toBe(0)
    clock.advance(LEASE_MS - 1) // not yet lapsed
    expect(await settlesWithin(all, 500)).toBe(false)
    expect(sb.calls(STABLE)).toBe(0)
    clock.advance(1) // lapsed: the next poll of either instance takes it
    const results = await all
    expect(sb.calls(STABLE)).toBe(1)
    expect(new Set(results.map((r) => r.accessToken)).size).toBe(1)
  }, 30_000)

  test('a waiter gives up after LEASE_WAIT_MS with the error of a failed fetch (a holder that keeps its lease)', async () => {
    const [a, b] = await two()
    expect(await a.db.read.leases.acquire('token:default', 'stuck', clock.now() + 10 * LEASE_MS, clock.now())).toBe(true)
    const p = b.tokens.getToken('default').catch((e) => e)
    expect(await settlesWithin(p, 500)).toBe(false)
    clock.advance(LEASE_WAIT_MS)
    const e = await p
    expect(e).toBeInstanceOf(WeChatApiError)
    expect(isTokenFetchError(e)).toBe(true)
    expect((e as WeChatApiError).class).toBe('transient')
    expect(sb.calls(STABLE)).toBe(0)
  }, 30_000)

  test('the holder\'s call fails → its waiters on the other instance get that failure, with no call of their own', async () => {
    const [a, b] = await two()
    sb.inject({ path: STABLE, errcode: -1, times: 1, delayMs: 1000 })
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).tokens.getToken('default')))
    expect(sb.calls(STABLE)).toBe(1)
    for (const r of results) {
      expect(r.status).toBe('rejected')
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WeChatApiError)
      expect(((r as PromiseRejectedResult).reason as WeChatApiError).errcode).toBe(-1)
    }
    // The failure is in the row: both instances report it; the next caller fetches.
    expect((await b.tokens.status('default')).lastError?.errcode).toBe(-1)
    expect((await a.tokens.getToken('default')).accessToken).toBe(sb.currentToken(DEMO_ACCOUNT.appId)!)
    expect(sb.calls(STABLE)).toBe(2)
  }, 30_000)
})
