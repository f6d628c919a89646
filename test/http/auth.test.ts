/**
 * The bearer guard on EVERY /api route, called for real on the running server (SPEC §4: 401 without or with a
 * bad key, 403 for a key that lacks the scope, admin implies all). The list of routes is the app's own
 * (`createApp(deps).routes`, the very function and deps the server runs), cross-checked with the OpenAPI
 * document; only the scope each route needs is written here, from the SPEC, and a route the app serves that
 * is not in that table fails the test (so a new route must say which scope it needs).
 *
 * The order found and asserted (Elysia's lifecycle: parse → transform → validation → handler):
 * - a body that is not JSON is refused 400 before the key is looked at (parsing comes first);
 * - the key and scope are checked in `transform` (src/http/auth.ts), before the body, query and params are
 *   validated: without a key, or with too little scope, a body or query that breaks the rules is 401/403,
 *   never 422 (a caller without a key learns nothing about the route's rules);
 * - with the right scope the same invalid input is 422.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApp } from '../../src/app'
import type { Scope } from '../../src/domain/apikey.service'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

/** The scope each /api route needs (SPEC §4). */
const NEEDS: Record<string, Scope> = {
  'GET /api/channels': 'read',
  'POST /api/channels': 'admin',
  'GET /api/channels/:id/token': 'read',
  'GET /api/channels/:id/access-token': 'token',
  'POST /api/channels/:id/access-token/reject': 'token',
  'POST /api/channels/:id/clear-quota': 'admin',
  'GET /api/channels/:id/templates': 'read',
  'POST /api/bindcode': 'bindcode',
  'GET /api/bindcode/:code': 'bindcode',
  'DELETE /api/bindcode/:code': 'bindcode',
  'GET /api/bindings': 'read',
  'DELETE /api/bindings/:id': 'bindcode',
  'POST /api/send': 'send',
  'POST /api/media': 'send',
  'GET /api/media/:mediaId': 'read',
  'GET /api/messages': 'read',
  'GET /api/messages/:messageId': 'read',
  'GET /api/inbound': 'read',
  'GET /api/inbound/:id': 'read',
  'POST /api/inbound/:id/reply': 'send',
  'GET /api/users/:openid': 'read',
  'POST /api/webhooks': 'admin',
  'GET /api/webhooks': 'admin',
  'GET /api/webhooks/:id': 'admin',
  'PATCH /api/webhooks/:id': 'admin',
  'DELETE /api/webhooks/:id': 'admin',
  'POST /api/webhooks/:id/rotate-secret': 'admin',
  'POST /api/webhooks/:id/test': 'admin',
  'GET /api/webhooks/:id/deliveries': 'admin',
  'POST /api/webhooks/deliveries/:id/retry': 'admin',
}
const SCOPES: Scope[] = ['send', 'bindcode', 'read', 'token', 'admin']

let sb: Sandbox
let s: TestServer
/** "METHOD /path" of every /api route the app serves, with whether it validates a body or a query. */
let routes: { id: string; method: string; path: string; body: boolean; query: boolean }[]
const keys = {} as Record<Scope, string>
/** An admin key, revoked: 401 like an unknown one. */
let revoked: string
let code: string

beforeAll(async () => {
  sb = await startSandbox()
  // The sandbox stands in for WeChat: routes that call it (bind codes, tokens, sends) never leave loopback.
  s = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url } })
  await s.deps.channels.upsert({ id: 'demo', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
  routes = createApp(s.deps).routes
    .filter((r) => r.path.startsWith('/api/'))
    .map((r) => {
      const hooks = r.hooks as { body?: unknown; query?: unknown }
      return { id: `${r.method} ${r.path}`, method: r.method, path: r.path, body: hooks.body !== undefined, query: hooks.query !== undefined }
    })
  for (const scope of SCOPES) keys[scope] = (await s.deps.apiKeys.create(`auth-${scope}`, [scope])).key
  const gone = await s.deps.apiKeys.create('auth-revoked', ['admin'])
  await s.deps.apiKeys.revoke(gone.info.id)
  revoked = gone.key
  const res = await call('POST', '/api/bindcode', { key: ADMIN_TOKEN, body: { channel: 'demo', subject: 'auth-u' } })
  expect(res.status).toBe(201)
  code = ((await res.json()) as { code: string }).code
})
afterAll(async () => { await s?.stop(); await sb?.stop() })

