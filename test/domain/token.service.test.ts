/**
 * The token service against the sandbox WeChat on a loopback port, a real SQLite file and an injected
 * clock shared by both: single flight, restart, a simulated day, 40001 storms, force-refresh limits,
 * 45009, backoff, timeouts, and no secret in any log line.
 */
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config'
import { createDeps } from '../../src/deps'
import { Database } from 'bun:sqlite'
import { ForceRefreshLimitedError, LEASE_MS, QuotaExhaustedError } from '../../src/domain/token.service'
import { fixedClock } from '../../src/lib/clock'
import { memoryLogger } from '../../src/lib/log'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { WeChatApiError } from '../../src/wechat-api/client'

const STABLE = '/cgi-bin/stable_token'
const forcedCalls = (sb: Sandbox) => sb.received(STABLE).filter((c) => (c.body as { force_refresh?: boolean }).force_refresh === true).length

const allLogs: string[] = []
let dir: string
let sb: Sandbox
let clock: ReturnType<typeof fixedClock>

const makeDeps = (opts: { timeoutMs?: number } = {}) => {
  const { logger, lines } = memoryLogger('debug')
  const deps = createDeps(loadConfig({ WXGATE_DB: join(dir, 'wxgate.db'), WXGATE_WECHAT_API: sb.url, WXGATE_ADMIN_TOKEN: 'token-test-admin-0123456789abc' }, ''), { clock, log: logger, wechatTimeoutMs: opts.timeoutMs })
  return { deps, lines }
}
const setup = async (opts: { timeoutMs?: number } = {}) => {
  const d = makeDeps(opts)
  await d.deps.ready
  await d.deps.channels.upsert({ id: 'default', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'cbtoken1' })
  return d
}
let logs: string[][] = []

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-token-'))
  clock = fixedClock(Date.UTC(2026, 10, 24, 2, 0, 0)) // 10:00 in Shanghai
  sb = await startSandbox({ clock })
  sb.addUser(DEMO_ACCOUNT.appId, 'o_user')
})
const tokensSeen = new Set<string>()
afterEach(async () => {
  for (const l of logs) allLogs.push(...l)
  for (const c of sb.received()) if (c.query.access_token) tokensSeen.add(c.query.access_token)
  const current = sb.currentToken(DEMO_ACCOUNT.appId)
  if (current) tokensSeen.add(current)
  logs = []
  await sb.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('single flight and persistence', () => {
  test('1,000 concurrent requests on a cold start → exactly one stable_token call', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    const results = await Promise.all(Array.from({ length: 1000 }, () => deps.tokens.getToken('default')))
    expect(sb.calls(STABLE)).toBe(1)
    expect(new Set(results.map((r) => r.accessToken)).size).toBe(1)
    expect(results[0]!.accessToken).toBe(sb.currentToken(DEMO_ACCOUNT.appId)!)
  })

  test('a restart with a valid stored token → zero calls', async () => {
    const first = await setup(); logs.push(first.lines)
    const t = await first.deps.tokens.getToken('default')
    first.deps.db.close()
    sb.reset()
    const second = makeDeps(); logs.push(second.lines)
    const again = await second.deps.tokens.getToken('default')
    expect(again.accessToken).toBe(t.accessToken)
    expect(sb.calls(STABLE)).toBe(0)
  })

  test('a token loaded from the database after a restart is masked in logs (no fetch needed)', async () => {
    const first = await setup(); logs.push(first.lines)
    const t = await first.deps.tokens.getToken('default')
    first.deps.db.close()
    const second = makeDeps(); logs.push(second.lines)
    await second.deps.ready
    second.deps.log.info('a careless line', { text: `token is ${t.accessToken}` })
    expect(second.lines.at(-1)).not.toContain(t.accessToken)
    expect(second.lines.at(-1)).toContain('[redacted]')
    expect(sb.calls(STABLE)).toBe(1)
  })

  test('an errmsg echoing the AppSecret or the token is redacted in the error and the logs', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    const t = await deps.tokens.getToken('default')
    sb.inject({ path: '/cgi-bin/user/info', errcode: 40003, echoSecrets: true })
    const e = await deps.tokens.withToken('default', (tok) => deps.wechat.userInfo(tok, 'o_user')).catch((x) => x) as WeChatApiError
    expect(e).toBeInstanceOf(WeChatApiError)
    expect(e.errmsg).toContain('[redacted]')
    for (const text of [e.errmsg, e.message, JSON.stringify(e.details), lines.join('\n')]) expect(text).not.toContain(t.accessToken)
    sb.inject({ path: STABLE, errcode: 40125, echoSecrets: true })
    const e2 = await deps.wechat.stableToken({ appId: DEMO_ACCOUNT.appId, secret: DEMO_ACCOUNT.appSecret }).catch((x) => x) as WeChatApiError
    expect(e2.errmsg).not.toContain(DEMO_ACCOUNT.appSecret)
  })

  test('a simulated day with the scheduler → at most 13 calls, never an expired token', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    await deps.tokens.getToken('default')
    const end = clock.now() + 24 * 3600_000
    while (clock.now() < end) {
      clock.advance(10_000)
      await deps.tokens.tick()
      if (clock.now() % 600_000 < 10_000) {
        const t = await deps.tokens.getToken('default')
        expect(t.expiresAt).toBeGreaterThan(clock.now())
      }
    }
    expect(sb.calls(STABLE)).toBeGreaterThanOrEqual(12)
    expect(sb.calls(STABLE)).toBeLessThanOrEqual(13)
    expect(forcedCalls(sb)).toBe(0)
  }, 60_000)
})

