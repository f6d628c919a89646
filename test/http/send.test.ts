/**
 * Sending through the outbox on the real server, against the sandbox WeChat on loopback (SPEC §4
 * "Sending"): resolution, checks, retries, token errors, quota pause, permanent failures, delivery status,
 * idempotency.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { ADMIN_TOKEN, post, signedQuery, startTestServer, type TestServer } from '../support/server'
import { failWrites, stopFailingWrites, testSql } from '../support/sql'

const APP = DEMO_ACCOUNT.appId
const TPL = 'TPL_DEMO_ORDER_PAID'
// The gateway's clock runs with real time plus an offset a test can move forward (the 45011 wait).
let offset = 0
const clock = { now: () => Date.now() + offset }

let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox()
  s = await startTestServer({ clock, wechatTimeoutMs: 1200, env: { WXGATE_WECHAT_API: sb.url, WXGATE_CALLBACK_MAX_AGE: '0', WXGATE_SEND_RATE: '200' } })
  await s.deps.channels.upsert({ id: 'demo', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
})
afterAll(async () => { await s.stop(); await sb.stop() })

let userSeq = 0
/** A WeChat user following the account and bound to `subject`. */
const user = async (subject: string, opts: { subscribed?: boolean } = {}) => {
  const n = ++userSeq
  const openid = `o_send_${n}`
  sb.addUser(APP, openid, { subscribed: opts.subscribed ?? true })
  await s.deps.db.tx((orm) => orm.bindings.bind({ id: `bnd_t${n}`, channelId: 'demo', openid, subject, code: 'test', now: clock.now() }))
  return openid
}

interface Answer { id: string; recipients: { messageId: string; subject?: string; openid: string; status: string; error?: string }[]; unresolved: string[]; warnings?: { key: string; code: string }[] }
interface Message { messageId: string; status: string; attempts: number; errcode?: number; error?: string; wechatMsgId?: string; sentAt?: string; finishedAt?: string; subject?: string }