/** Path params filled with plausible values: a real channel and code, ids in the shape ours have. */
const fill = (path: string) => path
  .replace(/^\/api\/channels\/:id/, '/api/channels/demo')
  .replace(':code', () => code)
  .replace(':messageId', 'msg_AAAAAAAAAAAAAAAA')
  .replace(':id', 'bnd_AAAAAAAAAAAAAAAA')

/** Bodies valid enough for the handler to run (a route with a body and no entry here fails the test). */
const BODIES: Record<string, unknown> = {
  'POST /api/inbound/:id/reply': { type: 'text', text: { content: 'auth' } },
  'POST /api/channels': { id: 'auth-extra', appId: 'wx1234567890abcdef', appSecret: 'auth-secret', token: 'authtoken' },
  'POST /api/channels/:id/access-token/reject': { accessToken: 'a-token-that-is-not-current' },
  'POST /api/bindcode': { channel: 'demo', subject: 'auth-u' },
  'POST /api/send': { channel: 'demo', openids: ['o_auth'], templateId: 'T_AUTH', data: { thing1: '你好' } },
  // Port 9 (discard) on loopback: nothing listens, deliveries fail quietly and are retried later.
  'POST /api/webhooks': { url: 'http://127.0.0.1:9/auth' },
  'PATCH /api/webhooks/:id': { disabled: false },
}

const call = (method: string, path: string, o: { key?: string; authorization?: string; body?: unknown; raw?: string; query?: string } = {}) => {
  const headers: Record<string, string> = {}
  const authorization = o.authorization ?? (o.key === undefined ? undefined : `Bearer ${o.key}`)
  if (authorization !== undefined) headers.authorization = authorization
  if (o.body instanceof FormData) return fetch(`${s.url}${fill(path)}${o.query ?? ''}`, { method, headers, body: o.body })
  const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body))
  if (body !== undefined) headers['content-type'] = 'application/json'
  return fetch(`${s.url}${fill(path)}${o.query ?? ''}`, { method, headers, ...(body !== undefined ? { body } : {}) })
}

/** A media upload's body is a form (no body schema: the route reads it as it streams), a new one each call. */
const mediaForm = () => {
  const f = new FormData()
  f.append('type', 'thumb')
  f.append('file', new File([new Uint8Array([0xff, 0xd8, 0xff, 0xd9])], 'auth.jpg', { type: 'image/jpeg' }))
  return f
}

/** A request as the route expects it, with the given key (or none). */
const valid = (r: (typeof routes)[number], o: { key?: string; authorization?: string } = {}) =>
  call(r.method, r.path, { ...o, ...(r.body ? { body: BODIES[r.id] } : r.id === 'POST /api/media' ? { body: mediaForm() } : {}) })

/** The status and the documented error shape; what was called is in the message, for a readable failure. */
const expectError = async (what: string, res: Response, status: 401 | 403, code: 'unauthorized' | 'forbidden') => {
  const text = await res.text()
  expect(`${what} → ${res.status}`).toBe(`${what} → ${status}`)
  const body = JSON.parse(text) as { error: { code: string; message: string } }
  expect(Object.keys(body)).toEqual(['error'])
  expect(`${what}: ${body.error.code}`).toBe(`${what}: ${code}`)
  expect(typeof body.error.message).toBe('string')
  expect(body.error.message.length).toBeGreaterThan(0)
}

