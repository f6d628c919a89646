/**
 * Customer-service messages on the real server against the sandbox WeChat (SPEC §7): every type sent and
 * seen by the sandbox user, the window (outside → outside_window, the sixth in 48 h → window_quota_used),
 * the fallback template, checks before storing, no blind resend after a lost answer, GET /api/users/:openid,
 * POST /api/inbound/:id/reply and the domain's sendCustomer. The sandbox pushes the users' messages to the
 * gateway's callback URL, so both sides know the same interactions.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { bindingsRepo } from '../../src/store/sqlite/bindings.repo'
import { addEndpoint, removeEndpoints, storedEvents } from '../support/event-rows'
import { ADMIN_TOKEN, post, signedQuery, startTestServer, type TestServer } from '../support/server'
import { testSql } from '../support/sql'

const APP = DEMO_ACCOUNT.appId
const TPL = 'TPL_DEMO_ORDER_PAID'
const CUSTOM = '/cgi-bin/message/custom/send'

let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox({ templateFinish: false })
  s = await startTestServer({ wechatTimeoutMs: 1200, env: { WXGATE_WECHAT_API: sb.url, WXGATE_CALLBACK_MAX_AGE: '0', WXGATE_SEND_RATE: '200' } })
  await s.deps.channels.upsert({ id: 'demo', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
  sb.setCallback(APP, { url: `${s.url}/wechat/demo`, token: 'demotoken' })
})
afterAll(async () => { await s.stop(); await sb.stop() })

let userSeq = 0
/** A follower of the account; `talks`: the sandbox user writes to the account first (opens the 48-hour window). */
const user = async (opts: { talks?: boolean; subject?: string } = {}) => {
  const openid = `o_cs_${++userSeq}`
  sb.addUser(APP, openid, { subscribed: true })
  if (opts.subject) await s.deps.db.tx((orm) => orm.bindings.bind({ id: `bnd_cs${userSeq}`, channelId: 'demo', openid, subject: opts.subject!, code: 'test', now: Date.now() }))
  if (opts.talks) expect((await sb.userSends({ openid, text: '在吗' })).status).toBe(200)
  return openid
}

interface Answer { id: string; recipients: { messageId: string; subject?: string; openid: string; status: string; error?: string }[]; unresolved: string[] }
interface Message { messageId: string; type: string; templateId?: string; sentAs?: string; status: string; attempts: number; errcode?: number; error?: string; wechatMsgId?: string }

