/** @module Tests for the sandbox's /cgi-bin/token, the access_token check, and revokeTokens / expireTokens. */
import { describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT } from '../../src/sandbox'
import { MIN, OTHER_ACCOUNT, S, T0, errmsgLike, get, json, plainToken, probe, setup, stable } from './sandbox-helpers'

describe('cgi-bin/token', () => {
  test('issues a new token on every call; the previous one stays valid 5 more minutes, then answers 40001', async () => {
    const { sb, clock } = await setup()
    const first = await plainToken(sb)
    expect(first.access_token).toMatch(/^[A-Za-z0-9_-]{100,}$/)
    expect(first.expires_in).toBe(7200)
    clock.advance(10 * MIN)
    const second = await plainToken(sb)
    expect(second.access_token).not.toBe(first.access_token)
    expect(second.expires_in).toBe(7200)
    clock.advance(5 * MIN - 1 * S)
    expect(await probe(sb, first.access_token)).toBe(0)
    clock.advance(1 * S)
    expect(await probe(sb, first.access_token)).toBe(40001)
    expect(await probe(sb, second.access_token)).toBe(0)
  })

  test('a third call does not extend the first token: it keeps its original 5-minute cut-off', async () => {
    const { sb, clock } = await setup()
    const first = await plainToken(sb)
    await plainToken(sb)
    clock.advance(4 * MIN)
    const third = await plainToken(sb)
    clock.advance(1 * MIN)
    expect(await probe(sb, first.access_token)).toBe(40001)
    expect(await probe(sb, third.access_token)).toBe(0)
  })

  test('is completely separate from stable tokens, both ways', async () => {
    const { sb, clock } = await setup()
    const s = await stable(sb)
    const p = await plainToken(sb)
    expect(p.access_token).not.toBe(s.access_token)
    await plainToken(sb)
    clock.advance(6 * MIN)
    // Replacing cgi-bin/token tokens does not touch the stable one …
    expect(await probe(sb, s.access_token)).toBe(0)
    expect((await stable(sb)).access_token).toBe(s.access_token)
    // … and forcing a stable refresh does not touch cgi-bin/token ones.
    const q = await plainToken(sb)
    await stable(sb, { force_refresh: true })
    expect(await probe(sb, q.access_token)).toBe(0)
    expect(sb.currentToken(DEMO_ACCOUNT.appId)).not.toBe(s.access_token)
  })

  test('validates like stable_token', async () => {
    const { sb } = await setup()
    const q = (extra: Record<string, string>) =>
      json(get(sb, '/cgi-bin/token', { grant_type: 'client_credential', appid: DEMO_ACCOUNT.appId, secret: DEMO_ACCOUNT.appSecret, ...extra }))
    expect((await q({ grant_type: 'x' })).errcode).toBe(40002)
    const badAppid = await q({ appid: 'wx0000000000000bad' })
    expect(badAppid.errcode).toBe(40013)
    expect(badAppid.errmsg).toMatch(errmsgLike('invalid appid'))
    expect((await q({ secret: 'wrong' })).errcode).toBe(40125)
    expect((await q({ appid: '' })).errcode).toBe(41002)
    expect((await q({ secret: '' })).errcode).toBe(41004)
  })
})

describe('access_token check', () => {
  test('missing → 41001 access_token missing', async () => {
    const { sb } = await setup()
    const body = await json(get(sb, '/cgi-bin/user/info', { openid: 'o_x' }))
    expect(body.errcode).toBe(41001)
    expect(body.errmsg).toMatch(errmsgLike('access_token missing'))
  })

  test('unknown → 40001 with the official text', async () => {
    const { sb } = await setup()
    const body = await json(get(sb, '/cgi-bin/user/info', { access_token: 'not-a-token', openid: 'o_x' }))
    expect(body.errcode).toBe(40001)
    expect(body.errmsg).toMatch(errmsgLike('invalid credential, access_token is invalid or not latest'))
  })

  test('expired by the clock → 42001 access_token expired', async () => {
    const { sb, clock } = await setup()
    const { access_token } = await stable(sb)
    clock.set(T0 + 7200 * S)
    sb.addUser(DEMO_ACCOUNT.appId, 'o_x')
    const body = await json(get(sb, '/cgi-bin/user/info', { access_token, openid: 'o_x' }))
    expect(body.errcode).toBe(42001)
    expect(body.errmsg).toMatch(errmsgLike('access_token expired'))
  })

  test("a token identifies its account: another account's user is unknown to it", async () => {
    const { sb } = await setup()
    sb.addUser(OTHER_ACCOUNT.appId, 'o_other')
    const { access_token } = await stable(sb)
    const body = await json(get(sb, '/cgi-bin/user/info', { access_token, openid: 'o_other' }))
    expect(body.errcode).toBe(40003)
    const own = await stable(sb, {}, OTHER_ACCOUNT)
    expect((await json(get(sb, '/cgi-bin/user/info', { access_token: own.access_token, openid: 'o_other' }))).subscribe).toBe(1)
  })
})

describe('revokeTokens / expireTokens', () => {
  test('revokeTokens(appId): every current token of that account answers 40001; the next stable_token is a new one', async () => {
    const { sb } = await setup()
    const s = await stable(sb)
    const p = await plainToken(sb)
    const other = await stable(sb, {}, OTHER_ACCOUNT)
    sb.revokeTokens(DEMO_ACCOUNT.appId)
    expect(await probe(sb, s.access_token)).toBe(40001)
    expect(await probe(sb, p.access_token)).toBe(40001)
    expect(await probe(sb, other.access_token, OTHER_ACCOUNT)).toBe(0)
    expect(sb.currentToken(DEMO_ACCOUNT.appId)).toBeUndefined()
    const fresh = await stable(sb)
    expect(fresh.access_token).not.toBe(s.access_token)
    expect(fresh.expires_in).toBe(7200)
    expect(await probe(sb, fresh.access_token)).toBe(0)
  })

  test('revokeTokens() without an account revokes every account', async () => {
    const { sb } = await setup()
    const a = await stable(sb)
    const b = await stable(sb, {}, OTHER_ACCOUNT)
    sb.revokeTokens()
    expect(await probe(sb, a.access_token)).toBe(40001)
    expect(await probe(sb, b.access_token, OTHER_ACCOUNT)).toBe(40001)
  })

  test('expireTokens(appId): current tokens answer 42001; tokens issued later are fine', async () => {
    const { sb } = await setup()
    const s = await stable(sb)
    const p = await plainToken(sb)
    const other = await stable(sb, {}, OTHER_ACCOUNT)
    sb.expireTokens(DEMO_ACCOUNT.appId)
    expect(await probe(sb, s.access_token)).toBe(42001)
    expect(await probe(sb, p.access_token)).toBe(42001)
    expect(await probe(sb, other.access_token, OTHER_ACCOUNT)).toBe(0)
    const fresh = await stable(sb)
    expect(fresh.access_token).not.toBe(s.access_token)
    expect(await probe(sb, fresh.access_token)).toBe(0)
  })

  test('an unknown account is a test mistake and throws', async () => {
    const { sb } = await setup()
    expect(() => sb.revokeTokens('wx_nope')).toThrow('unknown account')
    expect(() => sb.currentToken('wx_nope')).toThrow('unknown account')
  })
})