describe('every /api route is guarded', () => {
  test('the route list: every route the app serves has its scope here, and is the one the OpenAPI document lists', async () => {
    expect(routes.length).toBeGreaterThanOrEqual(Object.keys(NEEDS).length)
    for (const r of routes) expect(`${r.id}: ${NEEDS[r.id] ? 'has its scope' : 'no scope in NEEDS (add the scope it needs)'}`).toBe(`${r.id}: has its scope`)
    for (const r of routes) if (r.body) expect(`${r.id}: ${BODIES[r.id] !== undefined ? 'has a body' : 'no body in BODIES (add a valid one)'}`).toBe(`${r.id}: has a body`)
    const doc = (await (await fetch(`${s.url}/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    const documented = Object.entries(doc.paths).filter(([p]) => p.startsWith('/api/'))
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`))
    expect(documented.sort()).toEqual(routes.map((r) => r.id).sort())
  })

  test('no key, a malformed header, an unknown key, a revoked key → 401 in the error shape', async () => {
    for (const r of routes) {
      await expectError(`${r.id} without a key`, await valid(r), 401, 'unauthorized')
      await expectError(`${r.id} with Basic auth`, await valid(r, { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` }), 401, 'unauthorized')
      await expectError(`${r.id} with an empty bearer`, await valid(r, { authorization: 'Bearer ' }), 401, 'unauthorized')
      await expectError(`${r.id} with an unknown key`, await valid(r, { key: 'wxg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }), 401, 'unauthorized')
      await expectError(`${r.id} with a revoked admin key`, await valid(r, { key: revoked }), 401, 'unauthorized')
    }
  })

  test('each scope that is not enough → 403 in the error shape; so is a key with every other scope but admin', async () => {
    for (const r of routes) {
      const needed = NEEDS[r.id]!
      const short = SCOPES.filter((sc) => sc !== needed && sc !== 'admin')
      for (const scope of short) await expectError(`${r.id} with a ${scope} key`, await valid(r, { key: keys[scope] }), 403, 'forbidden')
      if (short.length > 0) {
        const { key } = await s.deps.apiKeys.create(`auth-many-${r.id}`, short)
        await expectError(`${r.id} with a ${short.join(',')} key`, await valid(r, { key }), 403, 'forbidden')
      }
    }
  })

  test('the right scope, an admin key and WXGATE_ADMIN_TOKEN get through (admin implies all)', async () => {
    for (const r of routes) {
      for (const [who, key] of [[NEEDS[r.id]!, keys[NEEDS[r.id]!]], ['admin', keys.admin], ['WXGATE_ADMIN_TOKEN', ADMIN_TOKEN]] as const) {
        const res = await valid(r, { key })
        await res.body?.cancel()
        expect(`${r.id} with ${who}: ${res.status}`).not.toMatch(/: (401|403)$/)
        // Beyond the guard: the handler ran (a WeChat-backed route may answer 502/503; never a crash).
        expect(`${r.id} with ${who}: ${res.status}`).toMatch(/: (200|201|202|204|404|409|502|503)$/)
      }
    }
  })
})

describe('the order of the checks', () => {
  test('the key is checked before the body and query are validated: 401/403 win over 422, which the right scope gets', async () => {
    const checked = routes.filter((r) => r.body || r.query)
    expect(checked.length).toBeGreaterThanOrEqual(3)
    for (const r of checked) {
      // A body or query that breaks the route's rules (an array is no object; limit=0 is below every minimum).
      const bad = { ...(r.body ? { body: [] } : {}), ...(r.query ? { query: '?limit=0&wait=maybe' } : {}) }
      const needed = NEEDS[r.id]!
      const wrong = SCOPES.find((sc) => sc !== needed && sc !== 'admin')!
      await expectError(`${r.id} invalid, without a key`, await call(r.method, r.path, bad), 401, 'unauthorized')
      await expectError(`${r.id} invalid, with a ${wrong} key`, await call(r.method, r.path, { ...bad, key: keys[wrong] }), 403, 'forbidden')
      const res = await call(r.method, r.path, { ...bad, key: keys[needed] })
      expect(`${r.id} invalid, with ${needed}: ${res.status}`).toBe(`${r.id} invalid, with ${needed}: 422`)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('validation_failed')
    }
  })

  test('a body that is not JSON is 400 before the key is looked at (parsing comes first)', async () => {
    for (const r of routes.filter((x) => x.body)) {
      for (const key of [undefined, keys.read, ADMIN_TOKEN]) {
        const res = await call(r.method, r.path, { raw: '{"id": ', ...(key ? { key } : {}) })
        expect(`${r.id} with ${key === undefined ? 'no key' : 'a key'}: ${res.status}`).toBe(`${r.id} with ${key === undefined ? 'no key' : 'a key'}: 400`)
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('malformed_json')
      }
    }
  })
})
