/** @module Tests for the sandbox's HTTP control API under /_sandbox/, driven only over HTTP as another process would. */
import { describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT } from '../../src/sandbox'
import { OTHER_ACCOUNT, T0, get, json, post, probe, setup, stable } from './sandbox-helpers'

const STABLE = '/cgi-bin/stable_token'

describe('control API', () => {
  test('GET /_sandbox/ lists the endpoints', async () => {
    const { sb } = await setup()
    const body = await json(fetch(`${sb.url}/_sandbox/`))
    expect(body.endpoints).toContain('POST /_sandbox/reset')
    expect(body.endpoints).toHaveLength(20)
  })

  test('inject with times "Infinity", then reset', async () => {
    const { sb } = await setup()
    const res = await post(sb, '/_sandbox/inject', { path: STABLE, errcode: 45009, times: 'Infinity' })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
    for (let i = 0; i < 3; i++) expect((await stable(sb)).errcode).toBe(45009)
    expect(await json(post(sb, '/_sandbox/reset', {}))).toEqual({ ok: true })
    expect((await stable(sb)).expires_in).toBe(7200)
  })

  test('inject httpStatus and times over HTTP', async () => {
    const { sb } = await setup()
    await post(sb, '/_sandbox/inject', { path: STABLE, httpStatus: 502, times: 2 })
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      const r = await post(sb, STABLE, { grant_type: 'client_credential', appid: DEMO_ACCOUNT.appId, secret: DEMO_ACCOUNT.appSecret })
      statuses.push(r.status)
      await r.text()
    }
    expect(statuses).toEqual([502, 502, 200])
  })

  test('latency', async () => {
    const { sb } = await setup()
    expect(await json(post(sb, '/_sandbox/latency', { ms: 150 }))).toEqual({ ok: true })
    const t = performance.now()
    await stable(sb)
    expect(performance.now() - t).toBeGreaterThanOrEqual(140)
  })

  test('users, subscribed, templates, then a send and GET delivered', async () => {
    const { sb } = await setup()
    expect(await json(post(sb, '/_sandbox/users', { openid: 'o_curl' }))).toEqual({ ok: true })
    expect(await json(post(sb, '/_sandbox/templates', { appId: DEMO_ACCOUNT.appId, templateId: 'TPL_CURL' }))).toEqual({ ok: true })
    await post(sb, '/_sandbox/users', { appId: OTHER_ACCOUNT.appId, openid: 'o_other', subscribed: false })
    const { access_token } = await stable(sb)
    const sent = await json(post(sb, '/cgi-bin/message/template/send', { touser: 'o_curl', template_id: 'TPL_CURL', data: { a: { value: 'v' } } }, { access_token }))
    expect(sent.errcode).toBe(0)
    const delivered = await json(get(sb, '/_sandbox/delivered', { appId: DEMO_ACCOUNT.appId }))
    expect(delivered.delivered).toHaveLength(1)
    expect(delivered.delivered[0]).toMatchObject({ appId: DEMO_ACCOUNT.appId, touser: 'o_curl', template_id: 'TPL_CURL', data: { a: { value: 'v' } }, at: T0 })
    expect(delivered.delivered[0].msgid).toMatch(/^\d{19}$/)
    expect((await json(get(sb, '/_sandbox/delivered', { appId: OTHER_ACCOUNT.appId }))).delivered).toEqual([])

    await post(sb, '/_sandbox/subscribed', { openid: 'o_curl', subscribed: false })
    const refused = await json(post(sb, '/cgi-bin/message/template/send', { touser: 'o_curl', template_id: 'TPL_CURL' }, { access_token }))
    expect(refused.errcode).toBe(43004)
  })

  test('revoke and expire', async () => {
    const { sb } = await setup()
    const a = await stable(sb)
    expect(await json(post(sb, '/_sandbox/revoke', { appId: DEMO_ACCOUNT.appId }))).toEqual({ ok: true })
    expect(await probe(sb, a.access_token)).toBe(40001)
    const b = await stable(sb)
    expect(await json(post(sb, '/_sandbox/expire', {}))).toEqual({ ok: true })
    expect(await probe(sb, b.access_token)).toBe(42001)
  })

  test('GET received, filtered by path; control calls are not recorded', async () => {
    const { sb } = await setup()
    await stable(sb)
    await get(sb, '/cgi-bin/user/info', { access_token: 'x' }).then((r) => r.text())
    const all = await json(get(sb, '/_sandbox/received'))
    expect(all.calls.map((c: { path: string }) => c.path)).toEqual([STABLE, '/cgi-bin/user/info'])
    const only = await json(get(sb, '/_sandbox/received', { path: STABLE }))
    expect(only.calls).toEqual([{ method: 'POST', path: STABLE, query: {}, body: { grant_type: 'client_credential', appid: DEMO_ACCOUNT.appId, secret: DEMO_ACCOUNT.appSecret }, at: T0 }])
    expect(sb.received().some((c) => c.path.startsWith('/_sandbox'))).toBe(false)
  })

  test('GET token and qrcode', async () => {
    const { sb } = await setup()
    const none = await json(get(sb, '/_sandbox/token'))
    expect(none).toEqual({ appId: DEMO_ACCOUNT.appId, access_token: null, forceRefreshesToday: 0 })
    const { access_token } = await stable(sb, { force_refresh: true })
    expect(await json(get(sb, '/_sandbox/token'))).toEqual({ appId: DEMO_ACCOUNT.appId, access_token, forceRefreshesToday: 1 })
    const qr = await json(post(sb, '/cgi-bin/qrcode/create', { action_name: 'QR_LIMIT_STR_SCENE', action_info: { scene: { scene_str: 'shop-1' } } }, { access_token }))
    expect(await json(get(sb, '/_sandbox/qrcode', { ticket: qr.ticket }))).toEqual({ appId: DEMO_ACCOUNT.appId, scene: 'shop-1' })
    const unknown = await get(sb, '/_sandbox/qrcode', { ticket: 'nope' })
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toEqual({ error: 'unknown ticket' })
  })

  test('mistakes answer 400/404 with a plain message', async () => {
    const { sb } = await setup()
    const notJson = await post(sb, '/_sandbox/inject', 'path=/x')
    expect(notJson.status).toBe(400)
    expect(await notJson.json()).toEqual({ error: 'body is not JSON' })
    const noEffect = await post(sb, '/_sandbox/inject', { path: STABLE })
    expect(noEffect.status).toBe(400)
    expect(((await noEffect.json()) as { error: string }).error).toContain('needs errcode, httpStatus, delayMs or hang')
    const badTimes = await post(sb, '/_sandbox/inject', { path: STABLE, errcode: 1, times: 'forever' })
    expect(badTimes.status).toBe(400)
    expect(((await badTimes.json()) as { error: string }).error).toStartWith('times:')
    const unknownAccount = await post(sb, '/_sandbox/users', { appId: 'wx_nope', openid: 'o' })
    expect(unknownAccount.status).toBe(400)
    expect(await unknownAccount.json()).toEqual({ error: 'sandbox: unknown account wx_nope' })
    const missing = await post(sb, '/_sandbox/templates', {})
    expect(missing.status).toBe(400)
    const noRoute = await get(sb, '/_sandbox/inject')
    expect(noRoute.status).toBe(404)
    expect(await noRoute.json()).toEqual({ error: 'no control endpoint GET /_sandbox/inject' })
    // None of this reached the fake WeChat API.
    expect(sb.received()).toEqual([])
    expect((await stable(sb)).expires_in).toBe(7200)
  })
})