const api = (path: string, init: { method?: string; body?: unknown; key?: string; headers?: Record<string, string> } = {}) =>
  fetch(`${s.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.key ?? ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  })
const send = async (body: Record<string, unknown>, opts: { wait?: boolean; key?: string; headers?: Record<string, string>; expect?: number } = {}) => {
  const res = await api(`/api/send${opts.wait ? '?wait=true' : ''}`, { method: 'POST', body: { channel: 'demo', templateId: TPL, data: { thing1: '订单已支付' }, ...body }, key: opts.key, headers: opts.headers })
  expect(res.status).toBe(opts.expect ?? (opts.wait ? 200 : 202))
  return res.json() as Promise<Answer>
}
const message = async (id: string) => (await (await api(`/api/messages/${id}`)).json()) as Message
const until = async (what: () => Promise<boolean>, ms = 8000) => {
  const end = Date.now() + ms
  while (Date.now() < end) { if (await what()) return; await Bun.sleep(25) }
  throw new Error('condition not met in time')
}
const settled = (id: string, status = 'sent') => until(async () => (await message(id)).status === status)

describe('POST /api/send', () => {
  test('a subject with one binding: 202 queued, then sent with client_msg_id = messageId; GET shows it', async () => {
    const openid = await user('order-1')
    const a = await send({ to: 'order-1', data: { thing1: '充值资金入账审核拒绝', amount2: { value: '¥100.00' } }, url: 'https://crm.example.com/o/1' })
    expect(a.id).toMatch(/^req_/)
    expect(a.unresolved).toEqual([])
    expect(a.recipients).toEqual([{ messageId: expect.stringMatching(/^msg_/), subject: 'order-1', openid, status: 'queued' }])
    const id = a.recipients[0]!.messageId
    await settled(id)
    const m = await message(id)
    expect(m).toMatchObject({ messageId: id, status: 'sent', attempts: 1, subject: 'order-1' })
    expect(m.wechatMsgId).toMatch(/^\d{19}$/)
    const d = sb.delivered(APP).find((x) => x.client_msg_id === id)!
    expect(d).toMatchObject({ touser: openid, template_id: TPL, msgid: m.wechatMsgId, url: 'https://crm.example.com/o/1', data: { thing1: { value: '充值资金入账审核拒绝' }, amount2: { value: '¥100.00' } } })
  })

  test('?wait=true answers 200 once every recipient is sent; a subject with two OpenIDs gets two messages', async () => {
    const a1 = await user('two-phones')
    const a2 = await user('two-phones')
    const a = await send({ to: ['two-phones'] }, { wait: true })
    expect(a.recipients.map((r) => [r.openid, r.status])).toEqual([[a1, 'sent'], [a2, 'sent']])
  })

  test('unresolved subjects are listed; an unsubscribed binding fails at once with not_subscribed; openids are sent directly', async () => {
    const gone = await user('left-1')
    await s.deps.db.tx((orm) => orm.bindings.setStatus({ channelId: 'demo', openid: gone, status: 'unsubscribed', now: clock.now() }))
    sb.addUser(APP, 'o_direct_1', { subscribed: true })
    const a = await send({ to: ['nobody-1', 'left-1'], openids: ['o_direct_1'] }, { wait: true })
    expect(a.unresolved).toEqual(['nobody-1'])
    expect(a.recipients).toEqual([
      { messageId: expect.any(String), subject: 'left-1', openid: gone, status: 'failed', error: 'not_subscribed' },
      { messageId: expect.any(String), openid: 'o_direct_1', status: 'sent' },
    ])
    expect(await message(a.recipients[0]!.messageId)).toMatchObject({ status: 'failed', attempts: 0, error: 'not_subscribed' })
  })

  test('bad input: 422 naming the field or the template key and its limit; nothing stored; 401/403', async () => {
    const count = async () => ((await testSql(s.deps.db).get('SELECT count(*) AS n FROM messages')) as { n: number }).n
    const before = await count()
    const bad = async (body: Record<string, unknown>, text: string) => {
      const res = await api('/api/send', { method: 'POST', body: { channel: 'demo', templateId: TPL, data: { thing1: 'x' }, to: 'order-1', ...body } })
      expect(res.status).toBe(422)
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(text)
    }
    await bad({ data: { thing1: '一二三四五六七八九十一二三四五六七八九十一' } }, 'data.thing1: at most 20 characters')
    await bad({ data: { phrase2: 'abc' } }, 'data.phrase2')
    await bad({ data: { character_string3: 'x'.repeat(33) } }, 'data.character_string3: at most 32')
    await bad({ templateId: undefined }, 'templateId')
    await bad({ to: undefined }, 'to')
    await bad({ to: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, 'to')
    await bad({ channel: 'nope' }, 'channel')
    await bad({ url: 'javascript:alert(1)' }, 'url')
    expect(await count()).toBe(before)
    // The last one: body and header keys that differ.
    const res = await api('/api/send', { method: 'POST', body: { channel: 'demo', templateId: TPL, data: { thing1: 'x' }, to: 'order-1', idempotencyKey: 'a' }, headers: { 'idempotency-key': 'b' } })
    expect(res.status).toBe(422)
    expect((await fetch(`${s.url}/api/send`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401)
    const { key } = await s.deps.apiKeys.create('reader', ['read'])
    expect((await api('/api/send', { method: 'POST', body: { to: 'x', templateId: TPL, data: {} }, key })).status).toBe(403)
  })

  test('values WeChat would silently alter are sent, and listed in warnings', async () => {
    await user('warn-1')
    const a = await send({ to: 'warn-1', data: { thing1: '已支付🎉', thing4: '第一行\n第二行', thing5: { value: '红色', color: '#ff0000' } } })
    expect(a.warnings?.map((w) => [w.key, w.code])).toEqual([['thing1', 'emoji'], ['thing4', 'line_break'], ['thing5', 'color_ignored']])
    await settled(a.recipients[0]!.messageId)
  })
})

describe('the outbox: retries, token errors, quota, permanent failures', () => {
  for (const [name, rule] of [
    ['-1 (system busy)', { errcode: -1 }],
    ['HTTP 502', { httpStatus: 502 }],
    ['a timeout', { delayMs: 3000 }],
  ] as const) {
    test(`${name} before success: retried within 2 s, sent, attempts counted`, async () => {
      await user(`retry-${name}`)
      sb.inject({ path: '/cgi-bin/message/template/send', ...rule })
      const a = await send({ to: `retry-${name}` })
      const id = a.recipients[0]!.messageId
      await settled(id)
      expect(await message(id)).toMatchObject({ status: 'sent', attempts: 2 })
      // "Within 2 s" is the schedule the outbox wrote (injected clock), not wall time on a loaded machine.
      const first = (await testSql(s.deps.db).get('SELECT at + duration_ms AS failedAt FROM message_attempts WHERE message_id = ? ORDER BY id LIMIT 1', id)) as { failedAt: number }
      const due = (await testSql(s.deps.db).get('SELECT next_attempt_at AS at FROM messages WHERE id = ?', id)) as { at: number }
      expect(due.at - first.failedAt).toBeLessThanOrEqual(2000)
      expect(due.at).toBeGreaterThan(first.failedAt)
      expect(sb.delivered(APP).filter((d) => d.client_msg_id === id)).toHaveLength(1)
      const attempts = (await testSql(s.deps.db).all('SELECT outcome FROM message_attempts WHERE message_id = ? ORDER BY id', id)) as { outcome: string }[]
      expect(attempts.map((x) => x.outcome)).toEqual(['transient', 'ok'])
    })
  }

  test('45011: not retried before the next minute, then sent', async () => {
    await user('minute-1')
    sb.inject({ path: '/cgi-bin/message/template/send', errcode: 45011 })
    const a = await send({ to: 'minute-1' })
    const id = a.recipients[0]!.messageId
    await until(async () => (await message(id)).errcode === 45011)
    const row = (await testSql(s.deps.db).get('SELECT status, next_attempt_at AS at FROM messages WHERE id = ?', id)) as { status: string; at: number }
    const failedAt = ((await testSql(s.deps.db).get('SELECT at, duration_ms AS ms FROM message_attempts WHERE message_id = ?', id)) as { at: number; ms: number })
    expect(row.status).toBe('queued')
    // Not before the minute after the failure (a longer backoff may push it later still).
    expect(row.at).toBeGreaterThanOrEqual(Math.ceil((failedAt.at + failedAt.ms + 1) / 60_000) * 60_000)
    expect(row.at).toBeGreaterThan(clock.now())
    await Bun.sleep(300)
    expect((await message(id)).status).toBe('queued')
    offset += row.at - clock.now() + 10
    await settled(id)
    expect((await message(id)).attempts).toBe(2)
  })

  test('permanent errors fail at once with errcode and a readable error: 40037, 40003; 43004 also unsubscribes the binding', async () => {
    const bound = await user('perm-1')
    const a = await send({ to: 'perm-1', templateId: 'TPL_NOT_OURS' })
    const id = a.recipients[0]!.messageId
    await settled(id, 'failed')
    const m = await message(id)
    expect(m).toMatchObject({ status: 'failed', attempts: 1, errcode: 40037 })
    expect(m.error).toContain('invalid template_id')
    expect(m.finishedAt).toBeDefined()

    const b = await send({ openids: ['o_stranger'] }, { wait: true })
    expect(b.recipients[0]!.status).toBe('failed')
    expect((await message(b.recipients[0]!.messageId)).errcode).toBe(40003)

    sb.setSubscribed(APP, bound, false)
    const c = await send({ to: 'perm-1' }, { wait: true })
    expect(await message(c.recipients[0]!.messageId)).toMatchObject({ status: 'failed', errcode: 43004, attempts: 1 })
    const [binding] = (await testSql(s.deps.db).all('SELECT status FROM bindings WHERE openid = ?', bound)) as { status: string }[]
    expect(binding!.status).toBe('unsubscribed')
  })

  test('40001 in the middle of a batch: at most two token fetches (normal, then one forced), all sent', async () => {
    const subjects = await Promise.all(Array.from({ length: 30 }, (_, i) => user(`batch-${i}`).then(() => `batch-${i}`)))
    await send({ to: 'batch-0' }, { wait: true }) // a token is in hand
    const before = sb.calls('/cgi-bin/stable_token')
    sb.revokeTokens(APP)
    const a = await send({ to: subjects }, { wait: true })
    expect(a.recipients.every((r) => r.status === 'sent')).toBe(true)
    const fetched = sb.calls('/cgi-bin/stable_token') - before
    expect(fetched).toBeGreaterThanOrEqual(1)
    expect(fetched).toBeLessThanOrEqual(2)
    expect(new Set(sb.delivered(APP).filter((d) => a.recipients.some((r) => r.messageId === d.client_msg_id)).map((d) => d.client_msg_id)).size).toBe(30)
  })

  test('45009 from template send pauses sending only: messages stay queued, the token status shows it, the token and QR codes still work, until clear-quota', async () => {
    await user('quota-1')
    sb.inject({ path: '/cgi-bin/message/template/send', errcode: 45009 })
    const a = await send({ to: 'quota-1' })
    const id = a.recipients[0]!.messageId
    await until(async () => (await message(id)).errcode === 45009)
    const b = await send({ to: 'quota-1' })
    await Bun.sleep(400)
    expect((await message(id)).status).toBe('queued')
    expect((await message(b.recipients[0]!.messageId)).status).toBe('queued')
    const st = (await (await api('/api/channels/demo/token')).json()) as { state: string; quota?: Record<string, string> }
    expect(st.state).toBe('quota_exhausted')
    expect(Object.keys(st.quota ?? {})).toEqual(['message/template/send'])
    // The stored valid token is still served, and used for everything else.
    const tok = await api('/api/channels/demo/access-token')
    expect(tok.status).toBe(200)
    expect(((await tok.json()) as { accessToken: string }).accessToken).toBe(sb.currentToken(APP)!)
    expect((await api('/api/bindcode', { method: 'POST', body: { subject: 'quota-1', channel: 'demo' } })).status).toBe(201)
    expect((await api('/api/channels/demo/clear-quota', { method: 'POST' })).status).toBe(200)
    await settled(id)
    await settled(b.recipients[0]!.messageId)
    expect((await message(id)).attempts).toBe(2)
  })

  test('45009 from qrcode/create stops QR creation only: bind codes 503, while the token is served and messages are sent', async () => {
    await user('quota-qr')
    sb.inject({ path: '/cgi-bin/qrcode/create', errcode: 45009 })
    const bind = () => api('/api/bindcode', { method: 'POST', body: { subject: 'quota-qr', channel: 'demo' } })
    expect((await bind()).status).toBe(502)
    const again = await bind()
    expect(again.status).toBe(503)
    expect(((await again.json()) as { error: { code: string; details: { api: string } } }).error).toMatchObject({ code: 'quota_exhausted', details: { api: 'qrcode/create' } })
    expect(sb.calls('/cgi-bin/qrcode/create')).toBeGreaterThanOrEqual(1)
    const qrCalls = sb.calls('/cgi-bin/qrcode/create')
    await bind()
    expect(sb.calls('/cgi-bin/qrcode/create')).toBe(qrCalls)
    expect((await api('/api/channels/demo/access-token')).status).toBe(200)
    const a = await send({ to: 'quota-qr' }, { wait: true })
    expect(a.recipients[0]!.status).toBe('sent')
    expect(Object.keys(((await (await api('/api/channels/demo/token')).json()) as { quota?: Record<string, string> }).quota ?? {})).toEqual(['qrcode/create'])
    expect((await api('/api/channels/demo/clear-quota', { method: 'POST' })).status).toBe(200)
    expect((await bind()).status).toBe(201)
  })

  test('40164 from stable_token (an IP not yet whitelisted) fails nothing: messages stay queued with attempts 0, the token status is failing with the hint, and sending resumes by itself once it is fixed', async () => {
    await s.deps.channels.upsert({ id: 'wl', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'wltoken' })
    sb.addUser(APP, 'o_wl_1', { subscribed: true })
    sb.addUser(APP, 'o_wl_2', { subscribed: true })
    sb.inject({ path: '/cgi-bin/stable_token', errcode: 40164, errmsg: 'invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 1-2-3', times: Infinity })
    const a = await send({ channel: 'wl', openids: ['o_wl_1', 'o_wl_2'] })
    const ids = a.recipients.map((r) => r.messageId)
    await until(async () => (await message(ids[0]!)).errcode === 40164)
    await Bun.sleep(300)
    for (const id of ids) expect(await message(id)).toMatchObject({ status: 'queued', attempts: 0 })
    const st = (await (await api('/api/channels/wl/token')).json()) as { state: string; lastError?: { errcode: number; errmsg: string; hint?: string } }
    expect(st.state).toBe('failing')
    expect(st.lastError).toMatchObject({ errcode: 40164, errmsg: expect.stringContaining('203.0.113.7') })
    expect(st.lastError!.hint).toContain('203.0.113.7')
    expect(st.lastError!.hint).toContain('whitelist')
    // The channel is paused, not hammering stable_token: backoff 1 s, 2 s, 4 s …
    const tries = sb.calls('/cgi-bin/stable_token')
    await Bun.sleep(300)
    expect(sb.calls('/cgi-bin/stable_token') - tries).toBeLessThanOrEqual(1)
    expect(sb.received('/cgi-bin/message/template/send').filter((c) => ids.includes((c.body as { client_msg_id?: string }).client_msg_id ?? ''))).toHaveLength(0)

    // The operator whitelists the IP; no API call is needed for the messages to go.
    sb.clearInjections('/cgi-bin/stable_token')
    offset += 61_000
    for (const id of ids) await settled(id)
    for (const id of ids) expect(await message(id)).toMatchObject({ status: 'sent', attempts: 1 })
    expect(((await (await api('/api/channels/wl/token')).json()) as { state: string }).state).toBe('ok')
  })

  test('a stopped outbox keeps accepting; a start resumes every accepted message, also one caught mid-call', async () => {
    await user('resume-1')
    await s.deps.outbox.stop()
    const a = await send({ to: 'resume-1' })
    const id = a.recipients[0]!.messageId
    // As if a crash had left it mid-call:
    await testSql(s.deps.db).run("UPDATE messages SET status = 'sending', attempts = 1 WHERE id = ?", id)
    await Bun.sleep(200)
    expect((await message(id)).status).toBe('sending')
    await s.deps.outbox.start()
    await settled(id)
    expect((await message(id)).attempts).toBe(2)
  })
})

describe('the 9-minute rule: client_msg_id protects for 10 minutes only', () => {
  const callsFor = (id: string) => sb.received('/cgi-bin/message/template/send').filter((c) => (c.body as { client_msg_id?: string }).client_msg_id === id).length

  test('a lost answer (timeout) whose call is 9 minutes old: not sent again, failed delivery_unknown', async () => {
    await user('lost-1')
    sb.inject({ path: '/cgi-bin/message/template/send', delayMs: 3000 })
    const before = sb.calls('/cgi-bin/message/template/send')
    const id = (await send({ to: 'lost-1' })).recipients[0]!.messageId
    // The call is on its way (it reaches WeChat, whose answer will be lost); then 9 minutes pass.
    await until(async () => sb.calls('/cgi-bin/message/template/send') > before)
    offset += 9 * 60_000
    await settled(id, 'failed')
    const m = await message(id)
    expect(m.error).toBe('delivery_unknown')
    expect(s.logLines.some((l) => l.includes('message failed') && l.includes(id) && l.includes('may or may not have been delivered'))).toBe(true)
    expect(m.attempts).toBe(1)
    await Bun.sleep(300)
    expect(callsFor(id)).toBe(1)
  })

  test('a lost answer retried within 9 minutes is sent again with the same client_msg_id, and delivered once', async () => {
    await user('lost-2')
    sb.inject({ path: '/cgi-bin/message/template/send', delayMs: 3000 })
    const id = (await send({ to: 'lost-2' })).recipients[0]!.messageId
    await settled(id)
    expect(callsFor(id)).toBe(2)
    expect(sb.delivered(APP).filter((d) => d.client_msg_id === id)).toHaveLength(1)
  })

  test('a clear errcode answer (-1) is not uncertain: sent after 9 minutes all the same', async () => {
    await user('clear-1')
    sb.inject({ path: '/cgi-bin/message/template/send', errcode: -1 })
    const id = (await send({ to: 'clear-1' })).recipients[0]!.messageId
    await until(async () => (await message(id)).errcode === -1)
    offset += 9 * 60_000 + 1000
    await settled(id)
    expect(await message(id)).toMatchObject({ status: 'sent', attempts: 2 })
  })

  test('a row found sending at start (crash mid-call) whose call started 10 minutes ago: failed delivery_unknown without a call', async () => {
    await user('crash-9')
    await s.deps.outbox.stop()
    const id = (await send({ to: 'crash-9' })).recipients[0]!.messageId
    await testSql(s.deps.db).run("UPDATE messages SET status = 'sending', attempts = 1, last_call_at = ? WHERE id = ?", clock.now() - 10 * 60_000, id)
    await s.deps.outbox.start()
    await settled(id, 'failed')
    expect((await message(id)).error).toBe('delivery_unknown')
    expect(callsFor(id)).toBe(0)
  })
})

describe('a result that cannot be recorded (disk full while WeChat answered)', () => {
  test('is recorded again until it is stored: the row ends sent, with no second WeChat call', async () => {
    const openid = await user('disk-1')
    // Every write that would mark this recipient's message sent fails, as on a full disk.
    await failWrites(s.deps.db, 'disk_full', { event: 'UPDATE OF status', table: 'messages', when: `NEW.openid = '${openid}' AND NEW.status = 'sent'`, message: 'database or disk is full' })
    try {
      const id = (await send({ to: 'disk-1' })).recipients[0]!.messageId
      await until(async () => sb.delivered(APP).some((d) => d.client_msg_id === id))
      await Bun.sleep(400)
      expect((await message(id)).status).toBe('sending')
      await stopFailingWrites(s.deps.db, 'disk_full', 'messages')
      await settled(id)
      expect(await message(id)).toMatchObject({ status: 'sent', attempts: 1 })
      expect(sb.received('/cgi-bin/message/template/send').filter((c) => (c.body as { client_msg_id?: string }).client_msg_id === id)).toHaveLength(1)
    } finally {
      await stopFailingWrites(s.deps.db, 'disk_full', 'messages')
    }
  })
})

describe('no secret in error texts', () => {
  test('WeChat echoing the access token in errmsg: /api/messages/:id and the logs never carry it', async () => {
    await user('echo-1')
    sb.inject({ path: '/cgi-bin/message/template/send', errcode: 40003, echoSecrets: true })
    const id = (await send({ to: 'echo-1' }, { wait: true })).recipients[0]!.messageId
    const token = sb.currentToken(APP)!
    const call = sb.received('/cgi-bin/message/template/send').find((c) => (c.body as { client_msg_id?: string }).client_msg_id === id)!
    expect(call.query.access_token).toBe(token)
    const res = await api(`/api/messages/${id}`)
    const text = await res.text()
    expect(JSON.parse(text)).toMatchObject({ status: 'failed', errcode: 40003 })
    expect(text).toContain('[redacted]')
    expect(text).not.toContain(token)
    expect(text).not.toMatch(/access_token=(?!\[redacted\])/)
    expect(s.logLines.join('\n')).not.toContain(token)
  })
})

describe('delivery status (TEMPLATESENDJOBFINISH)', () => {
  const finish = (wechatMsgId: string, status: string, from: string) => post(
    `${s.url}/wechat/demo?${signedQuery('demotoken').query}`,
    `<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[${from}]]></FromUserName><CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime>` +
      `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>${wechatMsgId}</MsgID><Status><![CDATA[${status}]]></Status></xml>`,
  )
  for (const [status, want, error] of [
    ['success', 'delivered', undefined],
    ['failed:user block', 'failed', 'user_blocked'],
    ['failed: system failed', 'failed', 'wechat_system_failed'],
    ['failed:freq limit', 'failed', 'failed:freq limit'],
  ] as const) {
    test(`"${status}" → ${want}${error ? ` (${error})` : ''}`, async () => {
      const openid = await user(`job-${status}`)
      const a = await send({ to: `job-${status}` }, { wait: true })
      const m = await message(a.recipients[0]!.messageId)
      const res = await finish(m.wechatMsgId!, status, openid)
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('success')
      const after = await message(m.messageId)
      expect(after.status).toBe(want)
      expect(after.error).toBe(error)
      expect(after.finishedAt).toBeDefined()
    })
  }
})

describe('idempotency', () => {
  test('the same key sent concurrently 10 times: one request, one message, the same answer', async () => {
    await user('idem-1')
    const answers = await Promise.all(Array.from({ length: 10 }, () => send({ to: 'idem-1', idempotencyKey: 'order-42-paid' })))
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1)
    const n = ((await testSql(s.deps.db).get('SELECT count(*) AS n FROM messages WHERE request_id = ?', answers[0]!.id)) as { n: number }).n
    expect(n).toBe(1)
    await settled(answers[0]!.recipients[0]!.messageId)
    expect(sb.delivered(APP).filter((d) => d.client_msg_id === answers[0]!.recipients[0]!.messageId)).toHaveLength(1)
  })

  test('the Idempotency-Key header is the same key; another body is 409; keys are scoped to the API key', async () => {
    await user('idem-2')
    const first = await send({ to: 'idem-2' }, { headers: { 'idempotency-key': 'k-2' } })
    const again = await send({ to: 'idem-2', idempotencyKey: 'k-2' })
    expect(again).toEqual(first)
    const res = await api('/api/send', { method: 'POST', body: { channel: 'demo', templateId: TPL, data: { thing1: '别的内容' }, to: 'idem-2', idempotencyKey: 'k-2' } })
    expect(res.status).toBe(409)
    const { key } = await s.deps.apiKeys.create('crm', ['send'])
    const other = await send({ to: 'idem-2', idempotencyKey: 'k-2' }, { key })
    expect(other.id).not.toBe(first.id)
  })

  test('after 24 h the key is free again', async () => {
    await user('idem-3')
    const first = await send({ to: 'idem-3', idempotencyKey: 'k-3' })
    offset += 24 * 3600_000 + 1000
    const later = await send({ to: 'idem-3', idempotencyKey: 'k-3' })
    expect(later.id).not.toBe(first.id)
  })
})

describe('GET /api/messages', () => {
  test('filters by subject and status, newest first, with a cursor; 404 for an unknown id; in OpenAPI', async () => {
    await user('list-1')
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await send({ to: 'list-1' }, { wait: true })).recipients[0]!.messageId)
    const page1 = (await (await api('/api/messages?subject=list-1&status=sent&limit=2')).json()) as { items: Message[]; nextCursor?: string }
    expect(page1.items.map((m) => m.messageId)).toEqual([ids[2]!, ids[1]!])
    const page2 = (await (await api(`/api/messages?subject=list-1&limit=2&cursor=${page1.nextCursor}`)).json()) as typeof page1
    expect(page2.items.map((m) => m.messageId)).toEqual([ids[0]!])
    expect(page2.nextCursor).toBeUndefined()
    expect(((await (await api('/api/messages?subject=list-1&status=failed')).json()) as typeof page1).items).toEqual([])
    expect((await api('/api/messages/msg_nope')).status).toBe(404)
    const doc = (await (await fetch(`${s.url}/docs/json`)).json()) as { paths: Record<string, unknown> }
    for (const p of ['/api/send', '/api/messages', '/api/messages/{messageId}']) expect(doc.paths[p]).toBeDefined()
  })

  test('finished messages are pruned after the retention (30 days)', async () => {
    await user('prune-1')
    const id = (await send({ to: 'prune-1' }, { wait: true })).recipients[0]!.messageId
    offset += 31 * 86_400_000
    expect(await s.deps.send.prune()).toBeGreaterThanOrEqual(1)
    expect((await api(`/api/messages/${id}`)).status).toBe(404)
  })
})
