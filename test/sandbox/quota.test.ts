/** @module Tests for the sandbox's clear_quota and clear_quota/v2: account check, 10 per Shanghai month, 45009 injections. */
import { describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT } from '../../src/sandbox'
import { OTHER_ACCOUNT, errmsgLike, json, post, setup, stable } from './sandbox-helpers'

const clearQuota = async (sb: Awaited<ReturnType<typeof setup>>['sb'], token: string, appid: string) =>
  post(sb, '/cgi-bin/clear_quota', { appid }, { access_token: token })

describe('clear_quota', () => {
  test('answers exactly {"errcode":0,"errmsg":"ok"}', async () => {
    const { sb } = await setup()
    const { access_token } = await stable(sb)
    const res = await clearQuota(sb, access_token, DEMO_ACCOUNT.appId)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(await res.text()).toBe('{"errcode":0,"errmsg":"ok"}')
  })

  test("an appid other than the token's account → 40013", async () => {
    const { sb } = await setup()
    const { access_token } = await stable(sb)
    const body = await json(clearQuota(sb, access_token, OTHER_ACCOUNT.appId))
    expect(body.errcode).toBe(40013)
    expect(body.errmsg).toMatch(errmsgLike('invalid appid'))
  })

  test('needs a token (41001) and a JSON body (47001)', async () => {
    const { sb } = await setup()
    expect((await json(post(sb, '/cgi-bin/clear_quota', { appid: DEMO_ACCOUNT.appId }))).errcode).toBe(41001)
    const { access_token } = await stable(sb)
    expect((await json(post(sb, '/cgi-bin/clear_quota', 'appid=x', { access_token }))).errcode).toBe(47001)
    expect((await json(post(sb, '/cgi-bin/clear_quota', {}, { access_token }))).errcode).toBe(41002)
  })

  test('10 per calendar month (Asia/Shanghai), then 48006; the next month starts again', async () => {
    // 2025-03-31 23:00 in Shanghai; April starts there at 2025-03-31T16:00Z.
    const { sb, clock } = await setup({ start: Date.UTC(2025, 2, 31, 15, 0, 0) })
    const { access_token } = await stable(sb)
    for (let i = 0; i < 10; i++) expect((await json(clearQuota(sb, access_token, DEMO_ACCOUNT.appId))).errcode).toBe(0)
    const refused = await json(clearQuota(sb, access_token, DEMO_ACCOUNT.appId))
    expect(refused.errcode).toBe(48006)
    expect(refused.errmsg).toMatch(errmsgLike('forbid to clear quota because of reaching the limit'))
    // Per account: the other one still has its 10.
    const other = await stable(sb, {}, OTHER_ACCOUNT)
    expect((await json(clearQuota(sb, other.access_token, OTHER_ACCOUNT.appId))).errcode).toBe(0)
    clock.set(Date.UTC(2025, 2, 31, 15, 59, 59))
    expect((await json(clearQuota(sb, access_token, DEMO_ACCOUNT.appId))).errcode).toBe(48006)
    clock.set(Date.UTC(2025, 2, 31, 16, 0, 0))
    expect((await json(clearQuota(sb, access_token, DEMO_ACCOUNT.appId))).errcode).toBe(0)
  })

  test('clears a persistent (times: Infinity) 45009 injection, but not a counted one', async () => {
    const { sb } = await setup()
    sb.addUser(DEMO_ACCOUNT.appId, 'o_1')
    const { access_token } = await stable(sb)
    const send = async () =>
      json(post(sb, '/cgi-bin/message/template/send', { touser: 'o_1', template_id: 'TPL_DEMO_ORDER_PAID', data: {} }, { access_token }))
    sb.inject({ path: '/cgi-bin/message/template/send', errcode: 45009, times: Infinity })
    sb.inject({ path: '/cgi-bin/user/info', errcode: 45009, times: 2 })
    for (let i = 0; i < 3; i++) {
      const body = await send()
      expect(body.errcode).toBe(45009)
      expect(body.errmsg).toMatch(errmsgLike('reach max api daily quota limit'))
    }
    expect((await json(clearQuota(sb, access_token, DEMO_ACCOUNT.appId))).errcode).toBe(0)
    const ok = await send()
    expect(ok.errcode).toBe(0)
    expect(sb.delivered()).toHaveLength(1)
    const info = await json(fetch(`${sb.url}/cgi-bin/user/info?access_token=${access_token}&openid=o_1`))
    expect(info.errcode).toBe(45009)
  })
})

describe('clear_quota/v2', () => {
  test('works with appid + appsecret and no token, and shares the monthly count', async () => {
    const { sb } = await setup()
    const res = await post(sb, '/cgi-bin/clear_quota/v2', { appid: DEMO_ACCOUNT.appId, appsecret: DEMO_ACCOUNT.appSecret })
    expect(await res.text()).toBe('{"errcode":0,"errmsg":"ok"}')
    const { access_token } = await stable(sb)
    for (let i = 0; i < 9; i++) expect((await json(clearQuota(sb, access_token, DEMO_ACCOUNT.appId))).errcode).toBe(0)
    const refused = await json(post(sb, '/cgi-bin/clear_quota/v2', { appid: DEMO_ACCOUNT.appId, appsecret: DEMO_ACCOUNT.appSecret }))
    expect(refused.errcode).toBe(48006)
  })

  test('checks the credentials', async () => {
    const { sb } = await setup()
    const v2 = (body: unknown) => json(post(sb, '/cgi-bin/clear_quota/v2', body))
    const wrong = await v2({ appid: DEMO_ACCOUNT.appId, appsecret: 'wrong' })
    expect(wrong.errcode).toBe(40125)
    expect(wrong.errmsg).toMatch(errmsgLike('invalid appsecret'))
    expect((await v2({ appid: DEMO_ACCOUNT.appId })).errcode).toBe(41004)
    expect((await v2({ appsecret: 'x' })).errcode).toBe(41002)
    expect((await v2({ appid: 'wx_unknown', appsecret: 'x' })).errcode).toBe(40013)
    expect((await v2('not json')).errcode).toBe(47001)
  })
})
