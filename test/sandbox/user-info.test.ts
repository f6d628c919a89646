/** @module Tests for the sandbox's /cgi-bin/user/info and its user registry. */
import { describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT } from '../../src/sandbox'
import { MIN, OTHER_ACCOUNT, T0, errmsgLike, get, json, setup, stable } from './sandbox-helpers'

const ready = async () => {
  const ctx = await setup()
  const { access_token } = await stable(ctx.sb)
  const info = (openid: string, lang = 'zh_CN') => json(get(ctx.sb, '/cgi-bin/user/info', { access_token, openid, lang }))
  return { ...ctx, info }
}

describe('user/info', () => {
  test('a subscribed user: the current field set, subscribe_time from the clock', async () => {
    const { sb, info } = await ready()
    sb.addUser(DEMO_ACCOUNT.appId, 'o6_bmjrPTlm6_2sgVt7hMZOPfL2M')
    const body = await info('o6_bmjrPTlm6_2sgVt7hMZOPfL2M')
    const { unionid, ...rest } = body
    expect(rest).toEqual({
      subscribe: 1,
      openid: 'o6_bmjrPTlm6_2sgVt7hMZOPfL2M',
      language: 'zh_CN',
      subscribe_time: T0 / 1000,
      remark: '',
      groupid: 0,
      tagid_list: [],
      subscribe_scene: 'ADD_SCENE_QR_CODE',
      qr_scene: 0,
      qr_scene_str: '',
    })
    expect(unionid).toMatch(/^o[A-Za-z0-9_-]{27}$/)
    // The same user always has the same unionid; another user another one.
    expect((await info('o6_bmjrPTlm6_2sgVt7hMZOPfL2M')).unionid).toBe(unionid)
    sb.addUser(DEMO_ACCOUNT.appId, 'o_other')
    expect((await info('o_other')).unionid).not.toBe(unionid)
  })

  test('an unsubscribed user: only subscribe 0 and the openid', async () => {
    const { sb, info } = await ready()
    sb.addUser(DEMO_ACCOUNT.appId, 'o_gone', { subscribed: false })
    expect(await info('o_gone')).toEqual({ subscribe: 0, openid: 'o_gone' })
  })

  test('unknown openid, or none → 40003 invalid openid', async () => {
    const { info } = await ready()
    const body = await info('o_unknown')
    expect(body.errcode).toBe(40003)
    expect(body.errmsg).toMatch(errmsgLike('invalid openid'))
    expect((await info('')).errcode).toBe(40003)
  })

  test('re-subscribing sets a new subscribe_time', async () => {
    const { sb, clock, info } = await ready()
    sb.addUser(DEMO_ACCOUNT.appId, 'o_back')
    clock.advance(5 * MIN)
    sb.setSubscribed(DEMO_ACCOUNT.appId, 'o_back', false)
    expect((await info('o_back')).subscribe).toBe(0)
    clock.advance(5 * MIN)
    sb.setSubscribed(DEMO_ACCOUNT.appId, 'o_back', true)
    const body = await info('o_back')
    expect(body.subscribe).toBe(1)
    expect(body.subscribe_time).toBe((T0 + 10 * MIN) / 1000)
  })

  test('lang en is echoed; an unsupported lang falls back to zh_CN', async () => {
    const { sb, info } = await ready()
    sb.addUser(DEMO_ACCOUNT.appId, 'o_en')
    expect((await info('o_en', 'en')).language).toBe('en')
    expect((await info('o_en', 'fr')).language).toBe('zh_CN')
  })

  test('programmatic mistakes throw: unknown account, unknown user', async () => {
    const { sb } = await ready()
    expect(() => sb.addUser('wx_nope', 'o_1')).toThrow('unknown account wx_nope')
    expect(() => sb.setSubscribed(OTHER_ACCOUNT.appId, 'o_1', false)).toThrow('unknown user o_1')
    expect(() => sb.addTemplate('wx_nope', 'T')).toThrow('unknown account wx_nope')
  })
})
