/** @module Tests for the sandbox's fault injection, latency, call recording, reset, stop and unknown paths. */
import { describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox } from '../../src/sandbox'
import { T0, errmsgLike, get, json, post, setup, stable } from './sandbox-helpers'

const STABLE = '/cgi-bin/stable_token'
const creds = { grant_type: 'client_credential', appid: DEMO_ACCOUNT.appId, secret: DEMO_ACCOUNT.appSecret }

/**
 * Delays are wall time (the sandbox sleeps with setTimeout), so they are measured, and only one way is
 * reliable on a loaded machine: a call takes at least its delay. A call shown to be NOT delayed is bounded by
 * the delay itself (a delayed one cannot be faster than it), which is as wide as an upper bound can be.
 */
const DELAY = 800
/** setTimeout may fire a millisecond or so early. */
const EARLY = 10

/** Resolves once check() holds; fails after `ms` (every wait has a deadline). */
const until = async (what: string, check: () => boolean, ms = 10_000) => {
  const end = performance.now() + ms
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await Bun.sleep(5)
  }
}

const elapsed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t = performance.now()
  const out = await fn()
  return [out, performance.now() - t]
}

describe('inject', () => {
  test('errcode: HTTP 200 with the official errmsg and a rid, once by default', async () => {
    const { sb } = await setup()
    sb.inject({ path: STABLE, errcode: -1 })
    const res = await post(sb, STABLE, creds)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const body = (await res.json()) as { errcode: number; errmsg: string }
    expect(body.errcode).toBe(-1)
    expect(body.errmsg).toMatch(errmsgLike('system error'))
    const next = await stable(sb)
    expect(next.access_token).toMatch(/^[A-Za-z0-9_-]{100,}$/)
    expect(sb.calls(STABLE)).toBe(2)
  })

  test('errcode with an explicit errmsg uses it verbatim', async () => {
    const { sb } = await setup()
    sb.inject({ path: STABLE, errcode: 89503, errmsg: '此IP调用需要管理员确认,请联系管理员 rid: 0' })
    expect(await (await post(sb, STABLE, creds)).text()).toBe('{"errcode":89503,"errmsg":"此IP调用需要管理员确认,请联系管理员 rid: 0"}')
  })

  test('httpStatus 502: a short text body, not JSON; it wins over errcode', async () => {
    const { sb } = await setup()
    sb.inject({ path: STABLE, httpStatus: 502, errcode: -1 })
    const res = await post(sb, STABLE, creds)
    expect(res.status).toBe(502)
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(await res.text()).toBe('502 Bad Gateway')
    expect(sb.currentToken(DEMO_ACCOUNT.appId)).toBeUndefined()
  })

  test('delayMs alone delays the normal answer', async () => {
    const { sb } = await setup()
    sb.inject({ path: STABLE, delayMs: DELAY })
    const [body, ms] = await elapsed(() => stable(sb))
    expect(ms).toBeGreaterThanOrEqual(DELAY - EARLY)
    expect(body.expires_in).toBe(7200)
    // Once by default: the next call is not delayed (faster than the delay could be).
    const [again, fast] = await elapsed(() => stable(sb))
    expect(again.access_token).toBe(body.access_token)
    expect(fast).toBeLessThan(DELAY - EARLY)
  }, 15_000)

  test('delayMs with errcode delays the error', async () => {
    const { sb } = await setup()
    sb.inject({ path: STABLE, delayMs: 200, errcode: 45011 })
    const [body, ms] = await elapsed(() => stable(sb))
    expect(ms).toBeGreaterThanOrEqual(190)
    expect(body.errcode).toBe(45011)
    expect(body.errmsg).toMatch(errmsgLike('api minute-quota reach limit must slower retry next minute'))
  })

  test('hang: no answer until the client times out; the attempt is recorded; the next call is answered', async () => {
    const { sb } = await setup()
    sb.inject({ path: STABLE, hang: true })
    const [outcome, ms] = await elapsed(() =>
      fetch(`${sb.url}${STABLE}`, { method: 'POST', body: JSON.stringify(creds), signal: AbortSignal.timeout(300) }).then(
        (res) => `answered ${res.status}`,
        (e: unknown) => (e instanceof Error ? e.name : String(e)),
      ),
    )
    expect(outcome).toBe('TimeoutError')
    expect(ms).toBeGreaterThanOrEqual(290)
    expect(sb.calls(STABLE)).toBe(1)
    expect((await stable(sb)).expires_in).toBe(7200)
    expect(sb.calls(STABLE)).toBe(2)
  })

  test('times: N matching calls, then normal answers', async () => {
    const { sb } = await setup()
    sb.inject({ path: STABLE, errcode: -1, times: 3 })
    const codes: unknown[] = []
    for (let i = 0; i < 4; i++) codes.push((await stable(sb)).errcode)
    expect(codes).toEqual([-1, -1, -1, undefined])
  })

  test('times: Infinity lasts until reset()', async () => {
    const { sb } = await setup()
    sb.inject({ path: STABLE, errcode: 40164, times: Infinity })
    for (let i = 0; i < 5; i++) {
      const body = await stable(sb)
      expect(body.errcode).toBe(40164)
      expect(body.errmsg).toMatch(errmsgLike('invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist'))
    }
    sb.reset()
    expect((await stable(sb)).expires_in).toBe(7200)
  })

  test('rules apply in the order added, each by exact path only', async () => {
    const { sb } = await setup()
    sb.inject({ path: STABLE, errcode: 45009 })
    sb.inject({ path: STABLE, httpStatus: 503 })
    sb.inject({ path: '/cgi-bin/token', errcode: -1 })
    expect((await stable(sb)).errcode).toBe(45009)
    const second = await post(sb, STABLE, creds)
    expect(second.status).toBe(503)
    expect(await second.text()).toBe('503 Service Unavailable')
    expect((await stable(sb)).expires_in).toBe(7200)
    expect(sb.calls('/cgi-bin/token')).toBe(0)
    // A query string does not change the path the rule matches.
    expect((await json(get(sb, '/cgi-bin/token', { grant_type: 'client_credential', appid: DEMO_ACCOUNT.appId, secret: DEMO_ACCOUNT.appSecret }))).errcode).toBe(-1)
  })

  test('a rule that could do nothing, or a bad count, is refused', async () => {
    const { sb } = await setup()
    expect(() => sb.inject({ path: STABLE })).toThrow('needs errcode, httpStatus, delayMs or hang')
    expect(() => sb.inject({ path: STABLE, errcode: -1, times: 0 })).toThrow('positive integer or Infinity')
    expect(() => sb.inject({ path: 'cgi-bin/token', errcode: -1 })).toThrow('must start with "/"')
    expect((await stable(sb)).expires_in).toBe(7200)
  })
})

