/**
 * GET /metrics on the real server (loopback, real SQLite, the sandbox WeChat): the text format, what the
 * counters show after callbacks, API calls and sends, the scrape-time gauges, bounded labels, no token in
 * any label; and the request log line with the client address behind a trusted proxy or not.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { bindingsRepo } from '../../src/store/sqlite/bindings.repo'
import { messagesRepo } from '../../src/store/sqlite/messages.repo'
import { ADMIN_TOKEN, PLAIN, post, signedQuery, startTestServer, textXml, type TestServer } from '../support/server'

const APP = DEMO_ACCOUNT.appId
const TPL = 'TPL_DEMO_ORDER_PAID'
const SEND_ENDPOINT = '/cgi-bin/message/template/send'

interface Sample { name: string; labels: Record<string, string>; value: number }

/** Parses the text exposition format (enough of it for these tests: no escapes in our label values). */
const parse = (text: string): Sample[] => {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

/** The sum of the samples of `name` whose labels include `labels`; undefined when there is none. */
const value = (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined => {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  return hits.length === 0 ? undefined : hits.reduce((a, s) => a + s.value, 0)
}

let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox()
  s = await startTestServer({ wechatTimeoutMs: 400, env: { WXGATE_WECHAT_API: sb.url, WXGATE_CALLBACK_MAX_AGE: '0', WXGATE_SEND_RATE: '200' } })
  await s.deps.channels.upsert({ id: 'demo', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
})
afterAll(async () => { await s.stop(); await sb.stop() })

const scrape = async (base = s.url) => {
  const res = await fetch(`${base}/metrics`)
  expect(res.status).toBe(200)
  const text = await res.text()
  return { res, text, samples: parse(text) }
}
const api = (path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}, base = s.url) =>
  fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  })
const logLines = (t: TestServer) => t.logLines.map((l) => JSON.parse(l) as Record<string, unknown>)