describe('the token lease on SQLite (the CLI is another process on the same file)', () => {
  const settlesWithin = async (p: Promise<unknown>, ms: number) =>
    Promise.race([p.then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))])

  test('a lease held by another process → no stable_token call until it lapses, then one', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    expect(await deps.db.read.leases.acquire('token:default', 'cli', clock.now() + LEASE_MS, clock.now())).toBe(true)
    const all = Promise.all(Array.from({ length: 50 }, () => deps.tokens.getToken('default')))
    expect(await settlesWithin(all, 500)).toBe(false)
    expect(sb.calls(STABLE)).toBe(0)
    clock.advance(LEASE_MS)
    const results = await all
    expect(sb.calls(STABLE)).toBe(1)
    expect(new Set(results.map((r) => r.accessToken)).size).toBe(1)
    expect(await deps.db.read.leases.get('token:default')).toBeUndefined()
  })

  test('another process holding the write lock while a token is fetched → the lease waits for it like a transaction', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    const first = await deps.tokens.getToken('default')
    clock.set(first.expiresAt) // expired, the same day: the next getToken fetches with no transaction before it
    const other = new Database(join(dir, 'wxgate.db'))
    try {
      other.exec('BEGIN IMMEDIATE')
      const p = deps.tokens.getToken('default')
      await new Promise((r) => setTimeout(r, 300))
      other.exec('COMMIT')
      expect((await p).accessToken).toBe(sb.currentToken(DEMO_ACCOUNT.appId)!)
      expect(sb.calls(STABLE)).toBe(2)
    } finally {
      other.close()
    }
  })
})

describe('token errors', () => {
  test('100 concurrent calls that all get 40001 → one token flight (at most one force refresh), all succeed', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    await deps.tokens.getToken('default')
    sb.revokeTokens(DEMO_ACCOUNT.appId)
    const before = sb.calls(STABLE)
    const results = await Promise.all(Array.from({ length: 100 }, () => deps.tokens.withToken('default', (t) => deps.wechat.userInfo(t, 'o_user'))))
    expect(results.every((r) => r.subscribe === 1)).toBe(true)
    const calls = sb.calls(STABLE) - before
    expect(calls).toBeGreaterThanOrEqual(1)
    expect(calls).toBeLessThanOrEqual(2)
    expect(forcedCalls(sb)).toBeLessThanOrEqual(1)
  })

  test('forced refreshes: at most one per 30 s, and a 21st in a day is not attempted', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    await deps.tokens.getToken('default')
    // WeChat keeps answering 40001 although stable_token returns the same token: the force path.
    sb.inject({ path: '/cgi-bin/user/info', errcode: 40001, times: Infinity })
    const call = () => deps.tokens.withToken('default', (t) => deps.wechat.userInfo(t, 'o_user'))
    for (let i = 1; i <= 20; i++) {
      await expect(call()).rejects.toBeInstanceOf(WeChatApiError)
      expect(forcedCalls(sb)).toBe(i)
      // within 30 s: no second force
      clock.advance(10_000)
      await expect(call()).rejects.toBeInstanceOf(ForceRefreshLimitedError)
      expect(forcedCalls(sb)).toBe(i)
      clock.advance(21_000)
    }
    await expect(call()).rejects.toBeInstanceOf(ForceRefreshLimitedError)
    expect(forcedCalls(sb)).toBe(20)
    expect((await deps.tokens.status('default')).forceRefreshesToday).toBe(20)
    // The next Shanghai day allows it again.
    clock.set(Date.UTC(2026, 10, 24, 16, 0, 1))
    await expect(call()).rejects.toBeInstanceOf(WeChatApiError)
    expect(forcedCalls(sb)).toBe(21)
  }, 30_000)
})

