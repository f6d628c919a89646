/**
 * message.sent / message.delivered / message.failed (SPEC §6) from their real causes: sends through the real
 * server to the sandbox WeChat (its answer, its TEMPLATESENDJOBFINISH pushed to our callback URL, errcodes it
 * is told to answer), and an accept to an unsubscribed binding. Asserts on the committed event rows; the data
 * is the message as GET /api/messages/:id shows it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { bindingsRepo } from '../../src/store/sqlite/bindings.repo'
import { addEndpoint, removeEndpoints, storedEvents, type StoredEvent } from '../support/event-rows'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

const APP = DEMO_ACCOUNT.appId
// Real time plus an offset a test moves forward (the 9-minute rule).
let offset = 0
const clock = { now: () => Date.now() + offset }

let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox()
  s = await startTestServer({ clock, wechatTimeoutMs: 1200, env: { WXGATE_WECHAT_API: sb.url, WXGATE_CALLBACK_MAX_AGE: '0', WXGATE_SEND_RATE: '200' } })
  await s.deps.channels.upsert({ id: 'demo', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
  sb.setCallback(APP, { url: `${s.url}/wechat/demo`, token: 'demotoken' })
})
afterAll(async () => { await s.stop(); await sb.stop() })
beforeEach(async () => { await removeEndpoints(s); await addEndpoint(s, { events: ['message.*'] }) })

const api = async (path: string, body?: unknown) => {
  const res = await fetch(`${s.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  return { status: res.status, body: (await res.json()) as any }
}

let n = 0
const user = async (status: 'active' | 'unsubscribed' = 'active') => {
  const subject = `ev-send-${++n}`
  const openid = `o_ev_send_${n}`
  sb.addUser(APP, openid)
  await s.deps.db.tx((orm) => {
    orm.bindings.bind({ id: `bnd_evs${n}`, channelId: 'demo', openid, subject, code: 'test', now: clock.now() })
    if (status === 'unsubscribed') orm.bindings.setStatus({ channelId: 'demo', openid, status, now: clock.now() })
  })
  return subject
}
const send = async (subject: string): Promise<string> => {
  const res = await api('/api/send', { channel: 'demo', to: subject, templateId: 'TPL_DEMO_ORDER_PAID', data: { thing1: '巧克力', amount2: '¥39.80' } })
  expect(res.status).toBe(202)
  return res.body.recipients[0].messageId
}
const eventsOf = async (messageId: string): Promise<StoredEvent[]> => (await storedEvents(s)).filter((e) => e.data.messageId === messageId)
const until = async (f: () => boolean | Promise<boolean>, ms = 8000) => {
  const end = Date.now() + ms
  while (!(await f())) {
    if (Date.now() > end) throw new Error('timed out')
    await Bun.sleep(20)
  }
}

describe('message events', () => {
  test('a send → message.sent (the outbox result) then message.delivered (TEMPLATESENDJOBFINISH), each the message view', async () => {
    const id = await send(await user())
    await until(async () => (await eventsOf(id)).length >= 2)
    const [sent, delivered] = (await eventsOf(id))
    expect(sent!.type).toBe('message.sent')
    expect(sent!.channelId).toBe('demo')
    expect(sent!.data).toMatchObject({ messageId: id, channel: 'demo', status: 'sent', attempts: 1 })
    expect(typeof sent!.data.wechatMsgId).toBe('string')
    expect(delivered!.type).toBe('message.delivered')
    const view = (await api(`/api/messages/${id}`)).body
    expect(delivered!.data).toEqual(view)
  })

  test('a failed delivery report → message.failed with the error', async () => {
    try {
      sb.setTemplateFinish({ status: 'failed:user block' })
      const id = await send(await user())
      await until(async () => (await eventsOf(id)).length >= 2)
      expect((await eventsOf(id)).map((e) => e.type)).toEqual(['message.sent', 'message.failed'])
      expect((await eventsOf(id))[1]!.data).toMatchObject({ status: 'failed', error: 'user_blocked' })
    } finally {
      sb.setTemplateFinish({ status: 'success' })
    }
  })

  test('a permanent errcode → message.failed from the outbox', async () => {
    sb.inject({ path: '/cgi-bin/message/template/send', errcode: 40037 })
    const id = await send(await user())
    await until(async () => (await eventsOf(id)).length >= 1)
    await Bun.sleep(100)
    expect((await eventsOf(id)).map((e) => e.type)).toEqual(['message.failed'])
    expect((await eventsOf(id))[0]!.data).toMatchObject({ messageId: id, status: 'failed', errcode: 40037 })
  })

  test('a recipient whose binding is unsubscribed → message.failed not_subscribed in the accept transaction', async () => {
    const id = await send(await user('unsubscribed'))
    // Written with the accept: there before the answer came back.
    expect((await eventsOf(id)).map((e) => e.type)).toEqual(['message.failed'])
    expect((await eventsOf(id))[0]!.data).toMatchObject({ messageId: id, status: 'failed', error: 'not_subscribed', subject: `ev-send-${n}` })
  })

  test('delivery_unknown (the 9-minute rule) → message.failed', async () => {
    const subject = await user()
    sb.inject({ path: '/cgi-bin/message/template/send', delayMs: 3000 })
    const before = sb.calls('/cgi-bin/message/template/send')
    const id = await send(subject)
    await until(async () => sb.calls('/cgi-bin/message/template/send') > before)
    offset += 9 * 60_000
    await until(async () => (await eventsOf(id)).length >= 1, 10_000)
    expect((await eventsOf(id)).map((e) => e.type)).toEqual(['message.failed'])
    expect((await eventsOf(id))[0]!.data).toMatchObject({ status: 'failed', error: 'delivery_unknown' })
  })

  test('retries are no events: a transient errcode then success → one message.sent', async () => {
    sb.setTemplateFinish(false)
    try {
      sb.inject({ path: '/cgi-bin/message/template/send', errcode: -1 })
      const id = await send(await user())
      await until(async () => (await eventsOf(id)).length >= 1)
      await Bun.sleep(200)
      expect((await eventsOf(id)).map((e) => e.type)).toEqual(['message.sent'])
      expect((await eventsOf(id))[0]!.data.attempts).toBe(2)
    } finally {
      sb.setTemplateFinish({ status: 'success' })
    }
  })
})