describe('GET /metrics', () => {
  test('answers without an API key, in text format 0.0.4 with HELP and TYPE lines', async () => {
    const { res, text, samples } = await scrape()
    expect(res.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    for (const [name, type] of [
      ['wxgate_http_requests_total', 'counter'], ['wxgate_callback_duration_seconds', 'histogram'], ['wxgate_callbacks_total', 'counter'],
      ['wxgate_callback_duplicates_total', 'counter'], ['wxgate_callback_handler_failures_total', 'counter'], ['wxgate_messages_total', 'counter'],
      ['wxgate_outbox_depth', 'gauge'], ['wxgate_outbox_oldest_age_seconds', 'gauge'], ['wxgate_token_expiry_seconds', 'gauge'],
      ['wxgate_token_refreshes_total', 'counter'], ['wxgate_wechat_api_duration_seconds', 'histogram'], ['wxgate_wechat_api_errors_total', 'counter'],
      ['wxgate_process_cpu_seconds_total', 'counter'], ['wxgate_process_resident_memory_bytes', 'gauge'],
    ]) {
      expect(text).toContain(`# HELP ${name} `)
      expect(text).toContain(`# TYPE ${name} ${type}\n`)
    }
    expect(value(samples, 'wxgate_process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(value(samples, 'wxgate_process_resident_memory_bytes')).toBeGreaterThan(1e6)
    expect(value(samples, 'wxgate_build_info')).toBe(1)
    // A wrong key does not matter either.
    expect((await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer nope' } })).status).toBe(200)
  })

  test('is in the OpenAPI document as a plain-text route', async () => {
    const doc = await (await fetch(`${s.url}/docs/json`)).json() as { paths: Record<string, { get?: { responses?: Record<string, { content?: Record<string, unknown> }> } }> }
    expect(Object.keys(doc.paths['/metrics']?.get?.responses?.['200']?.content ?? {})).toEqual(['text/plain; version=0.0.4'])
  })

  test('callbacks: handled, duplicate, refused (bad signature, unknown channel), with the histogram', async () => {
    const send = (body: string, query = signedQuery(PLAIN.token).query, path = '/wechat') => post(`${s.url}${path}?${query}`, body)
    const xml = [textXml(), textXml(), textXml()]
    for (const x of xml) expect((await send(x)).status).toBe(200)
    expect((await send(xml[0]!)).status).toBe(200)
    expect((await send(textXml(), signedQuery('wrong-token').query)).status).toBe(401)
    expect((await send(textXml(), signedQuery(PLAIN.token).query, '/wechat/no-such-channel')).status).toBe(404)
    const { samples } = await scrape()
    const cb = (labels: Record<string, string>) => value(samples, 'wxgate_callbacks_total', labels)
    expect(cb({ channel: 'default', msg_type: 'text', outcome: 'handled' })).toBe(3)
    expect(cb({ channel: 'default', msg_type: 'text', outcome: 'duplicate' })).toBe(1)
    expect(cb({ channel: 'default', msg_type: '', outcome: 'rejected' })).toBe(1)
    // An id nobody configured shares one label value: /wechat/<anything> cannot grow the series.
    expect(cb({ channel: '(unknown)', outcome: 'rejected' })).toBe(1)
    expect(samples.some((x) => x.labels.channel === 'no-such-channel')).toBe(false)
    expect(value(samples, 'wxgate_callback_duplicates_total', { channel: 'default' })).toBe(1)
    expect(value(samples, 'wxgate_callback_handler_failures_total', { channel: 'default' }) ?? 0).toBe(0)
    expect(value(samples, 'wxgate_callback_duration_seconds_count', { channel: 'default' })).toBe(5)
    expect(value(samples, 'wxgate_callback_duration_seconds_bucket', { channel: 'default', le: '5' })).toBe(5)
    expect(value(samples, 'wxgate_callback_duration_seconds_bucket', { channel: 'default', le: '4.5' })).toBe(5)
    expect(value(samples, 'wxgate_callback_duration_seconds_sum', { channel: 'default' })).toBeLessThan(5)
    // The native callback routes are counted like Elysia's.
    const http = (labels: Record<string, string>) => value(samples, 'wxgate_http_requests_total', labels)
    expect(http({ route: '/wechat', method: 'POST', status: '200' })).toBe(4)
    expect(http({ route: '/wechat', method: 'POST', status: '401' })).toBe(1)
    expect(http({ route: '/wechat/:channelId', method: 'POST', status: '404' })).toBe(1)
  })

  test('API routes are counted by route pattern; an unknown path is "other", never the raw path', async () => {
    expect((await api('/api/channels')).status).toBe(200)
    expect((await api('/api/messages/msg_nope_123')).status).toBe(404)
    expect((await api('/api/channels', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    expect((await fetch(`${s.url}/nope/secret-looking-path?x=1`)).status).toBe(404)
    const { samples, text } = await scrape()
    const http = (labels: Record<string, string>) => value(samples, 'wxgate_http_requests_total', labels)
    expect(http({ route: '/api/channels', method: 'GET', status: '200' })).toBeGreaterThanOrEqual(1)
    expect(http({ route: '/api/channels', method: 'GET', status: '401' })).toBe(1)
    expect(http({ route: '/api/messages/:messageId', method: 'GET', status: '404' })).toBe(1)
    expect(http({ route: 'other', method: 'GET', status: '404' })).toBe(1)
    expect(http({ route: '/metrics', method: 'GET', status: '200' })).toBeGreaterThanOrEqual(1)
    expect(text).not.toContain('secret-looking-path')
    expect(text).not.toContain('msg_nope_123')
  })

  test('a send through the sandbox: message results, WeChat API histogram and errors, token refresh and expiry', async () => {
    const openid = 'o_metrics_1'
    sb.addUser(APP, openid, { subscribed: true })
    await s.deps.db.tx((orm) => orm.bindings.bind({ id: 'bnd_metrics_1', channelId: 'demo', openid, subject: 'metrics-1', code: 'test', now: Date.now() }))
    const sendOne = async () => {
      const res = await api('/api/send?wait=true', { method: 'POST', body: { channel: 'demo', to: 'metrics-1', templateId: TPL, data: { thing1: '订单已支付' } } })
      expect(res.status).toBe(200)
      return (await res.json() as { recipients: { status: string }[] }).recipients[0]!.status
    }
    expect(await sendOne()).toBe('sent')
    sb.inject({ path: SEND_ENDPOINT, errcode: 40003 })
    expect(await sendOne()).toBe('failed')
    sb.inject({ path: SEND_ENDPOINT, httpStatus: 502 })
    expect(await sendOne()).toBe('sent')
    sb.inject({ path: SEND_ENDPOINT, delayMs: 1000 })
    expect(await sendOne()).toBe('sent')

    const { samples, text } = await scrape()
    const msgs = (labels: Record<string, string>) => value(samples, 'wxgate_messages_total', { channel: 'demo', ...labels })
    expect(msgs({ status: 'sent', errcode: '' })).toBe(3)
    expect(msgs({ status: 'failed', errcode: '40003' })).toBe(1)
    expect(msgs({ status: 'retry', errcode: '' })).toBe(2)
    expect(value(samples, 'wxgate_wechat_api_duration_seconds_count', { endpoint: SEND_ENDPOINT })).toBe(6)
    expect(value(samples, 'wxgate_wechat_api_duration_seconds_count', { endpoint: '/cgi-bin/stable_token' })).toBe(1)
    expect(value(samples, 'wxgate_wechat_api_errors_total', { endpoint: SEND_ENDPOINT, errcode: '40003' })).toBe(1)
    expect(value(samples, 'wxgate_wechat_api_errors_total', { endpoint: SEND_ENDPOINT, errcode: 'http_5xx' })).toBe(1)
    expect(value(samples, 'wxgate_wechat_api_errors_total', { endpoint: SEND_ENDPOINT, errcode: 'timeout' })).toBe(1)
    // The timed-out call took the client's 400 ms: above 0.25 s, within 1 s.
    expect(value(samples, 'wxgate_wechat_api_duration_seconds_bucket', { endpoint: SEND_ENDPOINT, le: '0.25' })).toBeLessThanOrEqual(5)
    expect(value(samples, 'wxgate_wechat_api_duration_seconds_bucket', { endpoint: SEND_ENDPOINT, le: '1' })).toBe(6)
    expect(value(samples, 'wxgate_token_refreshes_total', { channel: 'demo', mode: 'normal' })).toBe(1)
    const expiry = value(samples, 'wxgate_token_expiry_seconds', { channel: 'demo' })!
    expect(expiry).toBeGreaterThan(60)
    expect(expiry).toBeLessThanOrEqual(7200)

    // Never a token, nor a URL query, in a label.
    const token = sb.currentToken(APP)!
    expect(token.length).toBeGreaterThan(10)
    expect(text).not.toContain(token)
    expect(text).not.toContain('access_token')
    for (const x of samples) for (const v of Object.values(x.labels)) expect(v).not.toContain('?')
  })

  test('outbox gauges: depth and the oldest age per channel, 0 for a channel with nothing queued', async () => {
    const now = Date.now()
    const row = (id: string, status: string, createdAt: number) => ({
      id, requestId: 'req_metrics', channelId: 'safe', openid: 'o_x', subject: null, templateId: TPL, payload: '{}',
      status, attempts: 0, errcode: null, error: null, wechatMsgId: null, nextAttemptAt: now + 3600_000, createdAt, sentAt: null, finishedAt: null,
    })
    // Not due for an hour: they stay queued. A sent one does not count.
    await s.deps.db.tx((orm) => orm.messages.insertMessages([row('msg_m1', 'queued', now - 90_000), row('msg_m2', 'queued', now - 10_000), row('msg_m3', 'sent', now - 500_000)]))
    const { samples } = await scrape()
    expect(value(samples, 'wxgate_outbox_depth', { channel: 'safe' })).toBe(2)
    const age = value(samples, 'wxgate_outbox_oldest_age_seconds', { channel: 'safe' })!
    expect(age).toBeGreaterThanOrEqual(90)
    expect(age).toBeLessThan(120)
    expect(value(samples, 'wxgate_outbox_depth', { channel: 'default' })).toBe(0)
    expect(value(samples, 'wxgate_outbox_oldest_age_seconds', { channel: 'default' })).toBe(0)
  })
})

describe('request log', () => {
  test('one info line per API request, with the client from X-Forwarded-For when the peer is loopback (the default)', async () => {
    expect((await api('/api/channels', { headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7' } })).status).toBe(200)
    const line = logLines(s).findLast((l) => l.msg === 'request' && l.route === '/api/channels')!
    expect(line).toMatchObject({ level: 'info', method: 'GET', route: '/api/channels', status: 200, client: '203.0.113.7' })
    expect(typeof line.ms).toBe('number')
  })

  test('callbacks are logged at debug; a refused one carries the client', async () => {
    const res = await post(`${s.url}/wechat?${signedQuery('wrong-token').query}`, textXml(), { 'x-forwarded-for': '198.51.100.4' })
    expect(res.status).toBe(401)
    const lines = logLines(s)
    expect(lines.findLast((l) => l.msg === 'callback refused')).toMatchObject({ channel: 'default', status: 401, client: '198.51.100.4' })
    expect(lines.findLast((l) => l.msg === 'request' && l.route === '/wechat')).toMatchObject({ level: 'debug', method: 'POST', status: 401, client: '198.51.100.4' })
    expect(lines.some((l) => l.msg === 'request' && String(l.route).startsWith('/wechat') && l.level !== 'debug')).toBe(false)
  })

  test('a bind page\'s status polls are debug lines (one every 2 s per open page); a failing one is info, the page itself info', async () => {
    const { code } = await s.deps.bind.create({ subject: 'u-log', channel: 'demo' }, { bindUrlBase: s.url })
    expect((await fetch(`${s.url}/bind/${code}/status`)).status).toBe(200)
    expect(logLines(s).findLast((l) => l.msg === 'request' && l.route === '/bind/:code/status')).toMatchObject({ level: 'debug', status: 200 })
    expect((await fetch(`${s.url}/bind/no-such-code/status`)).status).toBe(404)
    expect(logLines(s).findLast((l) => l.msg === 'request' && l.route === '/bind/:code/status')).toMatchObject({ level: 'info', status: 404 })
    expect((await fetch(`${s.url}/bind/${code}`)).status).toBe(200)
    expect(logLines(s).findLast((l) => l.msg === 'request' && l.route === '/bind/:code')).toMatchObject({ level: 'info', status: 200 })
  })

  test('an unknown path is logged with its path (not in metrics)', async () => {
    await fetch(`${s.url}/wp-login.php`)
    expect(logLines(s).findLast((l) => l.msg === 'request' && l.route === 'other')).toMatchObject({ level: 'info', status: 404, path: '/wp-login.php' })
  })

  test('WXGATE_TRUST_PROXY=none: X-Forwarded-For is ignored, the client is the socket peer', async () => {
    const t = await startTestServer({ env: { WXGATE_TRUST_PROXY: 'none' } })
    try {
      expect((await api('/api/channels', { headers: { 'x-forwarded-for': '203.0.113.7' } }, t.url)).status).toBe(200)
      expect(logLines(t).findLast((l) => l.msg === 'request' && l.route === '/api/channels')).toMatchObject({ client: '127.0.0.1' })
      await post(`${t.url}/wechat?${signedQuery('wrong-token').query}`, textXml(), { 'x-forwarded-for': '198.51.100.4' })
      expect(logLines(t).findLast((l) => l.msg === 'callback refused')).toMatchObject({ client: '127.0.0.1' })
      // Each server has its own registry: nothing of the other server's traffic shows here.
      const { samples } = await scrape(t.url)
      expect(value(samples, 'wxgate_callbacks_total', { outcome: 'handled' }) ?? 0).toBe(0)
      expect(value(samples, 'wxgate_http_requests_total', { route: '/api/channels' })).toBe(1)
    } finally {
      await t.stop()
    }
  })
})
