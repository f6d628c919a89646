/** The outbox's per-channel send rate (WXGATE_SEND_RATE) on the real server, against the sandbox. */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox()
  s = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url, WXGATE_SEND_RATE: '10', WXGATE_SEND_CONCURRENCY: '8' } })
  await s.deps.channels.upsert({ id: 'demo', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
  for (let i = 0; i < 25; i++) sb.addUser(DEMO_ACCOUNT.appId, `o_rate_${i}`, { subscribed: true })
})
afterAll(async () => { await s.stop(); await sb.stop() })

test('25 messages at 10/s: spread over ~2.4 s, never more than 11 in any second, in order', async () => {
  // The token first: its fetch has transactions of its own (the day's row, its lease, the token), not counted below.
  await s.deps.tokens.getToken('demo')
  const jobsBefore = s.deps.db.stats().jobs
  const res = await fetch(`${s.url}/api/send`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'demo', openids: Array.from({ length: 25 }, (_, i) => `o_rate_${i}`), templateId: 'TPL_DEMO_ORDER_PAID', data: { thing1: '限速' } }),
  })
  expect(res.status).toBe(202)
  const end = Date.now() + 10_000
  while (sb.delivered(DEMO_ACCOUNT.appId).length < 25 && Date.now() < end) await Bun.sleep(50)
  const at = sb.received('/cgi-bin/message/template/send').map((c) => c.at)
  expect(at).toHaveLength(25)
  const span = at.at(-1)! - at[0]!
  expect(span).toBeGreaterThanOrEqual(2000)
  // The rate is the point (the lower bound and the per-second cap); the upper bound only says it does not stall,
  // with room for a loaded machine.
  expect(span).toBeLessThan(6000)
  for (const t of at) expect(at.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(11)
  expect(sb.delivered(DEMO_ACCOUNT.appId).map((d) => d.touser)).toEqual(Array.from({ length: 25 }, (_, i) => `o_rate_${i}`))
  // The bucket lives in the database (shared by instances) but costs SQLite no extra transaction: the take is a
  // statement of the claim's; a pass that finds the bucket short waits for its refill without asking again.
  // Transactions: the accept, one claim per token (burst 1) and one result per message — not one per pass.
  const end2 = Date.now() + 5000
  while ((await s.deps.db.read.messages.list({ status: 'sent', limit: 30 })).length < 25 && Date.now() < end2) await Bun.sleep(20)
  await Bun.sleep(300)
  expect(s.deps.db.stats().jobs - jobsBefore).toBeLessThanOrEqual(1 + 25 + 25 + 3)
}, 15_000)
