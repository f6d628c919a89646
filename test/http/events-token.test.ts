/**
 * token.failing / token.quota_exhausted / token.recovered (SPEC §6) from their real causes: the sandbox WeChat
 * refusing stable_token (40164, 45009) or a template send (45009), then a token obtained again or the quota
 * cleared. One event per change of state; data = the token status of GET /api/channels/:id/token.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { bindingsRepo } from '../../src/store/sqlite/bindings.repo'
import { addEndpoint, removeEndpoints, storedEvents } from '../support/event-rows'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

const APP = DEMO_ACCOUNT.appId
let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox()
  s = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url, WXGATE_SEND_RATE: '200' } })
})
afterAll(async () => { await s.stop(); await sb.stop() })
beforeEach(async () => { await removeEndpoints(s); await addEndpoint(s, { events: ['token.*'] }) })

let n = 0
const channel = async () => {
  const id = `tok${++n}`
  await s.deps.channels.upsert({ id, appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
  return id
}
const call = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${s.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) })
const tokenEvents = async (id: string) => (await storedEvents(s)).filter((e) => e.channelId === id)
const until = async (f: () => boolean | Promise<boolean>, ms = 8000) => {
  const end = Date.now() + ms
  while (!(await f())) {
    if (Date.now() > end) throw new Error('timed out')
    await Bun.sleep(20)
  }
}

describe('token events', () => {
  test('stable_token refused (40164) twice → one token.failing with the error and its hint; a token obtained → token.recovered', async () => {
    const id = await channel()
    sb.inject({ path: '/cgi-bin/stable_token', errcode: 40164, times: 2 })
    expect((await call(`/api/channels/${id}/access-token`)).status).toBe(502)
    expect((await call(`/api/channels/${id}/access-token`)).status).toBe(502)
    expect((await tokenEvents(id)).map((e) => e.type)).toEqual(['token.failing'])
    const failing = (await tokenEvents(id))[0]!.data
    expect(failing).toMatchObject({ channel: id, state: 'failing', lastError: { errcode: 40164 } })
    expect(typeof failing.lastError.hint).toBe('string')
    expect((await call(`/api/channels/${id}/access-token`)).status).toBe(200)
    expect((await tokenEvents(id)).map((e) => e.type)).toEqual(['token.failing', 'token.recovered'])
    const recovered = (await tokenEvents(id))[1]!.data
    const status = (await (await call(`/api/channels/${id}/token`)).json()) as Record<string, unknown>
    expect(recovered).toEqual(status)
    expect(recovered.state).toBe('ok')
    expect(JSON.stringify(recovered)).not.toContain(sb.currentToken(APP)!)
  })

  test('a token fetched with no failure before, and a rejected token replaced, are no change: no event', async () => {
    const id = await channel()
    const first = await (await call(`/api/channels/${id}/access-token`)).json() as { accessToken: string }
    expect((await call(`/api/channels/${id}/access-token/reject`, 'POST', { accessToken: first.accessToken })).status).toBe(200)
    expect((await tokenEvents(id))).toEqual([])
  })

  test('stable_token 45009 → one token.quota_exhausted; clear-quota → token.recovered', async () => {
    const id = await channel()
    sb.inject({ path: '/cgi-bin/stable_token', errcode: 45009 })
    expect((await call(`/api/channels/${id}/access-token`)).status).toBe(502)
    expect((await tokenEvents(id)).map((e) => e.type)).toEqual(['token.quota_exhausted'])
    expect(Object.keys((await tokenEvents(id))[0]!.data.quota)).toEqual(['stable_token'])
    expect((await call(`/api/channels/${id}/clear-quota`, 'POST')).status).toBe(200)
    expect((await tokenEvents(id)).map((e) => e.type)).toEqual(['token.quota_exhausted', 'token.recovered'])
  })

  test('template send 45009 → token.quota_exhausted naming message/template/send', async () => {
    const id = await channel()
    sb.addUser(APP, 'o_tok_user')
    await s.deps.db.tx((orm) => orm.bindings.bind({ id: 'bnd_tok_1', channelId: id, openid: 'o_tok_user', subject: 'tok-user', code: 'test', now: Date.now() }))
    sb.inject({ path: '/cgi-bin/message/template/send', errcode: 45009 })
    const res = await call('/api/send', 'POST', { channel: id, to: 'tok-user', templateId: 'TPL_DEMO_ORDER_PAID', data: { thing1: 'x' } })
    expect(res.status).toBe(202)
    await until(async () => (await tokenEvents(id)).length > 0)
    expect((await tokenEvents(id)).map((e) => e.type)).toEqual(['token.quota_exhausted'])
    expect((await tokenEvents(id))[0]!.data).toMatchObject({ channel: id, state: 'quota_exhausted' })
    expect(Object.keys((await tokenEvents(id))[0]!.data.quota)).toEqual(['message/template/send'])
    await call(`/api/channels/${id}/clear-quota`, 'POST')
  })
})
