/**
 * Reply hooks under load (issue 13): 100 users' messages at once to a hook that takes 2 s. Every answer comes
 * within WeChat's 5 s, and a write meanwhile (a send accepted) is not held up: the hook is called outside the
 * write transaction.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { parseXml } from '../../src/wechat/xml'
import { ADMIN_TOKEN, PLAIN, post, signedQuery, startTestServer, textXml, type TestServer } from '../support/server'
import { startReceiver, type Receiver } from '../support/webhook-receiver'
import { testSql } from '../support/sql'

let s: TestServer
let hook: Receiver
beforeAll(async () => {
  s = await startTestServer({ env: { WXGATE_CALLBACK_MAX_AGE: '0' } })
  hook = startReceiver({ answer: async (r) => {
    await Bun.sleep(2_000)
    const content = (JSON.parse(r.body) as { data: { content: string } }).data.content
    return new Response(JSON.stringify({ reply: { type: 'text', content: `你说：${content}` } }), { headers: { 'content-type': 'application/json' } })
  } })
  const res = await fetch(`${s.url}/api/webhooks`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ url: hook.url, reply: true }) })
  expect(res.status).toBe(201)
})
afterAll(async () => { await s?.stop(); await hook?.stop() })

test('100 concurrent messages to a 2 s hook: all answered with the reply within 5 s; a send accepted meanwhile is not held up', async () => {
  // A binding to send to, and a baseline for the send's own time.
  await (await testSql(s.deps.db).run("INSERT INTO bindings (id, channel_id, openid, subject, status, code, bound_at, updated_at) VALUES ('bnd_load', 'default', 'o_load_bound', 'crm-load', 'active', 'c', ?, ?)", Date.now(), Date.now()))
  const sendOnce = async (): Promise<number> => {
    const t0 = performance.now()
    const res = await fetch(`${s.url}/api/send`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: 'crm-load', templateId: 'tpl_load', data: { thing1: 'x' } }) })
    expect(res.status).toBe(202)
    await res.arrayBuffer()
    return performance.now() - t0
  }
  const baseline = Math.min(await sendOnce(), await sendOnce(), await sendOnce())
  const t0 = performance.now()
  const calls = Array.from({ length: 100 }, async (_, i) => {
    const res = await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml({ content: `m${i}`, from: `o_load_${i}`, msgId: `84000000000000${String(i).padStart(5, '0')}` }))
    const body = await res.text()
    return { status: res.status, content: parseXml(body).Content, ms: performance.now() - t0 }
  })
  await Bun.sleep(500) // the hook calls are running now
  const during = await sendOnce()
  const answers = await Promise.all(calls)
  expect(answers.every((a) => a.status === 200)).toBe(true)
  expect(answers.map((a) => a.content)).toEqual(Array.from({ length: 100 }, (_, i) => `你说：m${i}`))
  expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(5_000)
  expect(during - baseline).toBeLessThan(50)
})