describe('setLatency', () => {
  test('is added to every answer, injected ones included, until reset', async () => {
    const { sb } = await setup()
    sb.setLatency(DELAY)
    const [body, ms] = await elapsed(() => stable(sb))
    expect(body.expires_in).toBe(7200)
    expect(ms).toBeGreaterThanOrEqual(DELAY - EARLY)
    sb.inject({ path: STABLE, delayMs: 100, errcode: -1 })
    const [err, ms2] = await elapsed(() => stable(sb))
    expect(err.errcode).toBe(-1)
    expect(ms2).toBeGreaterThanOrEqual(DELAY + 100 - EARLY)
    // After reset no latency: faster than the latency could be.
    sb.reset()
    const [, ms3] = await elapsed(() => stable(sb))
    expect(ms3).toBeLessThan(DELAY - EARLY)
  }, 15_000)
})

describe('received / calls', () => {
  test('records method, path, query, parsed body and clock time, in order, before injections apply', async () => {
    const { sb, clock } = await setup()
    sb.inject({ path: STABLE, httpStatus: 500 })
    const first = await post(sb, STABLE, creds)
    expect(first.status).toBe(500)
    await first.text()
    clock.advance(1000)
    const { access_token } = await stable(sb, { force_refresh: true })
    await get(sb, '/cgi-bin/user/info', { access_token, openid: 'o_1', lang: 'zh_CN' }).then((r) => r.text())
    await post(sb, '/cgi-bin/qrcode/create', 'not json', { access_token }).then((r) => r.text())
    expect(sb.received()).toEqual([
      { method: 'POST', path: STABLE, query: {}, body: creds, at: T0 },
      { method: 'POST', path: STABLE, query: {}, body: { ...creds, force_refresh: true }, at: T0 + 1000 },
      { method: 'GET', path: '/cgi-bin/user/info', query: { access_token, openid: 'o_1', lang: 'zh_CN' }, body: undefined, at: T0 + 1000 },
      { method: 'POST', path: '/cgi-bin/qrcode/create', query: { access_token }, body: 'not json', at: T0 + 1000 },
    ])
    expect(sb.received(STABLE).map((c) => c.at)).toEqual([T0, T0 + 1000])
    expect(sb.calls(STABLE)).toBe(2)
    expect(sb.calls('/cgi-bin/user/info')).toBe(1)
    expect(sb.calls('/cgi-bin/nothing')).toBe(0)
  })

  test('received() hands out copies: a test cannot corrupt the log', async () => {
    const { sb } = await setup()
    await stable(sb)
    sb.received().length = 0
    const first = sb.received()[0]
    if (first) first.path = '/changed'
    expect(sb.received(STABLE)).toHaveLength(1)
  })
})

