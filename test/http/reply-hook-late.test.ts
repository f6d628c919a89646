/**
 * A reply hook's late answer (SPEC §7) end to end: the sandbox user writes (the sandbox pushes it to the
 * gateway as WeChat does), the hook answers after the budget: WeChat got `success` in time, and the answer
 * reaches the user as one customer-service message, which the sandbox user receives.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'
import { startReceiver, until, type Receiver } from '../support/webhook-receiver'

const APP = DEMO_ACCOUNT.appId
let sb: Sandbox
let s: TestServer
let hook: Receiver
let delayMs = 0
beforeAll(async () => {
  sb = await startSandbox({ templateFinish: false })
  s = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url, WXGATE_CALLBACK_MAX_AGE: '0', WXGATE_REPLY_TIMEOUT_MS: '1000' } })
  await s.deps.channels.upsert({ id: 'demo', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
  sb.setCallback(APP, { url: `${s.url}/wechat/demo`, token: 'demotoken' })
  hook = startReceiver({ answer: async (r) => {
    await Bun.sleep(delayMs)
    const content = (JSON.parse(r.body) as { data: { content: string } }).data.content
    return Response.json({ reply: { type: 'text', content: `迟到的回复：${content}` } })
  } })
  const res = await fetch(`${s.url}/api/webhooks`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ url: hook.url, reply: true, channel: 'demo' }) })
  expect(res.status).toBe(201)
})
afterAll(async () => { await s?.stop(); await sb?.stop(); await hook?.stop() })

const received = async (openid: string) =>
  ((await (await fetch(`${sb.url}/_sandbox/users/${openid}/received`)).json()) as { received: { kind: string; custom?: { msgtype: string; body: Record<string, unknown> } }[] }).received

test('in time: the passive reply; late (answered at 2.5 s, budget 1 s): success in time, then one customer-service message', async () => {
  sb.addUser(APP, 'o_late_1', { subscribed: true })
  delayMs = 0
  const quick = await sb.userSends({ openid: 'o_late_1', text: '快' })
  expect(quick.status).toBe(200)
  expect(quick.replyText).toBe('迟到的回复：快')

  delayMs = 2_500
  const t0 = performance.now()
  const slow = await sb.userSends({ openid: 'o_late_1', text: '慢' })
  expect(performance.now() - t0).toBeLessThan(2_000)
  expect(slow.status).toBe(200)
  expect(slow.replyText).toBeUndefined()
  await until('the customer-service message', async () => (await received('o_late_1')).some((r) => r.kind === 'custom'), 10_000)
  await Bun.sleep(300)
  const custom = (await received('o_late_1')).filter((r) => r.kind === 'custom')
  expect(custom).toHaveLength(1)
  expect(custom[0]!.custom).toMatchObject({ msgtype: 'text', body: { touser: 'o_late_1', msgtype: 'text', text: { content: '迟到的回复：慢' } } })
  expect(s.logLines.some((l) => l.includes('goes to the user as a customer-service message'))).toBe(true)
})