const api = (path: string, init: { method?: string; body?: unknown } = {}) =>
  fetch(`${s.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  })
const send = async (body: Record<string, unknown>, opts: { wait?: boolean; expect?: number } = {}) => {
  const res = await api(`/api/send${opts.wait === false ? '' : '?wait=true'}`, { method: 'POST', body: { channel: 'demo', ...body } })
  expect(res.status).toBe(opts.expect ?? (opts.wait === false ? 202 : 200))
  return res.json() as Promise<Answer>
}
const message = async (id: string) => (await (await api(`/api/messages/${id}`)).json()) as Message
const received = async (openid: string) => {
  const res = await fetch(`${sb.url}/_sandbox/users/${openid}/received`)
  expect(res.status).toBe(200)
  return ((await res.json()) as { received: { kind: string; custom?: { msgtype: string; body: Record<string, unknown> }; template?: { template_id: string; client_msg_id?: string } }[] }).received
}
const until = async (what: () => Promise<boolean> | boolean, ms = 8000) => {
  const end = Date.now() + ms
  while (Date.now() < end) { if (await what()) return; await Bun.sleep(25) }
  throw new Error('condition not met in time')
}

describe('POST /api/send with a customer-service type', () => {
  const cases: [Record<string, unknown>, Record<string, unknown>][] = [
    [{ type: 'text', text: { content: '您好，订单已发货' } }, { msgtype: 'text', text: { content: '您好，订单已发货' } }],
    [{ type: 'image', image: { mediaId: 'MEDIA_IMG_1' } }, { msgtype: 'image', image: { media_id: 'MEDIA_IMG_1' } }],
    [{ type: 'voice', voice: { mediaId: 'MEDIA_VOICE_1' } }, { msgtype: 'voice', voice: { media_id: 'MEDIA_VOICE_1' } }],
    [{ type: 'video', video: { mediaId: 'MEDIA_VID_1', thumbMediaId: 'THUMB_1', title: '开箱', description: '新品' } }, { msgtype: 'video', video: { media_id: 'MEDIA_VID_1', thumb_media_id: 'THUMB_1', title: '开箱', description: '新品' } }],
    [{ type: 'music', music: { title: '歌', musicUrl: 'https://m.example.com/a.mp3', hqMusicUrl: 'https://m.example.com/a-hq.mp3', thumbMediaId: 'THUMB_2' } }, { msgtype: 'music', music: { title: '歌', musicurl: 'https://m.example.com/a.mp3', hqmusicurl: 'https://m.example.com/a-hq.mp3', thumb_media_id: 'THUMB_2' } }],
    [{ type: 'news', news: { articles: [{ title: '新品上市', description: '点击查看', url: 'https://shop.example.com/n/1', picUrl: 'https://shop.example.com/p.jpg' }] } }, { msgtype: 'news', news: { articles: [{ title: '新品上市', description: '点击查看', url: 'https://shop.example.com/n/1', picurl: 'https://shop.example.com/p.jpg' }] } }],
    [{ type: 'mpnews', mpnews: { mediaId: 'MPNEWS_1' } }, { msgtype: 'mpnews', mpnews: { media_id: 'MPNEWS_1' } }],
    [{ type: 'msgmenu', msgmenu: { headContent: '您对本次服务是否满意？', list: [{ id: '101', content: '满意' }, { id: '102', content: '不满意' }], tailContent: '欢迎再次光临' } }, { msgtype: 'msgmenu', msgmenu: { head_content: '您对本次服务是否满意？', list: [{ id: '101', content: '满意' }, { id: '102', content: '不满意' }], tail_content: '欢迎再次光临' } }],
    [{ type: 'miniprogrampage', miniprogrampage: { title: '订单详情', appid: 'wxmini000000001', pagepath: 'pages/order?id=1', thumbMediaId: 'THUMB_3' } }, { msgtype: 'miniprogrampage', miniprogrampage: { title: '订单详情', appid: 'wxmini000000001', pagepath: 'pages/order?id=1', thumb_media_id: 'THUMB_3' } }],
  ]
  for (const [body, wire] of cases) {
    test(`${body.type}: sent through custom/send with WeChat's field names, received by the user; GET shows the type`, async () => {
      const openid = await user({ talks: true, subject: `cs-${body.type}` })
      const a = await send({ to: `cs-${body.type}`, ...body })
      expect(a.recipients).toEqual([{ messageId: expect.stringMatching(/^msg_/), subject: `cs-${body.type}`, openid, status: 'sent' }])
      const id = a.recipients[0]!.messageId
      const got = await received(openid)
      expect(got).toHaveLength(1)
      expect(got[0]).toMatchObject({ kind: 'custom', custom: { msgtype: body.type, body: { touser: openid, ...wire } } })
      // No client_msg_id exists for customer-service messages.
      expect(got[0]!.custom!.body).not.toHaveProperty('client_msg_id')
      const m = await message(id)
      expect(m).toMatchObject({ messageId: id, type: body.type, status: 'sent', attempts: 1 })
      expect(m).not.toHaveProperty('templateId')
      expect(m).not.toHaveProperty('sentAs')
      const row = (await testSql(s.deps.db).get('SELECT type, template_id AS templateId, payload FROM messages WHERE id = ?', id)) as { type: string; templateId: string; payload: string }
      expect(row.type).toBe(body.type as string)
      expect(row.templateId).toBe('')
      expect(JSON.parse(row.payload)).toEqual(wire)
    })
  }

  test('a template send without type is unchanged, and shows type template with its templateId', async () => {
    const openid = await user()
    const a = await send({ openids: [openid], templateId: TPL, data: { thing1: '已发货' } })
    const m = await message(a.recipients[0]!.messageId)
    expect(m).toMatchObject({ type: 'template', templateId: TPL, status: 'sent' })
    const b = await send({ openids: [openid], type: 'template', templateId: TPL, data: { thing1: '已发货' } })
    expect(b.recipients[0]!.status).toBe('sent')
  })

  test('checked before storing: text over 2048 bytes, more than one article, a missing field: 422 naming it; nothing stored', async () => {
    const count = async () => ((await testSql(s.deps.db).get('SELECT count(*) AS n FROM messages')) as { n: number }).n
    const before = await count()
    const bad = async (body: Record<string, unknown>, field: string) => {
      const res = await api('/api/send', { method: 'POST', body: { channel: 'demo', openids: ['o_cs_x'], ...body } })
      expect(res.status).toBe(422)
      expect(((await res.json()) as { error: { message: string } }).error.message).toStartWith(field)
    }
    // 682 three-byte characters + 3 bytes = 2049 bytes (683 characters: far under 2048 characters).
    await bad({ type: 'text', text: { content: `${'好'.repeat(682)}abc` } }, 'text.content')
    const article = { title: 't', url: 'https://a.example.com/' }
    await bad({ type: 'news', news: { articles: [article, article] } }, 'news.articles')
    await bad({ type: 'image', image: {} }, 'image.mediaId')
    await bad({ type: 'fax', fax: {} }, 'type')
    await bad({ type: 'text', text: { content: 'x' }, fallback: { templateId: TPL, data: { thing1: '一二三四五六七八九十一二三四五六七八九十一' } } }, 'fallback.data.thing1')
    expect(await count()).toBe(before)
    // Exactly 2048 bytes is accepted.
    const ok = await api('/api/send', { method: 'POST', body: { channel: 'demo', openids: [await user()], type: 'text', text: { content: `${'好'.repeat(682)}ab` } } })
    expect(ok.status).toBe(202)
  })
})

