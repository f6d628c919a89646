/**
 * Reply hooks (SPEC §7) through the real server: callbacks posted as WeChat posts them, a real hook on a
 * loopback port (its requests verified with the standardwebhooks package), the answers WeChat would get.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { aesKeyFrom, decrypt, encrypt } from '../../src/wechat/crypto'
import { msgSignature, sha1Signature, verifyMsgSignature } from '../../src/wechat/signature'
import { parseXml } from '../../src/wechat/xml'
import { ADMIN_TOKEN, PLAIN, SAFE, nowSeconds, post, signedQuery, startTestServer, textXml, type TestServer } from '../support/server'
import { startReceiver, until, type Receiver } from '../support/webhook-receiver'
import { testSql } from '../support/sql'

/** Real time, moved forward where a test lets time pass (WeChat's retry 5 s after a crash). */
let offset = 0
const clock = { now: () => Date.now() + offset }
let s: TestServer
let hook: Receiver
let answer: (body: Record<string, unknown>) => Response | Promise<Response> = () => new Response(null, { status: 204 })
let hookId = ''
beforeAll(async () => {
  s = await startTestServer({ clock, env: { WXGATE_REPLY_TIMEOUT_MS: '800', WXGATE_CALLBACK_MAX_AGE: '0' } })
  hook = startReceiver({ answer: async (r) => answer(JSON.parse(r.body) as Record<string, unknown>) })
  const res = await api('POST', '/api/webhooks', { url: hook.url, reply: true })
  expect(res.status).toBe(201)
  const c = (await res.json()) as { id: string; secret: string; events: string[]; reply: boolean }
  expect(c.reply).toBe(true)
  expect(c.events).toEqual(['message.received', 'menu.clicked', 'user.subscribed', 'user.scanned'])
  hook.secret = c.secret
  hookId = c.id
})
afterAll(async () => { await s?.stop(); await hook?.stop() })
beforeEach(() => { answer = () => new Response(null, { status: 204 }) })

