/** @module Tests for the sandbox's /cgi-bin/stable_token: reuse, the 5-minute hand-over, forced refresh limits, errors. */
import { describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT } from '../../src/sandbox'
import { OTHER_ACCOUNT, S, T0, errmsgLike, json, post, probe, setup, stable } from './sandbox-helpers'

const TOKEN_RE = /^[A-Za-z0-9_-]{100,}$/

describe('stable_token normal mode', () => {
  test('answers a long token with expires_in 7200, JSON utf-8, and no errcode field', async () => {
    const { sb } = await setup()
    const res = await post(sb, '/cgi-bin/stable_token', { grant_type: 'client_credential', appid: DEMO_ACCOUNT.appId, secret: DEMO_ACCOUNT.appSecret })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const body = (await res.json()) as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in'])
    expect(body.access_token).toMatch(TOKEN_RE)
    expect(body.expires_in).toBe(7200)
    expect(sb.currentToken(DEMO_ACCOUNT.appId)).toBe(body.access_token as string)
  })

  test('returns the same token while more than 300 s remain, with its remaining seconds', async () => {
    const { sb, clock } = await setup()
    const first = await stable(sb)
    clock.advance(1000 * S)
    const second = await stable(sb)
    expect(second.access_token).toBe(first.access_token)
    expect(second.expires_in).toBe(6200)
    clock.set(T0 + (7200 - 301) * S)
    const third = await stable(sb)
    expect(third.access_token).toBe(first.access_token)
    expect(third.expires_in).toBe(301)
  })

  test('in the last 300 s a new token is issued and the old one stays valid until its own expiry', async () => {
    const { sb, clock } = await setup()
    const old = await stable(sb)
    clock.set(T0 + (7200 - 300) * S)
    const fresh = await stable(sb)
    expect(fresh.access_token).not.toBe(old.access_token)
    expect(fresh.access_token).toMatch(TOKEN_RE)
    expect(fresh.expires_in).toBe(7200)
    expect(sb.currentToken(DEMO_ACCOUNT.appId)).toBe(fresh.access_token)
    // A further normal call keeps the new one.
    clock.advance(10 * S)
    expect((await stable(sb)).access_token).toBe(fresh.access_token)
    expect(await probe(sb, old.access_token)).toBe(0)
    expect(await probe(sb, fresh.access_token)).toBe(0)
    clock.set(T0 + 7199 * S)
    expect(await probe(sb, old.access_token)).toBe(0)
    clock.set(T0 + 7200 * S)
    expect(await probe(sb, old.access_token)).toBe(42001)
    expect(await probe(sb, fresh.access_token)).toBe(0)
  })

  test('after the token has expired a normal call issues a new one', async () => {
    const { sb, clock } = await setup()
    const old = await stable(sb)
    clock.set(T0 + 8000 * S)
    const fresh = await stable(sb)
    expect(fresh.access_token).not.toBe(old.access_token)
    expect(fresh.expires_in).toBe(7200)
  })

  test('tokenTtlSeconds sets the lifetime', async () => {
    const { sb } = await setup({ tokenTtlSeconds: 1000 })
    expect((await stable(sb)).expires_in).toBe(1000)
  })
})