describe('the window', () => {
  test('a user who never interacted: WeChat answers 45015 → failed outside_window, no retry', async () => {
    const openid = await user()
    const a = await send({ openids: [openid], type: 'text', text: { content: '您好' } })
    expect(a.recipients[0]).toMatchObject({ status: 'failed', error: 'outside_window' })
    expect(await message(a.recipients[0]!.messageId)).toMatchObject({ status: 'failed', errcode: 45015, error: 'outside_window', attempts: 1 })
    expect(await received(openid)).toEqual([])
  })

  test('the sixth message in a 48-hour window → window_quota_used; GET /api/users/:openid counts 5', async () => {
    const openid = await user({ talks: true })
    const ids: string[] = []
    for (let i = 1; i <= 6; i++) ids.push((await send({ openids: [openid], type: 'text', text: { content: `第${i}条` } })).recipients[0]!.messageId)
    const ms = await Promise.all(ids.map(message))
    expect(ms.map((m) => m.status)).toEqual(['sent', 'sent', 'sent', 'sent', 'sent', 'failed'])
    expect(ms[5]).toMatchObject({ errcode: 45047, error: 'window_quota_used' })
    expect((await received(openid)).length).toBe(5)
    const res = await api(`/api/users/${openid}?channel=demo`)
    expect(res.status).toBe(200)
    const u = (await res.json()) as { window: { open: boolean; until: string; sent: number } }
    expect(u.window).toMatchObject({ open: true, sent: 5 })
    const left = Date.parse(u.window.until) - Date.now()
    expect(left).toBeGreaterThan(47.9 * 3600_000)
    expect(left).toBeLessThanOrEqual(48 * 3600_000)
  })

  test('with a fallback and a window known closed: the template is sent instead (client_msg_id), no custom/send call; sentAs template', async () => {
    const openid = await user()
    const callsBefore = sb.calls(CUSTOM)
    const a = await send({ openids: [openid], type: 'text', text: { content: '您好' }, fallback: { templateId: TPL, data: { thing1: '订单已发货' }, url: 'https://shop.example.com/o/1' } })
    const id = a.recipients[0]!.messageId
    expect(a.recipients[0]!.status).toBe('sent')
    expect(sb.calls(CUSTOM)).toBe(callsBefore)
    const m = await message(id)
    expect(m).toMatchObject({ type: 'text', sentAs: 'template', status: 'sent', attempts: 1 })
    expect(m.wechatMsgId).toMatch(/^\d{19}$/)
    const got = await received(openid)
    expect(got).toHaveLength(1)
    expect(got[0]).toMatchObject({ kind: 'template', template: { template_id: TPL, client_msg_id: id, url: 'https://shop.example.com/o/1', data: { thing1: { value: '订单已发货' } } } })
  })

  test('with a fallback and WeChat answering 45015 (the gateway thought the window open): the template goes in the same round', async () => {
    const openid = await user({ talks: true })
    sb.inject({ path: CUSTOM, errcode: 45015 })
    const a = await send({ openids: [openid], type: 'image', image: { mediaId: 'M1' }, fallback: { templateId: TPL, data: { thing1: '有新消息' } } })
    const id = a.recipients[0]!.messageId
    expect(await message(id)).toMatchObject({ type: 'image', sentAs: 'template', status: 'sent', attempts: 2 })
    expect((await received(openid)).map((r) => r.kind)).toEqual(['template'])
  })

  test('a lost answer (timeout) on custom/send: failed delivery_unknown after exactly one call, never resent', async () => {
    const openid = await user({ talks: true })
    const before = sb.calls(CUSTOM)
    // The sandbox still delivers after the delay: the gateway gave up at 1.2 s without knowing.
    sb.inject({ path: CUSTOM, delayMs: 2500 })
    const a = await send({ openids: [openid], type: 'text', text: { content: '您好' } }, { wait: false })
    const id = a.recipients[0]!.messageId
    await until(async () => (await message(id)).status === 'failed')
    expect(await message(id)).toMatchObject({ status: 'failed', error: 'delivery_unknown', attempts: 1 })
    // Well past the first retry's 2 s: no second call.
    await Bun.sleep(3000)
    expect(sb.calls(CUSTOM) - before).toBe(1)
  })

  test('HTTP 502 from custom/send is uncertain too: delivery_unknown after one call; a clear -1 is retried and sent', async () => {
    const openid = await user({ talks: true })
    const before = sb.calls(CUSTOM)
    sb.inject({ path: CUSTOM, httpStatus: 502 })
    const a = await send({ openids: [openid], type: 'text', text: { content: '一' } })
    expect(a.recipients[0]).toMatchObject({ status: 'failed', error: 'delivery_unknown' })
    sb.inject({ path: CUSTOM, errcode: -1 })
    const b = await send({ openids: [openid], type: 'text', text: { content: '二' } })
    expect(b.recipients[0]!.status).toBe('sent')
    expect(await message(b.recipients[0]!.messageId)).toMatchObject({ status: 'sent', attempts: 2 })
    expect(sb.calls(CUSTOM) - before).toBe(3)
  })

  test('a customer-service row found sending at start (crash mid-call): failed delivery_unknown at once, without a call', async () => {
    const openid = await user({ talks: true })
    await s.deps.outbox.stop()
    const before = sb.calls(CUSTOM)
    try {
      const id = (await send({ openids: [openid], type: 'text', text: { content: '您好' } }, { wait: false })).recipients[0]!.messageId
      // Its call started a second ago (far inside the 9 minutes a template would get).
      await testSql(s.deps.db).run("UPDATE messages SET status = 'sending', attempts = 1, last_call_at = ? WHERE id = ?", Date.now() - 1000, id)
      await s.deps.outbox.start()
      await until(async () => (await message(id)).status === 'failed')
      expect(await message(id)).toMatchObject({ error: 'delivery_unknown', attempts: 1 })
      expect(sb.calls(CUSTOM)).toBe(before)
    } finally {
      if (!s.deps.outbox.running()) await s.deps.outbox.start()
    }
  })

  test('a fallback template that failed transiently is retried as the template (sentAs kept), never as the customer-service message', async () => {
    const openid = await user()
    const before = sb.calls(CUSTOM)
    sb.inject({ path: '/cgi-bin/message/template/send', errcode: -1 })
    const a = await send({ openids: [openid], type: 'text', text: { content: '您好' }, fallback: { templateId: TPL, data: { thing1: '有新消息' } } }, { wait: false })
    const id = a.recipients[0]!.messageId
    await until(async () => (await message(id)).status === 'sent')
    expect(await message(id)).toMatchObject({ sentAs: 'template', attempts: 2 })
    expect(sb.calls(CUSTOM)).toBe(before)
    expect((await received(openid)).map((r) => r.kind)).toEqual(['template'])
  })

  test('idempotency: the same key and body answer the first answer and send nothing more; another body 409', async () => {
    const openid = await user({ talks: true })
    const body = { openids: [openid], type: 'text', text: { content: '只发一次' }, idempotencyKey: `cs-${openid}` }
    const a = await send(body)
    // A replay answers at once (202), as template replays do.
    const b = await send(body, { expect: 202 })
    expect(b.id).toBe(a.id)
    expect(await received(openid)).toHaveLength(1)
    await send({ ...body, text: { content: '另一条' } }, { expect: 409 })
  })

  test('45009 from custom/send stops that API only: the message stays queued without spinning, templates still go', async () => {
    // A channel of its own (same account), so its quota does not hold up the other tests.
    await s.deps.channels.upsert({ id: 'demo2', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken2' })
    const openid = await user({ talks: true })
    const before = sb.calls(CUSTOM)
    sb.inject({ path: CUSTOM, errcode: 45009 })
    const a = await send({ channel: 'demo2', openids: [openid], type: 'text', text: { content: '您好' } }, { wait: false })
    const id = a.recipients[0]!.messageId
    await until(async () => (await message(id)).errcode === 45009)
    await Bun.sleep(1000)
    expect(await message(id)).toMatchObject({ status: 'queued', errcode: 45009 })
    expect(sb.calls(CUSTOM) - before).toBe(1)
    const st = (await (await api('/api/channels/demo2/token')).json()) as { quota?: Record<string, string> }
    expect(Object.keys(st.quota ?? {})).toEqual(['message/custom/send'])
    const t = await send({ channel: 'demo2', openids: [openid], templateId: TPL, data: { thing1: '照常发送' } })
    expect(t.recipients[0]!.status).toBe('sent')
  })

  test('45009 from template/send pauses templates only: a customer-service message to an open window still goes, found without walking the paused backlog', async () => {
    await s.deps.channels.upsert({ id: 'demo3', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken3' })
    const openid = await user({ talks: true })
    sb.inject({ path: '/cgi-bin/message/template/send', errcode: 45009 })
    const t = await send({ channel: 'demo3', openids: [openid], templateId: TPL, data: { thing1: '配额用尽' } }, { wait: false })
    const tid = t.recipients[0]!.messageId
    await until(async () => (await message(tid)).errcode === 45009)
    const st = (await (await api('/api/channels/demo3/token')).json()) as { quota?: Record<string, string> }
    expect(Object.keys(st.quota ?? {})).toEqual(['message/template/send'])
    const c = await send({ channel: 'demo3', openids: [openid], type: 'text', text: { content: '模板配额用尽时客服消息照发' } })
    expect(c.recipients[0]!.status).toBe('sent')
    expect(await message(tid)).toMatchObject({ status: 'queued', errcode: 45009 })
    expect((await received(openid)).some((r) => r.custom?.msgtype === 'text')).toBe(true)
  })

  test('GET /api/users/:openid: subject, subscribed, the window; an unsubscribe closes it; 422 for an unknown channel', async () => {
    const fresh = await user()
    let res = await api(`/api/users/${fresh}?channel=demo`)
    expect(await res.json()).toEqual({ openid: fresh, channel: 'demo', subscribed: true, window: { open: false, sent: 0 } })

    const clicker = await user({ subject: 'crm-77' })
    expect((await sb.userSends({ openid: clicker, click: 'MENU_HELP' })).status).toBe(200)
    res = await api(`/api/users/${clicker}?channel=demo`)
    const u = (await res.json()) as { subject: string; subscribed: boolean; window: { open: boolean; until: string; sent: number } }
    expect(u).toMatchObject({ subject: 'crm-77', subscribed: true, window: { open: true, sent: 0 } })
    const left = Date.parse(u.window.until) - Date.now()
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThanOrEqual(60_000)

    // WeChat's unsubscribe event (the sandbox does not push one: posted as WeChat would).
    const xml = `<xml><ToUserName>gh_test</ToUserName><FromUserName>${clicker}</FromUserName><CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType>event</MsgType><Event>unsubscribe</Event></xml>`
    expect((await post(`${s.url}/wechat/demo?${signedQuery('demotoken').query}`, xml)).status).toBe(200)
    res = await api(`/api/users/${clicker}?channel=demo`)
    expect(await res.json()).toMatchObject({ subscribed: false, window: { open: false, sent: 0 } })

    expect((await api(`/api/users/${fresh}?channel=nope`)).status).toBe(422)
    const { key } = await s.deps.apiKeys.create('sender-only', ['send'])
    expect((await fetch(`${s.url}/api/users/${fresh}`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(403)
  })
})

describe('answering a received message', () => {
  test('POST /api/inbound/:id/reply sends to the sender of that message; 404 for an unknown id', async () => {
    const openid = await user({ talks: true })
    const list = (await (await api(`/api/inbound?channel=demo&openid=${openid}`)).json()) as { items: { id: string }[] }
    const inboundId = list.items[0]!.id
    const res = await api(`/api/inbound/${inboundId}/reply?wait=true`, { method: 'POST', body: { type: 'text', text: { content: '收到，马上处理' } } })
    expect(res.status).toBe(200)
    const a = (await res.json()) as Answer
    expect(a.recipients).toEqual([{ messageId: expect.any(String), openid, status: 'sent' }])
    expect(await received(openid)).toMatchObject([{ kind: 'custom', custom: { body: { touser: openid, msgtype: 'text', text: { content: '收到，马上处理' } } } }])
    expect((await api('/api/inbound/in_999999999/reply', { method: 'POST', body: { type: 'text', text: { content: 'x' } } })).status).toBe(404)
    expect((await api(`/api/inbound/${inboundId}/reply`, { method: 'POST', body: { type: 'text', text: { content: '' } } })).status).toBe(422)
  })

  test('sendCustomer (for a reply hook\'s late answer): the same outbox, no API key', async () => {
    const openid = await user({ talks: true })
    const { messageId } = await s.deps.send.sendCustomer({ channel: 'demo', openid, message: { type: 'text', text: { content: '稍等，已为您查询' } } })
    await until(async () => (await message(messageId)).status === 'sent')
    expect(await received(openid)).toMatchObject([{ kind: 'custom', custom: { body: { text: { content: '稍等，已为您查询' } } } }])
    // Checked as an API body is: a ValidationError naming the field.
    await expect(s.deps.send.sendCustomer({ channel: 'demo', openid, message: { type: 'text', text: { content: 'x'.repeat(2049) } } })).rejects.toThrow('text.content')
  })

  test('message.sent and message.failed are emitted for customer-service messages, with the message view (type, sentAs)', async () => {
    await addEndpoint(s, { events: ['message.*'] })
    try {
      const talker = await user({ talks: true })
      const sent = (await send({ openids: [talker], type: 'text', text: { content: '您好' } })).recipients[0]!.messageId
      const silent = await user()
      const failed = (await send({ openids: [silent], type: 'text', text: { content: '您好' } })).recipients[0]!.messageId
      const fellBack = (await send({ openids: [silent], type: 'text', text: { content: '您好' }, fallback: { templateId: TPL, data: { thing1: '有新消息' } } })).recipients[0]!.messageId
      const of = async (id: string) => (await storedEvents(s)).filter((e) => e.data.messageId === id).map((e) => [e.type, e.data.type, e.data.error ?? e.data.sentAs ?? null])
      await until(async () => (await of(sent)).length === 1 && (await of(failed)).length === 1 && (await of(fellBack)).length === 1)
      expect((await of(sent))).toEqual([['message.sent', 'text', null]])
      expect((await of(failed))).toEqual([['message.failed', 'text', 'outside_window']])
      expect((await of(fellBack))).toEqual([['message.sent', 'text', 'template']])
    } finally {
      await removeEndpoints(s)
    }
  })

  test('the OpenAPI document lists the customer-service types and the new routes', async () => {
    const doc = JSON.stringify(await (await fetch(`${s.url}/docs/json`)).json())
    for (const t of ['miniprogrampage', 'msgmenu', 'thumbMediaId', 'headContent', 'fallback']) expect(doc).toContain(t)
    expect(doc).toContain('/api/users/{openid}')
    expect(doc).toContain('/api/inbound/{id}/reply')
  })
})