const api = (method: string, path: string, body?: unknown) =>
  fetch(`${s.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
const json = (v: unknown) => new Response(JSON.stringify(v), { status: 200, headers: { 'content-type': 'application/json' } })
const callback = async (xml: string): Promise<{ status: number; body: string; ms: number }> => {
  const t0 = performance.now()
  const res = await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, xml)
  return { status: res.status, body: await res.text(), ms: performance.now() - t0 }
}
let n = 0
const userText = (content: string) => textXml({ content, from: 'o_hook_user', msgId: `83000000000000${String(++n).padStart(5, '0')}` })
const logged = (what: string) => s.logLines.filter((l) => l.includes(what))

describe('reply hook', () => {
  test('a text reply: the user gets the passive reply XML; the hook got the event, signed, with the feed\'s webhook-id', async () => {
    answer = (b) => json({ reply: { type: 'text', content: `你说：${(b.data as { content: string }).content}` } })
    const before = hook.received.length
    const r = await callback(userText('你好'))
    expect(r.status).toBe(200)
    const x = parseXml(r.body)
    expect(x).toMatchObject({ ToUserName: 'o_hook_user', FromUserName: 'gh_test', MsgType: 'text', Content: '你说：你好' })
    expect(hook.received.length).toBe(before + 1)
    const got = hook.received.at(-1)!
    expect(got.verified).toBe(true)
    const ev = JSON.parse(got.body) as { type: string; data: { inboundId: string; content: string } }
    expect(ev.type).toBe('message.received')
    expect(got.id).toMatch(/^evt_[0-9a-z]{9}in[0-9a-z]+$/)
    // The worker does not deliver it again to the hook.
    await Bun.sleep(400)
    expect(hook.received.filter((x) => x.id === got.id)).toHaveLength(1)
  })

  const replyCases: [Record<string, unknown>, Record<string, unknown>][] = [
    [{ type: 'text', content: '文字 reply' }, { MsgType: 'text', Content: '文字 reply' }],
    [{ type: 'image', mediaId: 'm1' }, { MsgType: 'image', Image: { MediaId: 'm1' } }],
    [{ type: 'voice', mediaId: 'm2' }, { MsgType: 'voice', Voice: { MediaId: 'm2' } }],
    [{ type: 'video', mediaId: 'm3', title: 'T', description: 'D' }, { MsgType: 'video', Video: { MediaId: 'm3', Title: 'T', Description: 'D' } }],
    [{ type: 'music', title: 'M', musicUrl: 'http://m/1.mp3', thumbMediaId: 't1' }, { MsgType: 'music', Music: { Title: 'M', MusicUrl: 'http://m/1.mp3', ThumbMediaId: 't1' } }],
    [{ type: 'news', articles: [{ title: 'A', url: 'https://a.example/1', picUrl: 'https://a.example/1.jpg' }] }, { MsgType: 'news', ArticleCount: '1', Articles: { item: { Title: 'A', Url: 'https://a.example/1', PicUrl: 'https://a.example/1.jpg' } } }],
    [{ type: 'transfer_customer_service', kfAccount: 'kf1@test' }, { MsgType: 'transfer_customer_service', TransInfo: { KfAccount: 'kf1@test' } }],
  ]

  test('every reply type becomes WeChat\'s XML (plaintext)', async () => {
    for (const [reply, xml] of replyCases) {
      answer = () => json({ reply })
      const r = await callback(userText(`type ${reply.type}`))
      expect(parseXml(r.body)).toMatchObject({ ToUserName: 'o_hook_user', FromUserName: 'gh_test', ...xml })
    }
  })

  test('every reply type in safe mode: encrypted, and decrypts to WeChat\'s XML', async () => {
    const key = aesKeyFrom(SAFE.aesKey)
    for (const [reply, xml] of replyCases) {
      answer = () => json({ reply })
      const enc = encrypt(userText(`safe ${reply.type}`), key, SAFE.appId, new TextEncoder().encode('0123456789abcdef'))
      const timestamp = nowSeconds()
      const nonce = String(Math.floor(Math.random() * 1e9))
      const q = new URLSearchParams({ signature: sha1Signature([SAFE.token, timestamp, nonce]), timestamp, nonce, openid: 'o_hook_user', encrypt_type: 'aes', msg_signature: msgSignature({ token: SAFE.token, timestamp, nonce, encrypt: enc }) })
      const res = await post(`${s.url}/wechat/${SAFE.id}?${q}`, `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>`)
      const env = parseXml(await res.text())
      expect(typeof env.Encrypt).toBe('string')
      expect(verifyMsgSignature({ token: SAFE.token, timestamp: String(env.TimeStamp), nonce: String(env.Nonce), encrypt: String(env.Encrypt), msgSignature: String(env.MsgSignature) })).toBe(true)
      expect(parseXml(decrypt(String(env.Encrypt), key, SAFE.appId).xml)).toMatchObject(xml)
    }
  })

  test('a retry storm of 20 copies: one hook call, 20 identical replies', async () => {
    let calls = 0
    answer = async () => { calls++; await Bun.sleep(200); return json({ reply: { type: 'text', content: 'once' } }) }
    const xml = userText('storm')
    const rs = await Promise.all(Array.from({ length: 20 }, () => callback(xml)))
    expect(rs.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(new Set(rs.map((r) => r.body)).size).toBe(1)
    expect(parseXml(rs[0]!.body).Content).toBe('once')
    expect(calls).toBe(1)
    // A later retry gets the stored reply without a call.
    expect((await callback(xml)).body).toBe(rs[0]!.body)
    expect(calls).toBe(1)
  })

  test('a hook past the budget: success within the budget, logged; a failing or nonsensical hook: success, logged with what was wrong', async () => {
    answer = async () => { await Bun.sleep(2_000); return json({ reply: { type: 'text', content: 'too late' } }) }
    const late = await callback(userText('slow'))
    expect(late.body).toBe('success')
    expect(late.ms).toBeLessThan(1_800)
    expect(logged('reply hook failed').some((l) => l.includes('budget'))).toBe(true)
    const bad: [() => Response, string][] = [
      [() => new Response('boom', { status: 500 }), 'HTTP 500'],
      [() => new Response('<html>', { status: 200 }), 'not JSON'],
      [() => json({ reply: { type: 'sticker', id: 1 } }), 'reply.type'],
      [() => json({ reply: { type: 'news', articles: [{ title: 'a', url: 'https://x.example/1' }, { title: 'b', url: 'https://x.example/2' }] } }), 'one in answer'],
      [() => json({ reply: { type: 'text', content: '' } }), 'reply.content'],
      [() => json({ reply: { type: 'text', content: '字'.repeat(683) } }), '2048 bytes'],
    ]
    for (const [a, why] of bad) {
      answer = a
      const r = await callback(userText(`bad ${why}`))
      expect(r.body).toBe('success')
      expect(logged('reply hook failed').some((l) => l.includes(why))).toBe(true)
    }
  })

  test('a late answer with lateReply "drop" is dropped (logged)', async () => {
    expect((await api('PATCH', `/api/webhooks/${hookId}`, { lateReply: 'drop' })).status).toBe(200)
    try {
      answer = async () => { await Bun.sleep(1_200); return json({ reply: { type: 'text', content: 'late' } }) }
      expect((await callback(userText('drop me'))).body).toBe('success')
      await until('the late answer seen', () => logged('its reply is dropped').length > 0, 5_000)
    } finally {
      await api('PATCH', `/api/webhooks/${hookId}`, { lateReply: 'send' })
    }
  })

  test('a follow through a bind code is answered by the bind reply, never by the hook; a plain follow goes to the hook', async () => {
    let calls = 0
    answer = () => { calls++; return json({ reply: { type: 'text', content: '欢迎关注' } }) }
    const follow = (key: string, from: string) => `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[${from}]]></FromUserName><CreateTime>${nowSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[${key}]]></EventKey></xml>`
    const plain = await callback(follow('', 'o_hook_follow'))
    expect(parseXml(plain.body).Content).toBe('欢迎关注')
    expect(calls).toBe(1)
    // A scan of a code that is no bind code of ours is user.scanned: the hook answers that too.
    const code = 'A'.repeat(22)
    await testSql(s.deps.db).run("INSERT INTO bind_codes (code, channel_id, subject, status, qr_ticket, qr_url, created_at, expires_at) VALUES (?, 'default', 'crm-1', 'pending', 't', 'u', ?, ?)", code, Date.now(), Date.now() + 600_000)
    const bound = await callback(follow(`qrscene_${code}`, 'o_hook_binder'))
    expect(parseXml(bound.body).Content).toContain('绑定')
    expect(calls).toBe(1)
  })

  test('at most one reply hook per channel: a second one is a 409', async () => {
    const res = await api('POST', '/api/webhooks', { url: hook.url, reply: true })
    expect(res.status).toBe(409)
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('at most one per channel')
  })
})

describe('reply hook after a crash', () => {
  test('a retry that finds the first attempt\'s hook unfinished (the process died) asks the hook again, with the same webhook-id', async () => {
    let calls = 0
    answer = () => { calls++; return json({ reply: { type: 'text', content: 'asked again' } }) }
    const xml = userText('crashed')
    const first = await callback(xml)
    expect(parseXml(first.body).Content).toBe('asked again')
    const id1 = hook.received.at(-1)!.id
    // As the database is after a crash during the hook's call: the row stored, its reply pending (''); WeChat's
    // retry comes 5 s later (on a shared database a retry sooner waits for the first attempt, which may still
    // be running on another instance).
    await testSql(s.deps.db).run("UPDATE inbound_messages SET reply = '' WHERE from_user = 'o_hook_user' AND body LIKE '%crashed%'")
    offset += 6000
    const again = await callback(xml)
    expect(parseXml(again.body).Content).toBe('asked again')
    expect(calls).toBe(2)
    expect(hook.received.at(-1)!.id).toBe(id1)
    // Stored again: the next retry is answered without a call.
    expect((await callback(xml)).body).toBe(again.body)
    expect(calls).toBe(2)
  })
})
