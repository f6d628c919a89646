/**
 * The console (SPEC §9) on the real server: sign-in with an API key, the session cookie, CSRF on every change,
 * read keys that only look, revocation and sign-out ending the session at once, idle expiry, the headers.
 * The pages in a real browser: console.browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createConsoleSessionService } from '../../src/domain/console-session.service'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

let s: TestServer
beforeAll(async () => { s = await startTestServer() })
afterAll(() => s.stop())

const cookieOf = (res: Response): string | undefined => /wxgate_console=([^;]*)/.exec(res.headers.get('set-cookie') ?? '')?.[1]

const signIn = async (key: string, headers: Record<string, string> = {}) => fetch(`${s.url}/console/login`, {
  method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams({ key, next: '/console' }),
})

const get = (path: string, cookie?: string) => fetch(`${s.url}${path}`, { redirect: 'manual', headers: cookie ? { cookie: `wxgate_console=${cookie}` } : {} })

const csrfOf = async (cookie: string) => /name="_csrf" value="([^"]+)"/.exec(await (await get('/console/keys', cookie)).text())?.[1]

const post = (path: string, cookie: string, form: Record<string, string>, headers: Record<string, string> = {}) => fetch(`${s.url}${path}`, {
  method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `wxgate_console=${cookie}`, ...headers }, body: new URLSearchParams(form),
})

describe('sign-in', () => {
  test('the form is served with a strict CSP and no inline code; without a session every page goes to it', async () => {
    const res = await get('/console/login')
    expect(res.status).toBe(200)
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    const body = await res.text()
    expect(body).not.toMatch(/<script>|<style>| on[a-z]+=/)
    expect(body).toContain('登录')
    const away = await get('/console/keys')
    expect(away.status).toBe(303)
    expect(away.headers.get('location')).toBe('/console/login?next=%2Fconsole%2Fkeys')
  })

  test('an admin key opens a session: HttpOnly, SameSite=Strict, Path=/console, not Secure over http; Secure behind https', async () => {
    const res = await signIn(ADMIN_TOKEN)
    expect(res.status).toBe(303)
    const setCookie = res.headers.get('set-cookie') ?? ''
    expect(setCookie).toMatch(/HttpOnly/)
    expect(setCookie).toMatch(/SameSite=Strict/)
    expect(setCookie).toMatch(/Path=\/console/)
    expect(setCookie).not.toMatch(/Secure/)
    expect((await signIn(ADMIN_TOKEN, { 'x-forwarded-proto': 'https' })).headers.get('set-cookie')).toMatch(/; Secure/)
    const page = await get('/console', cookieOf(res))
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('wx2c2769f8efd9abc2') // the default channel's AppID
    expect(html).toContain('/wechat')
  })

  test('a wrong key, a revoked key and a key without read or admin are refused, saying which', async () => {
    const wrong = await signIn('wxg_not-a-key')
    expect(wrong.status).toBe(401)
    expect(cookieOf(wrong)).toBeUndefined()
    const gone = await s.deps.apiKeys.create('gone', ['read'])
    await s.deps.apiKeys.revoke(gone.info.id)
    expect((await signIn(gone.key)).status).toBe(401)
    const sendOnly = await s.deps.apiKeys.create('crm', ['send'])
    const refused = await signIn(sendOnly.key)
    expect(refused.status).toBe(403)
    expect(await refused.text()).toContain('read')
  })

  test('a malformed cookie header is no session (the sign-in form), not an error', async () => {
    const res = await fetch(`${s.url}/console`, { redirect: 'manual', headers: { cookie: 'wxgate_console=%E0%A4%A; other=x' } })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toStartWith('/console/login')
  })

  test('a sign-in posted from another site is refused; from this host on another port (nginx on :8443, Host without it) it is not', async () => {
    const host = new URL(s.url).hostname
    expect((await signIn(ADMIN_TOKEN, { origin: `https://${host}:8443` })).status).toBe(303)
    const res = await signIn(ADMIN_TOKEN, { origin: 'https://evil.example' })
    expect(res.status).toBe(403)
    expect(cookieOf(res)).toBeUndefined()
    expect(await res.text()).toContain('其他网站')
  })
})

describe('changes', () => {
  test('without the CSRF token, or with a wrong one: 403 and nothing changes; with it: done', async () => {
    const cookie = cookieOf(await signIn(ADMIN_TOKEN))!
    const before = (await s.deps.apiKeys.list()).length
    expect((await post('/console/keys', cookie, { name: 'no-csrf', scopes: 'read' })).status).toBe(403)
    expect((await post('/console/keys', cookie, { name: 'bad-csrf', scopes: 'read', _csrf: 'x'.repeat(43) })).status).toBe(403)
    expect((await s.deps.apiKeys.list()).length).toBe(before)
    const ok = await post('/console/keys', cookie, { name: 'made-in-console', scopes: 'read', _csrf: (await csrfOf(cookie))! })
    expect(ok.status).toBe(200)
    const html = await ok.text()
    const key = /id="new-key">(wxg_[^<]+)</.exec(html)?.[1]
    expect(key).toBeDefined()
    // Shown once: it works as an API key, and the list never shows it again.
    expect((await fetch(`${s.url}/api/channels`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200)
    expect(await (await get('/console/keys', cookie)).text()).not.toContain(key!)
  })

  test('a read key sees everything but changes nothing: no forms, and the server refuses (403)', async () => {
    const reader = await s.deps.apiKeys.create('viewer', ['read'])
    const cookie = cookieOf(await signIn(reader.key))!
    const keys = await (await get('/console/keys', cookie)).text()
    expect(keys).toContain('只读')
    expect(keys).not.toContain('action="/console/keys"')
    expect(keys).not.toContain('/revoke')
    // Its own CSRF token (from the sign-out form) is valid, and still: no change.
    const csrf = (await csrfOf(cookie))!
    expect(csrf).toBeDefined()
    const target = await s.deps.apiKeys.create('target', ['send'])
    const res = await post(`/console/keys/${target.info.id}/revoke`, cookie, { _csrf: csrf })
    expect(res.status).toBe(403)
    expect((await s.deps.apiKeys.list()).find((k) => k.id === target.info.id)?.revokedAt).toBeUndefined()
    // The channel secrets are for admin keys only.
    const overview = await (await get('/console', cookie)).text()
    expect(overview).not.toContain('spamtest')
    expect(overview).toContain('仅 admin 密钥可见')
  })

  test('revoking a key ends its sessions at once (also when revoked elsewhere: the CLI, the API)', async () => {
    const k = await s.deps.apiKeys.create('soon-revoked', ['read'])
    const cookie = cookieOf(await signIn(k.key))!
    expect((await get('/console', cookie)).status).toBe(200)
    await s.deps.apiKeys.revoke(k.info.id)
    const after = await get('/console', cookie)
    expect(after.status).toBe(303)
    expect(after.headers.get('location')).toStartWith('/console/login')
    // Revoked through the console by an admin: the same.
    const k2 = await s.deps.apiKeys.create('revoked-in-console', ['read'])
    const c2 = cookieOf(await signIn(k2.key))!
    const admin = cookieOf(await signIn(ADMIN_TOKEN))!
    const r = await post(`/console/keys/${k2.info.id}/revoke`, admin, { _csrf: (await csrfOf(admin))! })
    expect(r.status).toBe(303)
    expect((await get('/console', c2)).status).toBe(303)
  })

  test('sign-out ends the session on the server: the old cookie no longer works', async () => {
    const cookie = cookieOf(await signIn(ADMIN_TOKEN))!
    const out = await post('/console/logout', cookie, { _csrf: (await csrfOf(cookie))! })
    expect(out.status).toBe(303)
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0')
    expect((await get('/console', cookie)).status).toBe(303)
  })
})

test('the console is not in the OpenAPI document (pages, not API)', async () => {
  const doc = await (await fetch(`${s.url}/docs/json`)).json() as { paths: Record<string, unknown> }
  expect(Object.keys(doc.paths).filter((p) => p.startsWith('/console'))).toEqual([])
  expect(Object.keys(doc.paths)).toContain('/api/send')
})

describe('review fixes', () => {
  test('a bad cursor or an unknown id is said in an HTML page, not as the API\'s JSON', async () => {
    const cookie = cookieOf(await signIn(ADMIN_TOKEN))!
    const res = await get('/console/messages?before=not-a-cursor', cookie)
    expect(res.status).toBe(422)
    expect(res.headers.get('content-type')).toContain('text/html')
    expect(await res.text()).toContain('出错了')
  })

  test('a read session sees webhook URLs without their query (a robot\'s token); an admin sees them whole', async () => {
    const hook = await s.deps.webhooks.create({ url: 'https://oapi.example.com/robot/send?access_token=SECRET123', events: ['*'] })
    try {
      const reader = await s.deps.apiKeys.create('viewer-2', ['read'])
      const rc = cookieOf(await signIn(reader.key))!
      for (const path of ['/console', '/console/webhooks', `/console/webhooks/${hook.id}`]) {
        const body = await (await get(path, rc)).text()
        expect({ path, leaks: body.includes('SECRET123') }).toEqual({ path, leaks: false })
      }
      expect(await (await get('/console/webhooks', rc)).text()).toContain('https://oapi.example.com/robot/send?…')
      expect(await (await get('/console/webhooks', cookieOf(await signIn(ADMIN_TOKEN))!)).text()).toContain('access_token=SECRET123')
    } finally {
      await s.deps.webhooks.remove(hook.id)
    }
  })

  test('adding a channel with an id that exists is refused (it would replace its secrets)', async () => {
    const cookie = cookieOf(await signIn(ADMIN_TOKEN))!
    const before = s.deps.channels.get('default')!
    const res = await post('/console/channels', cookie, { _csrf: (await csrfOf(cookie))!, id: 'default', appId: 'wx_other', appSecret: 'other-secret', token: 'othertoken' })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toContain('error=')
    expect(s.deps.channels.get('default')!.appSecret).toBe(before.appSecret)
  })

  test('a sign-in from an opaque origin (Origin: null) is refused', async () => {
    expect((await signIn(ADMIN_TOKEN, { origin: 'null' })).status).toBe(403)
  })
})

describe('sessions (the service, on an injected clock)', () => {
  test('idle for 12 h: ended; used within 12 h: kept, its idle time starting again', async () => {
    let now = Date.now()
    const clock = { now: () => now }
    const svc = createConsoleSessionService({ db: s.deps.db, clock, random: s.deps.random, apiKeys: s.deps.apiKeys })
    const { token } = await svc.signIn(ADMIN_TOKEN)
    now += 11 * 3600_000
    expect(await svc.resolve(token)).toBeDefined()
    now += 11 * 3600_000 // 22 h after sign-in, 11 h after its last use
    expect(await svc.resolve(token)).toBeDefined()
    now += 12 * 3600_000 + 1000
    expect(await svc.resolve(token)).toBeUndefined()
    // And the row is gone.
    expect(await svc.resolve(token)).toBeUndefined()
  })

  test('prune deletes the sessions idle for 12 h', async () => {
    let now = Date.now()
    const svc = createConsoleSessionService({ db: s.deps.db, clock: { now: () => now }, random: s.deps.random, apiKeys: s.deps.apiKeys })
    await svc.signIn(ADMIN_TOKEN)
    now += 13 * 3600_000
    expect(await svc.prune()).toBeGreaterThanOrEqual(1)
  })
})
