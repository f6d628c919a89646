/** Token routes on the real server with the sandbox WeChat on loopback. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox()
  s = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url } })
  await s.deps.channels.upsert({ id: 'demo', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
})
afterAll(async () => { await s.stop(); await sb.stop() })

const get = (path: string, key = ADMIN_TOKEN, method = 'GET') => fetch(`${s.url}${path}`, { method, headers: { authorization: `Bearer ${key}` } })

describe('GET /api/channels/:id/access-token (scope token)', () => {
  test('hands out the channel token; concurrent readers cause one WeChat call', async () => {
    const { key } = await s.deps.apiKeys.create('billing-service', ['token'])
    const answers = await Promise.all(Array.from({ length: 50 }, () => get('/api/channels/demo/access-token', key).then((r) => r.json() as Promise<{ accessToken: string; expiresAt: string }>)))
    expect(new Set(answers.map((a) => a.accessToken))).toEqual(new Set([sb.currentToken(DEMO_ACCOUNT.appId)!]))
    expect(Date.parse(answers[0]!.expiresAt)).toBeGreaterThan(Date.now() + 3600_000)
    expect(sb.calls('/cgi-bin/stable_token')).toBe(1)
  })
  test('a read-only key gets 403; an unknown channel 404', async () => {
    const { key } = await s.deps.apiKeys.create('dashboard', ['read'])
    expect((await get('/api/channels/demo/access-token', key)).status).toBe(403)
    expect((await get('/api/channels/nope/access-token')).status).toBe(404)
  })
})

describe('GET /api/channels/:id/token (scope read)', () => {
  test('status without the token', async () => {
    const { key } = await s.deps.apiKeys.create('dashboard2', ['read'])
    const res = await get('/api/channels/demo/token', key)
    expect(res.status).toBe(200)
    const body = await res.json() as Record<string, unknown>
    expect(body).toMatchObject({ channel: 'demo', state: 'ok', refreshesToday: 1, forceRefreshesToday: 0 })
    expect(JSON.stringify(body)).not.toContain(sb.currentToken(DEMO_ACCOUNT.appId)!)
  })
})

describe('quota', () => {
  test('45009 → 503 quota_exhausted and state quota_exhausted; clear-quota (admin) brings it back', async () => {
    await s.deps.channels.upsert({ id: 'q', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'qtoken' })
    sb.inject({ path: '/cgi-bin/stable_token', errcode: 45009, times: 1 })
    const first = await get('/api/channels/q/access-token')
    expect(first.status).toBe(502)
    expect(((await first.json()) as { error: { details: { errcode: number } } }).error.details.errcode).toBe(45009)
    const second = await get('/api/channels/q/access-token')
    expect(second.status).toBe(503)
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('quota_exhausted')
    expect(((await (await get('/api/channels/q/token')).json()) as { state: string }).state).toBe('quota_exhausted')
    const { key } = await s.deps.apiKeys.create('reader', ['read', 'token'])
    expect((await get('/api/channels/q/clear-quota', key, 'POST')).status).toBe(403)
    const cleared = await get('/api/channels/q/clear-quota', ADMIN_TOKEN, 'POST')
    expect(cleared.status).toBe(200)
    expect(((await cleared.json()) as { state: string }).state).toBe('ok')
    expect((await get('/api/channels/q/access-token')).status).toBe(200)
  })
})

describe('OpenAPI', () => {
  test('the token routes are documented with the bearer scheme', async () => {
    const doc = await (await fetch(`${s.url}/docs/json`)).json() as { paths: Record<string, Record<string, { security?: unknown[] }>> }
    for (const [p, m] of [['/api/channels/{id}/token', 'get'], ['/api/channels/{id}/access-token', 'get'], ['/api/channels/{id}/clear-quota', 'post']] as const) {
      expect(doc.paths[p]?.[m]?.security).toEqual([{ bearer: [] }])
    }
  })
})
