/**
 * A message's whole life against the sandbox WeChat (SPEC §4 "Sending"): queued → sent (WeChat's answer) →
 * delivered or failed (WeChat's TEMPLATESENDJOBFINISH event, which the sandbox pushes to the gateway's
 * callback URL, encrypted in safe mode, 200 ms after the send, as `wxgate demo` runs it).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { bindingsRepo } from '../../src/store/sqlite/bindings.repo'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

const APP = DEMO_ACCOUNT.appId
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'

let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  // The default report: success, 200 ms after the send.
  sb = await startSandbox()
  s = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url, WXGATE_SEND_RATE: '200' } })
  await s.deps.channels.upsert({ id: 'demo', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken', aesKey: AES_KEY })
  sb.setCallback(APP, { url: `${s.url}/wechat/demo`, token: 'demotoken', aesKey: AES_KEY })
})
afterAll(async () => { await s.stop(); await sb.stop() })

const api = (path: string, body?: unknown) =>
  fetch(`${s.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })

let n = 0
const sendOne = async () => {
  const subject = `life-${++n}`
  const openid = `o_life_${n}`
  sb.addUser(APP, openid)
  await s.deps.db.tx((orm) => orm.bindings.bind({ id: `bnd_life${n}`, channelId: 'demo', openid, subject, code: 'test', now: Date.now() }))
  const res = await api('/api/send?wait=true', { channel: 'demo', to: subject, templateId: 'TPL_DEMO_ORDER_PAID', data: { thing1: '巧克力', amount2: '¥39.80' } })
  expect(res.status).toBe(200)
  const a = (await res.json()) as { recipients: { messageId: string; status: string }[] }
  // sent (the event comes 200 ms later; delivered only if this machine stalled that long in between).
  expect(a.recipients[0]!.status).toMatch(/^(sent|delivered)$/)
  return a.recipients[0]!.messageId
}

interface Message { status: string; error?: string; wechatMsgId?: string; sentAt?: string; finishedAt?: string }
const finished = async (id: string): Promise<Message> => {
  const end = Date.now() + 8000
  for (;;) {
    const m = (await (await api(`/api/messages/${id}`)).json()) as Message
    if (m.status !== 'sent' || Date.now() > end) return m
    await Bun.sleep(25)
  }
}

describe('TEMPLATESENDJOBFINISH from the sandbox', () => {
  test('a send reaches delivered, with its WeChat msgid and finishedAt after sentAt', async () => {
    const id = await sendOne()
    const m = await finished(id)
    expect(m.status).toBe('delivered')
    expect(m.wechatMsgId).toBe(sb.delivered(APP).find((d) => d.client_msg_id === id)!.msgid)
    expect(Date.parse(m.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(m.sentAt!))
  })

  test('a configured failure: failed:user block → failed user_blocked; failed: system failed → wechat_system_failed', async () => {
    try {
      sb.setTemplateFinish({ status: 'failed:user block' })
      expect(await finished(await sendOne())).toMatchObject({ status: 'failed', error: 'user_blocked' })
      sb.setTemplateFinish({ status: 'failed: system failed' })
      expect(await finished(await sendOne())).toMatchObject({ status: 'failed', error: 'wechat_system_failed' })
    } finally {
      sb.setTemplateFinish({ status: 'success' })
    }
  })

  test('with the reports off the message stays sent', async () => {
    try {
      sb.setTemplateFinish(false)
      const id = await sendOne()
      await Bun.sleep(500)
      expect((await (await api(`/api/messages/${id}`)).json() as Message).status).toBe('sent')
    } finally {
      sb.setTemplateFinish({ status: 'success' })
    }
  })
})
