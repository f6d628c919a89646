/** /api: bearer guard and scopes, the error shape, channels, OpenAPI, health — on the real server. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApp } from '../../src/app'
import { ADMIN_TOKEN, PLAIN, SAFE, startTestServer, type TestServer } from '../support/server'
import { testSql } from '../support/sql'

let s: TestServer
beforeAll(async () => { s = await startTestServer() })
afterAll(() => s.stop())

const api = (path: string, init: RequestInit & { key?: string } = {}) =>
  fetch(`${s.url}${path}`, { ...init, headers: { 'content-type': 'application/json', ...(init.key ? { authorization: `Bearer ${init.key}` } : {}), ...(init.headers ?? {}) } })

const expectError = async (res: Response, status: number, code: string) => {
  expect(res.status).toBe(status)
  const body = await res.json() as { error: { code: string; message: string } }
  expect(body.error.code).toBe(code)
  expect(typeof body.error.message).toBe('string')
  expect(body.error.message.length).toBeGreaterThan(0)
  return body
}

describe('health', () => {
  test('/healthz and /readyz answer 200', async () => {
    expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({ status: 'ok' })
    const r = await fetch(`${s.url}/readyz`)
    expect(r.status).toBe(200)
  })

  test('the native /healthz and /readyz (server.ts) answer as the app documents them (health.routes.ts)', async () => {
    const app = createApp(s.deps)
    for (const path of ['/healthz', '/readyz']) {
      const native = await fetch(`${s.url}${path}`)
      const documented = await app.handle(new Request(`http://local${path}`))
      expect({ path, status: native.status, type: native.headers.get('content-type'), body: await native.text() })
        .toEqual({ path, status: documented.status, type: documented.headers.get('content-type'), body: await documented.text() })
    }
  })

  test('requests that arrive while the app is first built all wait for it and are answered', async () => {
    const fresh = await startTestServer()
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${fresh.url}${i % 2 ? '/api/channels' : '/docs/json'}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })))
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200))
    } finally {
      await fresh.stop()
    }
  })
})

// Every route, called for real with every scope: auth.test.ts. These are the guard's own cases on one route.
describe('bearer guard', () => {
  test('no key → 401 in the documented shape', async () => {
    await expectError(await api('/api/channels'), 401, 'unauthorized')
  })
  test('a wrong key → 401', async () => {
    await expectError(await api('/api/channels', { key: 'wxg_not-a-real-key' }), 401, 'unauthorized')
  })
  test('WXGATE_ADMIN_TOKEN has every scope', async () => {
    expect((await api('/api/channels', { key: ADMIN_TOKEN })).status).toBe(200)
  })
  test('a key lacking the scope → 403; admin implies all; a revoked key → 401 at once', async () => {
    const { key: readKey, info } = await s.deps.apiKeys.create('reader', ['read'])
    expect((await api('/api/channels', { key: readKey })).status).toBe(200)
    await expectError(await api('/api/channels', { key: readKey, method: 'POST', body: JSON.stringify({ id: 'x', appId: 'wx1', appSecret: 's', token: 'tok' }) }), 403, 'forbidden')
    const { key: adminKey } = await s.deps.apiKeys.create('ops', ['admin'])
    expect((await api('/api/channels', { key: adminKey })).status).toBe(200)
    await s.deps.apiKeys.revoke(info.id)
    await expectError(await api('/api/channels', { key: readKey }), 401, 'unauthorized')
  })
  test('only a hash of the key is stored', async () => {
    const { key } = await s.deps.apiKeys.create('hash-check', ['read'])
    const dump = JSON.stringify((await testSql(s.deps.db).all('SELECT * FROM api_keys')))
    expect(dump).not.toContain(key)
  })
})

describe('channels', () => {
  test('GET /api/channels lists channels without secrets', async () => {
    const res = await api('/api/channels', { key: ADMIN_TOKEN })
    const body = await res.json() as { items: { id: string; appId: string; mode: string; createdAt: string }[] }
    const ids = body.items.map((c) => c.id)
    expect(ids).toContain(PLAIN.id)
    expect(ids).toContain(SAFE.id)
    expect(body.items.find((c) => c.id === SAFE.id)).toMatchObject({ appId: SAFE.appId, mode: 'safe' })
    expect(body.items.find((c) => c.id === PLAIN.id)).toMatchObject({ mode: 'plaintext' })
    expect(Object.keys(body.items[0]!).sort()).toEqual(['appId', 'createdAt', 'id', 'mode', 'name'])
    const text = JSON.stringify(body)
    for (const secret of [PLAIN.appSecret, PLAIN.token, SAFE.appSecret, SAFE.aesKey]) expect(text).not.toContain(secret)
  })

  test('POST /api/channels → 201 on create, 200 on update, never a secret', async () => {
    const input = { id: 'shop', appId: 'wx1111111111111111', appSecret: 'shop-secret-123', token: 'shoptoken', aesKey: 'B'.repeat(43), replies: { bound: '绑定好了' } }
    const a = await api('/api/channels', { key: ADMIN_TOKEN, method: 'POST', body: JSON.stringify(input) })
    expect(a.status).toBe(201)
    const created = await a.json()
    expect(created).toMatchObject({ id: 'shop', appId: 'wx1111111111111111', mode: 'safe' })
    expect(JSON.stringify(created)).not.toContain('shop-secret-123')
    const b = await api('/api/channels', { key: ADMIN_TOKEN, method: 'POST', body: JSON.stringify({ ...input, aesKey: undefined }) })
    expect(b.status).toBe(200)
    expect(await b.json()).toMatchObject({ id: 'shop', mode: 'plaintext' })
    expect(s.deps.channels.get('shop')?.replies.bound).toBe('绑定好了')
    expect(s.deps.channels.get('shop')?.replies.expired).toBe('二维码已过期，请重新获取')
  })

  test('malformed JSON → 400 malformed_json', async () => {
    await expectError(await api('/api/channels', { key: ADMIN_TOKEN, method: 'POST', body: '{"id": ' }), 400, 'malformed_json')
  })

  test('a body over 1 MiB → 413 in the error shape, whatever the route; just under it is read as usual', async () => {
    const big = JSON.stringify({ openids: ['o_x'], templateId: 'T', data: { thing1: 'x'.repeat(1024 * 1024) } })
    const body = await expectError(await api('/api/send', { key: ADMIN_TOKEN, method: 'POST', body: big }), 413, 'payload_too_large')
    expect(body.error.message).toContain('1048576')
    await expectError(await api('/api/no-such-route', { method: 'POST', body: big }), 413, 'payload_too_large')
    const under = `{"id": ${' '.repeat(1024 * 1024 - 20)}`
    await expectError(await api('/api/channels', { key: ADMIN_TOKEN, method: 'POST', body: under }), 400, 'malformed_json')
  })

  test('bodies are read as JSON whatever the Content-Type (`curl -d` sends form-urlencoded); an empty one is 400 malformed_json', async () => {
    const body = JSON.stringify({ id: 'ctype', appId: 'wx1234567890abcdef', appSecret: 's', token: 'tok' })
    for (const ct of ['application/x-www-form-urlencoded', 'text/plain', undefined]) {
      const r = await fetch(`${s.url}/api/channels`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(ct ? { 'content-type': ct } : {}) }, body })
      expect(`${ct} → ${r.status}`).toMatch(/ → 20[01]$/)
      expect(((await r.json()) as { id: string }).id).toBe('ctype')
    }
    await expectError(await api('/api/channels', { key: ADMIN_TOKEN, method: 'POST' }), 400, 'malformed_json')
  })

  test('the OpenAPI document offers only application/json request bodies', async () => {
    const doc = (await (await fetch(`${s.url}/docs/json`)).json()) as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>> }
    const bodies = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).filter(([, op]) => op.requestBody).map(([m, op]) => [`${m} ${path}`, Object.keys(op.requestBody!.content)]))
    expect(bodies.length).toBeGreaterThanOrEqual(3)
    // The one exception: a media upload is a file (SPEC §7).
    const expected = (route: string) => (route === 'post /api/media' ? 'multipart/form-data' : 'application/json')
    for (const [route, types] of bodies) expect(`${route}: ${(types as string[]).join(', ')}`).toBe(`${route}: ${expected(route as string)}`)
  })

  test('a rule broken → 422 naming the field', async () => {
    const body = await expectError(await api('/api/channels', { key: ADMIN_TOKEN, method: 'POST', body: JSON.stringify({ id: 'bad', appId: 'wx1', appSecret: 's', token: 'tok', aesKey: 'short' }) }), 422, 'validation_failed')
    expect(body.error.message).toContain('aesKey')
    const missing = await expectError(await api('/api/channels', { key: ADMIN_TOKEN, method: 'POST', body: JSON.stringify({ id: 'bad', appSecret: 's', token: 'tok' }) }), 422, 'validation_failed')
    expect(missing.error.message).toContain('appId')
  })

  test('an empty callback token is refused without WXGATE_ALLOW_EMPTY_TOKEN', async () => {
    const body = await expectError(await api('/api/channels', { key: ADMIN_TOKEN, method: 'POST', body: JSON.stringify({ id: 'empty', appId: 'wx1', appSecret: 's', token: '' }) }), 422, 'validation_failed')
    expect(body.error.message).toContain('WXGATE_ALLOW_EMPTY_TOKEN')
  })

  test('an unknown /api route → 404 in the error shape', async () => {
    await expectError(await api('/api/nothing-here', { key: ADMIN_TOKEN }), 404, 'not_found')
  })
})

describe('OpenAPI', () => {
  test('/docs/json documents every /api route with the bearer scheme and error responses', async () => {
    const doc = await (await fetch(`${s.url}/docs/json`)).json() as { openapi: string; paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown>; summary?: string }>>; components: { securitySchemes: Record<string, { type: string; scheme: string }> } }
    expect(doc.openapi).toStartWith('3.')
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' })
    const get = doc.paths['/api/channels']!.get!
    const postOp = doc.paths['/api/channels']!.post!
    expect(get.security).toEqual([{ bearer: [] }])
    expect(postOp.security).toEqual([{ bearer: [] }])
    expect(Object.keys(postOp.responses)).toEqual(expect.arrayContaining(['200', '201', '400', '401', '403', '422']))
    expect(typeof get.summary).toBe('string')
    expect(doc.paths['/wechat']).toBeDefined()
  })

  test('every /api operation: a summary, the bearer scheme, 401 and 403, a success status with a schema', async () => {
    type Op = { security?: unknown[]; responses: Record<string, { content?: Record<string, { schema?: unknown }> }>; summary?: string; tags?: string[] }
    const doc = await (await fetch(`${s.url}/docs/json`)).json() as { paths: Record<string, Record<string, Op>> }
    const ops = Object.entries(doc.paths).filter(([p]) => p.startsWith('/api/')).flatMap(([p, m]) => Object.entries(m).map(([method, op]) => ({ id: `${method.toUpperCase()} ${p}`, op })))
    expect(ops.map((o) => o.id)).toEqual(expect.arrayContaining([
      'POST /api/send', 'GET /api/messages', 'GET /api/messages/{messageId}', 'POST /api/bindcode', 'GET /api/bindcode/{code}',
      'DELETE /api/bindcode/{code}', 'GET /api/bindings', 'DELETE /api/bindings/{id}', 'GET /api/channels/{id}/access-token',
    ]))
    for (const { id, op } of ops) {
      expect(`${id}: ${typeof op.summary}`).toBe(`${id}: string`)
      expect(`${id}: ${JSON.stringify(op.security)}`).toBe(`${id}: [{"bearer":[]}]`)
      expect(`${id}: ${['401', '403'].every((c) => c in op.responses)}`).toBe(`${id}: true`)
      const ok = Object.keys(op.responses).filter((c) => c.startsWith('2'))
      expect(`${id}: ${ok.length > 0}`).toBe(`${id}: true`)
      // Error responses carry the documented error shape.
      expect(`${id}: ${JSON.stringify(op.responses['401']?.content?.['application/json']?.schema ?? null) !== 'null'}`).toBe(`${id}: true`)
    }
  })

  test('Swagger UI at /docs loads its assets from this server only', async () => {
    const html = await (await fetch(`${s.url}/docs`)).text()
    expect(html).toContain('swagger-ui')
    const srcs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(srcs.length).toBeGreaterThan(0)
    for (const src of srcs) expect(src.startsWith('/')).toBe(true)
    for (const src of srcs) expect((await fetch(`${s.url}${src}`)).status).toBe(200)
  })
})
