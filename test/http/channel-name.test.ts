/**
 * The account a colleague is about to follow (issue 11, item 10): a channel's display name, set through
 * the API or the environment, listed by GET /api/channels and shown on the bind page; and the bind-code
 * lifetime when a request gives none (WXGATE_BIND_TTL, default 30 minutes). The real server, the sandbox
 * WeChat on loopback, an injected clock.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { fixedClock } from '../../src/lib/clock'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

const clock = fixedClock(Date.now())
let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox()
  s = await startTestServer({ clock, env: { WXGATE_WECHAT_API: sb.url } })
})
afterAll(async () => { await s.stop(); await sb.stop() })

const api = (path: string, body?: unknown, srv = s) =>
  fetch(`${srv.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
const demo = { id: 'demo', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' }
type View = { id: string; name: string | null }
const listed = async (id: string, srv = s) => ((await (await api('/api/channels', undefined, srv)).json()) as { items: View[] }).items.find((c) => c.id === id)

describe('a channel\'s display name', () => {
  test('POST /api/channels accepts name; GET lists it, null when unset; an update without it keeps it; null clears it', async () => {
    expect(await listed('default')).toMatchObject({ id: 'default', name: null })
    const a = await api('/api/channels', { ...demo, name: '某某科技服务号' })
    expect(a.status).toBe(201)
    expect(await a.json()).toMatchObject({ id: 'demo', name: '某某科技服务号' })
    expect(await listed('demo')).toMatchObject({ name: '某某科技服务号' })
    expect((await api('/api/channels', demo)).status).toBe(200)
    expect(await listed('demo')).toMatchObject({ name: '某某科技服务号' })
    expect((await api('/api/channels', { ...demo, name: null })).status).toBe(200)
    expect(await listed('demo')).toMatchObject({ name: null })
    const bad = await api('/api/channels', { ...demo, name: 'x'.repeat(65) })
    expect(bad.status).toBe(422)
    expect(JSON.stringify(await bad.json())).toContain('name')
    expect((await api('/api/channels', { ...demo, name: '某某科技服务号' })).status).toBe(200)
  })

  test('the bind page names the account to follow, HTML-escaped', async () => {
    expect((await api('/api/channels', { ...demo, name: '某某<科技>服务号' })).status).toBe(200)
    const c = await (await api('/api/bindcode', { subject: 'u-name', channel: 'demo' })).json() as { bindUrl: string }
    const html = await (await fetch(c.bindUrl)).text()
    expect(html).toContain('关注「某某&lt;科技&gt;服务号」并完成绑定')
    expect(html).not.toContain('<科技>')
    expect((await api('/api/channels', { ...demo, name: null })).status).toBe(200)
    const plain = await (await api('/api/bindcode', { subject: 'u-noname', channel: 'demo' })).json() as { bindUrl: string }
    expect(await (await fetch(plain.bindUrl)).text()).not.toContain('id="account"')
  })

  test('WXGATE_CHANNEL_NAME names the environment\'s channel at start', async () => {
    const e = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url, WXGATE_CHANNEL: 'envch', WXGATE_APPID: DEMO_ACCOUNT.appId, WXGATE_APPSECRET: DEMO_ACCOUNT.appSecret, WXGATE_TOKEN: 'envtoken', WXGATE_CHANNEL_NAME: '环境里的服务号' } })
    try {
      expect(await listed('envch', e)).toMatchObject({ name: '环境里的服务号' })
    } finally {
      await e.stop()
    }
  })
})

describe('the default bind-code lifetime', () => {
  test('a code without ttlSeconds expires 1800 s after creation', async () => {
    expect((await api('/api/channels', demo)).status).toBe(200)
    const c = await (await api('/api/bindcode', { subject: 'u-ttl', channel: 'demo' })).json() as { expiresAt: string }
    expect(Date.parse(c.expiresAt)).toBe(clock.now() + 1800_000)
    expect(sb.received('/cgi-bin/qrcode/create').at(-1)!.body).toMatchObject({ expire_seconds: 1800 })
  })

  test('WXGATE_BIND_TTL sets it; ttlSeconds still wins', async () => {
    const t = await startTestServer({ clock, env: { WXGATE_WECHAT_API: sb.url, WXGATE_BIND_TTL: '120' } })
    try {
      expect((await api('/api/channels', demo, t)).status).toBe(201)
      const a = await (await api('/api/bindcode', { subject: 'u-env', channel: 'demo' }, t)).json() as { expiresAt: string }
      expect(Date.parse(a.expiresAt)).toBe(clock.now() + 120_000)
      const b = await (await api('/api/bindcode', { subject: 'u-env', channel: 'demo', ttlSeconds: 900 }, t)).json() as { expiresAt: string }
      expect(Date.parse(b.expiresAt)).toBe(clock.now() + 900_000)
    } finally {
      await t.stop()
    }
  })

  test('the OpenAPI description of ttlSeconds says the default', async () => {
    const doc = await (await fetch(`${s.url}/docs/json`)).text()
    expect(doc).toContain('default 1800, or the WXGATE_BIND_TTL setting')
  })
})
