/** Token routes on the real server with the sandbox WeChat on loopback. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'
import { testSql } from '../support/sql'

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

const STABLE = '/cgi-bin/stable_token'
const forced = () => sb.received(STABLE).filter((c) => (c.body as { force_refresh?: boolean }).force_refresh === true).length
const reject = (channel: string, accessToken: string, key = ADMIN_TOKEN) => fetch(`${s.url}/api/channels/${channel}/access-token/reject`, {
  method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ accessToken }),
})

describe('POST /api/channels/:id/access-token/reject (scope token)', () => {
  test('50 concurrent rejects of the current token: one normal stable_token call and at most one forced, all get the same new token', async () => {
    await s.deps.channels.upsert({ id: 'rj', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'rjtoken' })
    const { key } = await s.deps.apiKeys.create('sibling', ['token'])
    const old = ((await (await get('/api/channels/rj/access-token', key)).json()) as { accessToken: string }).accessToken
    const calls0 = sb.calls(STABLE)
    const forced0 = forced()
    // WeChat refused it for the sibling, but stable_token (normal mode) still returns it: the forced path.
    const answers = await Promise.all(Array.from({ length: 50 }, () => reject('rj', old, key)))
    expect(answers.map((r) => r.status)).toEqual(Array.from({ length: 50 }, () => 200))
    const bodies = await Promise.all(answers.map((r) => r.json() as Promise<{ accessToken: string; expiresAt: string }>))
    const fresh = bodies[0]!.accessToken
    expect(new Set(bodies.map((b) => b.accessToken))).toEqual(new Set([fresh]))
    expect(fresh).not.toBe(old)
    expect(fresh).toBe(sb.currentToken(DEMO_ACCOUNT.appId)!)
    expect(Date.parse(bodies[0]!.expiresAt)).toBeGreaterThan(Date.now() + 3600_000)
    expect(sb.calls(STABLE) - calls0 - (forced() - forced0)).toBe(1)
    expect(forced() - forced0).toBe(1)

    // A late reject of the old token: the current one at once, no WeChat call.
    const calls1 = sb.calls(STABLE)
    const late = await reject('rj', old, key)
    expect(late.status).toBe(200)
    expect(((await late.json()) as { accessToken: string }).accessToken).toBe(fresh)
    expect(sb.calls(STABLE)).toBe(calls1)
  })

  test('a token WeChat replaced already (revoked): 50 rejects → one normal call, no force', async () => {
    await s.deps.channels.upsert({ id: 'rj2', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'rjtoken2' })
    const old = ((await (await get('/api/channels/rj2/access-token')).json()) as { accessToken: string }).accessToken
    sb.revokeTokens(DEMO_ACCOUNT.appId)
    const calls0 = sb.calls(STABLE)
    const forced0 = forced()
    const bodies = await Promise.all(Array.from({ length: 50 }, () => reject('rj2', old).then((r) => r.json() as Promise<{ accessToken: string }>)))
    expect(new Set(bodies.map((b) => b.accessToken)).size).toBe(1)
    expect(bodies[0]!.accessToken).not.toBe(old)
    expect(sb.calls(STABLE) - calls0).toBe(1)
    expect(forced() - forced0).toBe(0)
  })

  test('scope token: a read key gets 403, no key 401; an unknown channel 404; a body without accessToken 422', async () => {
    const { key } = await s.deps.apiKeys.create('dash-rj', ['read'])
    expect((await reject('demo', 'x', key)).status).toBe(403)
    expect((await fetch(`${s.url}/api/channels/demo/access-token/reject`, { method: 'POST', body: '{"accessToken":"x"}' })).status).toBe(401)
    expect((await reject('nope', 'x')).status).toBe(404)
    const bad = await fetch(`${s.url}/api/channels/demo/access-token/reject`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: '{}' })
    expect(bad.status).toBe(422)
  })
})

describe('a token handed out has at least 60 s left', () => {
  test('a stored token with 30 s left is refreshed before it is handed out', async () => {
    await s.deps.channels.upsert({ id: 'short', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'shorttoken' })
    expect((await get('/api/channels/short/access-token')).status).toBe(200)
    await testSql(s.deps.db).run("UPDATE channel_tokens SET expires_at = ? WHERE channel_id = 'short'", Date.now() + 30_000)
    const calls0 = sb.calls(STABLE)
    const res = await get('/api/channels/short/access-token')
    expect(res.status).toBe(200)
    const body = (await res.json()) as { accessToken: string; expiresAt: string }
    expect(sb.calls(STABLE)).toBe(calls0 + 1)
    expect(Date.parse(body.expiresAt)).toBeGreaterThanOrEqual(Date.now() + 60_000)
  })
})

describe('OpenAPI', () => {
  test('the token routes are documented with the bearer scheme', async () => {
    const doc = await (await fetch(`${s.url}/docs/json`)).json() as { paths: Record<string, Record<string, { security?: unknown[]; summary?: string; requestBody?: unknown; responses?: Record<string, unknown> }>> }
    for (const [p, m] of [['/api/channels/{id}/token', 'get'], ['/api/channels/{id}/access-token', 'get'], ['/api/channels/{id}/access-token/reject', 'post'], ['/api/channels/{id}/clear-quota', 'post']] as const) {
      expect(doc.paths[p]?.[m]?.security).toEqual([{ bearer: [] }])
    }
    const rj = doc.paths['/api/channels/{id}/access-token/reject']!.post!
    expect(typeof rj.summary).toBe('string')
    expect(JSON.stringify(rj.requestBody)).toContain('accessToken')
    for (const status of ['200', '401', '403']) expect(rj.responses?.[status]).toBeDefined()
  })
})
