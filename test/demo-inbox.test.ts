/** @module The demo inbox: verifies with standardwebhooks, refuses a bad signature, dedups on webhook-id, filters by type. */
import { afterEach, expect, test } from 'bun:test'
import { startDemoInbox, type DemoInbox } from '../src/demo-inbox'
import { sign } from '../src/lib/standard-webhooks'

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
const OTHER = `whsec_${Buffer.alloc(32, 9).toString('base64')}`
const inboxes: DemoInbox[] = []
afterEach(async () => {
  await Promise.all(inboxes.splice(0).map((i) => i.stop()))
})

const deliver = (inbox: DemoInbox, id: string, type: string, secret = SECRET) => {
  const body = JSON.stringify({ type, timestamp: new Date().toISOString(), data: { n: id } })
  const ts = Math.floor(Date.now() / 1000)
  return fetch(inbox.webhookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': sign(secret, id, ts, body) },
    body,
  })
}

test('verified deliveries are listed newest first; a repeat counts as an attempt; a bad signature is 401 and listed unverified', async () => {
  const inbox = startDemoInbox()
  inboxes.push(inbox)
  // Before the secret is known nothing verifies.
  expect((await deliver(inbox, 'evt_early', 'webhook.test')).status).toBe(401)
  inbox.setSecret(SECRET)
  expect((await deliver(inbox, 'evt_early', 'webhook.test')).status).toBe(204)
  expect((await deliver(inbox, 'evt_1', 'message.received')).status).toBe(204)
  expect((await deliver(inbox, 'evt_1', 'message.received')).status).toBe(204)
  expect((await deliver(inbox, 'evt_bad', 'message.received', OTHER)).status).toBe(401)

  const all = (await (await fetch(inbox.eventsUrl)).json()) as { events: Record<string, unknown>[] }
  expect(all.events.map((e) => [e.webhookId, e.verified, e.attempts])).toEqual([['evt_bad', false, 1], ['evt_1', true, 2], ['evt_early', true, 2]])
  expect(all.events[0]!.error).toBe('No matching signature found')
  expect(all.events[1]).toMatchObject({ type: 'message.received', data: { n: 'evt_1' } })
  const only = (await (await fetch(`${inbox.eventsUrl}?type=webhook.test`)).json()) as { events: Record<string, unknown>[] }
  expect(only.events.map((e) => e.webhookId)).toEqual(['evt_early'])
  expect((await fetch(inbox.webhookUrl.replace('/webhook', '/nope'))).status).toBe(404)
})

test('the demo reply hook: "你说：<text>" for a user\'s text, a welcome for a follow, 204 for other events; a bad signature is 401', async () => {
  const inbox = startDemoInbox()
  inboxes.push(inbox)
  inbox.setReplySecret(SECRET)
  const ask = (type: string, data: Record<string, unknown>, secret = SECRET) => {
    const body = JSON.stringify({ type, timestamp: new Date().toISOString(), data })
    const ts = Math.floor(Date.now() / 1000)
    return fetch(inbox.replyUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': 'evt_r', 'webhook-timestamp': String(ts), 'webhook-signature': sign(secret, 'evt_r', ts, body) }, body })
  }
  expect(await (await ask('message.received', { content: '你好' })).json()).toEqual({ reply: { type: 'text', content: '你说：你好' } })
  expect(((await (await ask('user.subscribed', {})).json()) as { reply: { content: string } }).reply.content).toContain('欢迎关注')
  expect((await ask('user.scanned', { scene: '1' })).status).toBe(204)
  expect((await ask('message.received', { content: 'x' }, OTHER)).status).toBe(401)
})