describe('stable_token force_refresh', () => {
  test('issues a new token and invalidates the previous one at once', async () => {
    const { sb, clock } = await setup()
    const old = await stable(sb)
    clock.advance(5 * S)
    const fresh = await stable(sb, { force_refresh: true })
    expect(fresh.access_token).not.toBe(old.access_token)
    expect(fresh.expires_in).toBe(7200)
    expect(await probe(sb, old.access_token)).toBe(40001)
    expect(await probe(sb, fresh.access_token)).toBe(0)
    expect(sb.currentToken(DEMO_ACCOUNT.appId)).toBe(fresh.access_token)
    expect(sb.forceRefreshesToday(DEMO_ACCOUNT.appId)).toBe(1)
  })

  test('a second force within 30 s returns the current token unchanged and does not count', async () => {
    const { sb, clock } = await setup()
    const a = await stable(sb, { force_refresh: true })
    clock.advance(29 * S)
    const b = await stable(sb, { force_refresh: true })
    expect(b.access_token).toBe(a.access_token)
    expect(b.expires_in).toBe(7200 - 29)
    expect(sb.forceRefreshesToday(DEMO_ACCOUNT.appId)).toBe(1)
    expect(await probe(sb, a.access_token)).toBe(0)
    clock.advance(1 * S)
    const c = await stable(sb, { force_refresh: true })
    expect(c.access_token).not.toBe(a.access_token)
    expect(sb.forceRefreshesToday(DEMO_ACCOUNT.appId)).toBe(2)
    expect(await probe(sb, a.access_token)).toBe(40001)
  })

  test('the 21st forced refresh of a Shanghai day answers 45009; the count resets at 00:00 Asia/Shanghai, not UTC', async () => {
    // 07:30 Asia/Shanghai = 23:30 UTC of the day before, so a UTC midnight passes during the test.
    const start = Date.UTC(2025, 2, 9, 23, 30, 0)
    const { sb, clock } = await setup({ start })
    const tokens = new Set<string>()
    for (let i = 0; i < 20; i++) {
      const r = await stable(sb, { force_refresh: true })
      expect(r.access_token).toMatch(TOKEN_RE)
      tokens.add(r.access_token)
      clock.advance(31 * S)
    }
    expect(tokens.size).toBe(20)
    expect(sb.forceRefreshesToday(DEMO_ACCOUNT.appId)).toBe(20)
    const refused = await stable(sb, { force_refresh: true })
    expect(refused.errcode).toBe(45009)
    expect(refused.errmsg).toMatch(errmsgLike('reach max api daily quota limit'))
    expect(refused.access_token).toBeUndefined()
    // Normal calls still work and hand out the last forced token.
    const current = sb.currentToken(DEMO_ACCOUNT.appId)
    expect((await stable(sb)).access_token).toBe(current as string)

    clock.set(Date.UTC(2025, 2, 10, 0, 10, 0)) // past UTC midnight, 08:10 in Shanghai: same Shanghai day
    expect((await stable(sb, { force_refresh: true })).errcode).toBe(45009)
    clock.set(Date.UTC(2025, 2, 10, 15, 59, 59)) // 23:59:59 Shanghai
    expect((await stable(sb, { force_refresh: true })).errcode).toBe(45009)
    clock.set(Date.UTC(2025, 2, 10, 16, 0, 0)) // 00:00:00 Shanghai, next day
    expect(sb.forceRefreshesToday(DEMO_ACCOUNT.appId)).toBe(0)
    const next = await stable(sb, { force_refresh: true })
    expect(next.access_token).toMatch(TOKEN_RE)
    expect(tokens.has(next.access_token)).toBe(false)
    expect(sb.forceRefreshesToday(DEMO_ACCOUNT.appId)).toBe(1)
  })

  test('limits are per account', async () => {
    const { sb } = await setup()
    const a = await stable(sb, { force_refresh: true })
    const b = await stable(sb, { force_refresh: true }, OTHER_ACCOUNT)
    expect(b.access_token).toMatch(TOKEN_RE)
    expect(sb.forceRefreshesToday(OTHER_ACCOUNT.appId)).toBe(1)
    expect(await probe(sb, a.access_token)).toBe(0)
  })
})

describe('stable_token validation', () => {
  const cases: [string, Record<string, unknown>, number, string][] = [
    ['wrong grant_type', { grant_type: 'password' }, 40002, 'invalid grant_type'],
    ['missing grant_type', { grant_type: undefined }, 40002, 'invalid grant_type'],
    ['unknown appid', { appid: 'wx0000000000000bad' }, 40013, 'invalid appid'],
    ['wrong secret', { secret: 'nope' }, 40125, 'invalid appsecret'],
    ['missing appid', { appid: undefined }, 41002, 'appid missing'],
    ['missing secret', { secret: undefined }, 41004, 'appsecret missing'],
    ['force_refresh not a boolean', { force_refresh: 'yes' }, 47001, 'data format error'],
  ]
  for (const [name, extra, errcode, text] of cases) {
    test(`${name} → ${errcode}`, async () => {
      const { sb } = await setup()
      const body = await stable(sb, extra)
      expect(body.errcode).toBe(errcode)
      expect(body.errmsg).toMatch(errmsgLike(text))
      expect(sb.currentToken(DEMO_ACCOUNT.appId)).toBeUndefined()
    })
  }

  test('a form-encoded body is not accepted (POST JSON only) → 47001', async () => {
    const { sb } = await setup()
    const res = await fetch(`${sb.url}/cgi-bin/stable_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credential&appid=${DEMO_ACCOUNT.appId}&secret=${DEMO_ACCOUNT.appSecret}`,
    })
    expect(((await res.json()) as { errcode: number }).errcode).toBe(47001)
  })

  test('GET → 43002 require POST method', async () => {
    const { sb } = await setup()
    const body = await json(fetch(`${sb.url}/cgi-bin/stable_token?grant_type=client_credential&appid=${DEMO_ACCOUNT.appId}&secret=${DEMO_ACCOUNT.appSecret}`))
    expect(body.errcode).toBe(43002)
    expect(body.errmsg).toMatch(errmsgLike('require POST method'))
  })

  test('the rid differs between errors, like real request ids', async () => {
    const { sb } = await setup()
    const a = await stable(sb, { secret: 'x' })
    const b = await stable(sb, { secret: 'x' })
    expect(a.errmsg).not.toBe(b.errmsg)
  })
})

test('a constant injected random still yields distinct tokens', async () => {
  const { sb } = await setup({ random: () => 0.5 })
  const a = await stable(sb, { force_refresh: true })
  const b = await stable(sb, { force_refresh: true }, OTHER_ACCOUNT)
  expect(a.access_token).toMatch(TOKEN_RE)
  expect(a.access_token).not.toBe(b.access_token)
})