describe('reset', () => {
  test('forgets calls, injections, latency and tokens; keeps users and templates', async () => {
    const { sb } = await setup()
    sb.addUser(DEMO_ACCOUNT.appId, 'o_keep')
    sb.addTemplate(DEMO_ACCOUNT.appId, 'TPL_EXTRA')
    const before = await stable(sb, { force_refresh: true })
    sb.inject({ path: STABLE, errcode: -1, times: Infinity })
    sb.reset()
    expect(sb.received()).toEqual([])
    expect(sb.currentToken(DEMO_ACCOUNT.appId)).toBeUndefined()
    expect(sb.forceRefreshesToday(DEMO_ACCOUNT.appId)).toBe(0)
    const after = await stable(sb)
    expect(after.access_token).not.toBe(before.access_token)
    const info = await json(get(sb, '/cgi-bin/user/info', { access_token: before.access_token, openid: 'o_keep' }))
    expect(info.errcode).toBe(40001)
    const send = await json(post(sb, '/cgi-bin/message/template/send', { touser: 'o_keep', template_id: 'TPL_EXTRA' }, { access_token: after.access_token }))
    expect(send.errcode).toBe(0)
    expect(sb.delivered()).toHaveLength(1)
  })
})

describe('server', () => {
  test('unknown paths are HTTP 404 text, and recorded', async () => {
    const { sb } = await setup()
    const res = await get(sb, '/cgi-bin/menu/create', { access_token: 'x' })
    expect(res.status).toBe(404)
    expect(await res.text()).toBe('404 page not found')
    expect(sb.calls('/cgi-bin/menu/create')).toBe(1)
  })

  test('defaults: 127.0.0.1, a random port, the demo account with its two templates', async () => {
    const sb = await startSandbox()
    try {
      expect(sb.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      sb.addUser(DEMO_ACCOUNT.appId, 'o_demo')
      const { access_token } = await stable(sb)
      for (const template_id of ['TPL_DEMO_ORDER_PAID', 'TPL_DEMO_REFUND_REJECTED']) {
        const r = await json(post(sb, '/cgi-bin/message/template/send', { touser: 'o_demo', template_id, data: {} }, { access_token }))
        expect(r.errcode).toBe(0)
      }
      expect(sb.delivered(DEMO_ACCOUNT.appId).map((d) => d.template_id)).toEqual(['TPL_DEMO_ORDER_PAID', 'TPL_DEMO_REFUND_REJECTED'])
    } finally {
      await sb.stop()
    }
  })

  test('stop() ends a hanging call instead of leaving it open', async () => {
    const sb = await startSandbox()
    sb.inject({ path: STABLE, hang: true })
    const pending = fetch(`${sb.url}${STABLE}`, { method: 'POST', body: JSON.stringify(creds), signal: AbortSignal.timeout(5000) }).then(
      async (res) => `answered ${res.status} ${await res.text()}`,
      (e: unknown) => (e instanceof Error ? e.name : String(e)),
    )
    await until('the hanging call to reach the sandbox', () => sb.calls(STABLE) === 1)
    const [outcome, ms] = await elapsed(async () => {
      await sb.stop()
      return pending
    })
    // The connection is closed under the client (Bun reports a TypeError), not ended by its own 5 s timeout
    // (that would be a TimeoutError; the time bound below is only a second witness, wide for a loaded machine).
    expect(outcome === 'TypeError' || outcome.startsWith('answered 503') ? 'closed' : outcome).toBe('closed')
    expect(ms).toBeLessThan(4500)
  }, 15_000)
})