describe('quota', () => {
  test('45009 → quota_exhausted and no calls until cleared through the API', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    sb.inject({ path: STABLE, errcode: 45009, times: Infinity })
    await expect(deps.tokens.getToken('default')).rejects.toBeInstanceOf(WeChatApiError)
    expect((await deps.tokens.status('default')).state).toBe('quota_exhausted')
    const calls = sb.calls(STABLE)
    await expect(deps.tokens.getToken('default')).rejects.toBeInstanceOf(QuotaExhaustedError)
    await deps.tokens.tick()
    expect(sb.calls(STABLE)).toBe(calls)
    await deps.tokens.clearQuota('default')
    expect(sb.calls('/cgi-bin/clear_quota/v2')).toBe(1)
    expect((await deps.tokens.status('default')).state).not.toBe('quota_exhausted')
    const t = await deps.tokens.getToken('default')
    expect(t.accessToken).toBe(sb.currentToken(DEMO_ACCOUNT.appId)!)
  })

  test('quota_exhausted lifts by itself at 00:00 Asia/Shanghai', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    sb.inject({ path: STABLE, errcode: 45009, times: 1 })
    await expect(deps.tokens.getToken('default')).rejects.toBeInstanceOf(WeChatApiError)
    clock.set(Date.UTC(2026, 10, 24, 15, 59, 0))
    await expect(deps.tokens.getToken('default')).rejects.toBeInstanceOf(QuotaExhaustedError)
    clock.set(Date.UTC(2026, 10, 24, 16, 0, 0))
    expect((await deps.tokens.getToken('default')).accessToken.length).toBeGreaterThan(20)
  })
})

describe('failures', () => {
  test('stable_token answering -1 three times → the good token is kept and the refresh retried with backoff', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    const good = await deps.tokens.getToken('default')
    clock.set(good.expiresAt - 150_000) // inside the refresh window, past any jitter
    sb.inject({ path: STABLE, errcode: -1, times: 3 })
    const base = sb.calls(STABLE)
    const at: number[] = []
    for (let i = 0; i < 200 && sb.calls(STABLE) - base < 4; i++) {
      const n = sb.calls(STABLE)
      await deps.tokens.tick()
      if (sb.calls(STABLE) > n) at.push(clock.now())
      if (sb.calls(STABLE) - base < 4) expect((await deps.tokens.getToken('default')).accessToken).toBe(good.accessToken)
      clock.advance(250)
    }
    expect(sb.calls(STABLE) - base).toBe(4)
    // backoff doubles: ≥1 s, ≥2 s, ≥4 s between attempts
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(1000)
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(2000)
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(4000)
    const st = await deps.tokens.status('default')
    expect(st.state).toBe('ok')
    expect(st.lastError).toBeUndefined()
    expect((await deps.tokens.getToken('default')).accessToken).not.toBe(good.accessToken)
  })

  test('while refreshes fail, callers keep getting the good token', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    const good = await deps.tokens.getToken('default')
    clock.set(good.expiresAt - 150_000)
    sb.inject({ path: STABLE, errcode: -1, times: Infinity })
    await deps.tokens.tick()
    expect((await deps.tokens.getToken('default')).accessToken).toBe(good.accessToken)
    const st = await deps.tokens.status('default')
    expect(st.state).toBe('failing')
    expect(st.lastError?.errcode).toBe(-1)
  })

  test('a timeout of the WeChat API → WeChatApiError class transient', async () => {
    const { deps, lines } = await setup({ timeoutMs: 200 }); logs.push(lines)
    sb.inject({ path: STABLE, hang: true })
    const e = await deps.tokens.getToken('default').catch((x) => x)
    expect(e).toBeInstanceOf(WeChatApiError)
    expect((e as WeChatApiError).class).toBe('transient')
    expect((e as WeChatApiError).errcode).toBeUndefined()
  })

  test('HTTP 502 → transient; 40164 → permanent with the IP and a whitelist hint; 40125 → check AppSecret', async () => {
    const { deps, lines } = await setup(); logs.push(lines)
    sb.inject({ path: STABLE, httpStatus: 502 })
    const a = await deps.wechat.stableToken({ appId: DEMO_ACCOUNT.appId, secret: DEMO_ACCOUNT.appSecret }).catch((x) => x)
    expect(a).toMatchObject({ class: 'transient', httpStatus: 502 })
    sb.inject({ path: STABLE, errcode: 40164, errmsg: 'invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 1-2-3' })
    const b = await deps.wechat.stableToken({ appId: DEMO_ACCOUNT.appId, secret: DEMO_ACCOUNT.appSecret }).catch((x) => x) as WeChatApiError
    expect(b.class).toBe('permanent')
    expect(b.hint).toContain('203.0.113.7')
    expect(b.hint).toContain('whitelist')
    const c = await deps.wechat.stableToken({ appId: DEMO_ACCOUNT.appId, secret: 'wrong' }).catch((x) => x) as WeChatApiError
    expect(c.errcode).toBe(40125)
    expect(c.hint).toMatch(/AppSecret/i)
  })
})

afterAll(() => {
  // No token, AppSecret or API key in any log line written during all of the above.
  const text = allLogs.join('\n')
  expect(allLogs.length).toBeGreaterThan(10)
  expect(tokensSeen.size).toBeGreaterThan(5)
  for (const t of tokensSeen) expect(text).not.toContain(t)
  expect(text).not.toContain(DEMO_ACCOUNT.appSecret)
  expect(text).not.toContain('token-test-admin-0123456789abc')
  expect(text).not.toMatch(/access_token=(?!\[redacted\])/)
  expect(text).not.toMatch(/"access_?[tT]oken":"(?!\[redacted\])/)
})
