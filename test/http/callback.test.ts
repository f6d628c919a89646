/**
 * Every row of SPEC §3 against the real server on a loopback port with a real SQLite file:
 * verification, plaintext/compatible/safe POST, the 401/404/413/400 checks, replies, dedup.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { PASS, type Rule } from '../../src/domain/dispatch'
import { aesKeyFrom, decrypt, encrypt } from '../../src/wechat/crypto'
import { msgSignature, sha1Signature, verifyMsgSignature } from '../../src/wechat/signature'
import { parseXml } from '../../src/wechat/xml'
import vectors from '../fixtures/vectors.json'
import { PLAIN, SAFE, nowSeconds, post, signedQuery, startTestServer, textXml, type TestServer } from '../support/server'
import { effectCount, effectKeys, testSql, writeEffect } from '../support/sql'

const effects = (s: TestServer) => effectCount(s.deps.db)
const stored = async (s: TestServer) => ((await testSql(s.deps.db).get('SELECT count(*) AS n FROM inbound_messages')) as { n: number }).n

/** Test rules: text → a text reply and one effect row; 'pass' falls through to the next rule. */
const rules: Rule[] = [
  {
    name: 'test-pass',
    match: (m) => m.msgType === 'text' && 'content' in m && m.content === 'pass',
    handle: () => PASS,
  },
  {
    name: 'test-echo',
    match: (m) => m.msgType === 'text',
    handle: async ({ message, store }) => {
      // Written through the transaction's store: it commits with the callback or not at all.
      await writeEffect(store, 'msgId' in message ? String(message.msgId) : '')
      return { type: 'text', content: `收到: ${'content' in message ? message.content : ''}` }
    },
  },
]

let s: TestServer
/** The server whose rules run now (the rules write the test's effects on its connection). */
let current: TestServer
beforeAll(async () => {
  s = current = await startTestServer({ rules })
})
afterAll(() => s.stop())

describe('GET verification', () => {
  test('a valid signature echoes echostr exactly, as text/plain', async () => {
    const { query } = signedQuery(PLAIN.token, { echostr: '4375120948345356249' })
    const res = await fetch(`${s.url}/wechat?${query}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('text/plain')
    expect(await res.text()).toBe('4375120948345356249')
  })

  test('/wechat/:channelId serves that channel', async () => {
    const { query } = signedQuery(SAFE.token, { echostr: 'abc' })
    const res = await fetch(`${s.url}/wechat/${SAFE.id}?${query}`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('abc')
  })

  test('a wrong signature is 401', async () => {
    const { query } = signedQuery('wrong-token', { echostr: 'abc' })
    const res = await fetch(`${s.url}/wechat?${query}`)
    expect(res.status).toBe(401)
    expect(await res.text()).not.toContain('abc')
  })

  test('missing parameters are 401', async () => {
    expect((await fetch(`${s.url}/wechat?echostr=abc`)).status).toBe(401)
  })

  test('an unknown channel is 404', async () => {
    const { query } = signedQuery(PLAIN.token, { echostr: 'abc' })
    expect((await fetch(`${s.url}/wechat/nope?${query}`)).status).toBe(404)
  })

  test('a timestamp older than WXGATE_CALLBACK_MAX_AGE is 401 and the log says to check the clock', async () => {
    const old = String(Math.floor(Date.now() / 1000) - 301)
    const { query } = signedQuery(PLAIN.token, { echostr: 'abc' }, old)
    expect((await fetch(`${s.url}/wechat?${query}`)).status).toBe(401)
    expect(s.logLines.some((l) => l.includes('check the server clock'))).toBe(true)
    const future = String(Math.floor(Date.now() / 1000) + 301)
    expect((await fetch(`${s.url}/wechat?${signedQuery(PLAIN.token, { echostr: 'abc' }, future).query}`)).status).toBe(401)
  })

  test('the official GET vector verifies when the clock is at its time (window off)', async () => {
    const v = vectors.signature[0]!
    const t = await startTestServer({ env: { WXGATE_CALLBACK_MAX_AGE: '0' } })
    try {
      await t.deps.channels.upsert({ id: 'official', appId: 'wxofficial', appSecret: 'x-secret', token: v.token })
      const res = await fetch(`${t.url}/wechat/official?signature=${v.signature}&timestamp=${v.timestamp}&nonce=${v.nonce}&echostr=${v.echostr}`)
      expect(res.status).toBe(200)
      expect(await res.text()).toBe(v.echostr!)
    } finally {
      await t.stop()
    }
  })
})

describe('POST plaintext mode', () => {
  test('a text message gets the handler reply as XML, with 200', async () => {
    const { query } = signedQuery(PLAIN.token)
    const res = await post(`${s.url}/wechat?${query}`, textXml({ content: '你好 👋 世界', msgId: '6054768590064713728' }))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('application/xml')
    const reply = parseXml(await res.text())
    expect(reply.MsgType).toBe('text')
    expect(reply.Content).toBe('收到: 你好 👋 世界')
    expect(reply.ToUserName).toBe('o_user_1')
    expect(reply.FromUserName).toBe('gh_test')
    // MsgId stays a string: 6054768590064713728 > 2^53 must not become ...714000.
    const row = (await testSql(s.deps.db).get("SELECT dedup_key FROM inbound_messages WHERE dedup_key LIKE '%6054768590064713728%'"))
    expect(row).not.toBeNull()
  })

  test('a user who types markup ("<!DOCTYPE html>", "]]>") gets an answer, not a 400', async () => {
    const res = await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml({ content: '<!DOCTYPE html> <b>&amp;' }))
    expect(res.status).toBe(200)
    expect(parseXml(await res.text()).Content).toBe('收到: <!DOCTYPE html> <b>&amp;')
  })

  test('an unknown message type is stored and answered success', async () => {
    const before = await stored(s)
    const xml = `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o_u]]></FromUserName><CreateTime>${nowSeconds()}</CreateTime><MsgType><![CDATA[hologram]]></MsgType><MsgId>77777777777777777</MsgId></xml>`
    const res = await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, xml)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('success')
    expect(await stored(s)).toBe(before + 1)
    const row = (await testSql(s.deps.db).get("SELECT msg_type, handled_by, reply FROM inbound_messages WHERE msg_type = 'hologram'")) as Record<string, string>
    expect(row).toEqual({ msg_type: 'hologram', handled_by: 'unhandled', reply: 'success' })
  })

  test('an unknown event is stored and answered success', async () => {
    const xml = `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o_u]]></FromUserName><CreateTime>${nowSeconds()}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[brand_new_event]]></Event></xml>`
    const res = await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, xml)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('success')
    expect((await testSql(s.deps.db).get("SELECT 1 FROM inbound_messages WHERE event = 'brand_new_event'"))).not.toBeNull()
  })

  test('a rule that passes leaves the message to the next rule', async () => {
    const res = await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml({ content: 'pass' }))
    expect(parseXml(await res.text()).Content).toBe('收到: pass')
  })

  test('every sample message and event of the official docs is answered 200', async () => {
    const names = Object.keys(vectors.samples).filter((k) => !k.startsWith('reply_') && !['compat_mode_post_body', 'safe_mode_post_body', 'encrypted_reply_envelope'].includes(k))
    expect(names.length).toBeGreaterThan(25)
    for (const name of names) {
      const xml = (vectors.samples as Record<string, string>)[name]!
      const res = await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, xml)
      expect(`${name}: ${res.status}`).toBe(`${name}: 200`)
    }
  })
})

describe('refused before any business logic, nothing stored', () => {
  const refused = async (status: number, url: string, body: string) => {
    const before = await stored(s)
    const effectsBefore = await effects(s)
    const res = await post(url, body)
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type') ?? '').not.toContain('json')
    expect(await stored(s)).toBe(before)
    expect(await effects(s)).toBe(effectsBefore)
  }

  test('wrong signature → 401', () => refused(401, `${s.url}/wechat?${signedQuery('not-the-token').query}`, textXml()))
  test('no signature → 401', () => refused(401, `${s.url}/wechat`, textXml()))
  test('stale timestamp → 401', () => refused(401, `${s.url}/wechat?${signedQuery(PLAIN.token, {}, String(Math.floor(Date.now() / 1000) - 1000)).query}`, textXml()))
  test('unknown channel → 404', () => refused(404, `${s.url}/wechat/ghost?${signedQuery(PLAIN.token).query}`, textXml()))
  test('body over 64 KiB → 413', () => refused(413, `${s.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml({ content: 'x'.repeat(65 * 1024) })))
  test('malformed XML → 400', () => refused(400, `${s.url}/wechat?${signedQuery(PLAIN.token).query}`, '<xml><MsgType>text</MsgType><Content>unclosed</xml>'))
  test('not XML at all → 400', () => refused(400, `${s.url}/wechat?${signedQuery(PLAIN.token).query}`, '{"MsgType":"text"}'))
  test('empty body → 400', () => refused(400, `${s.url}/wechat?${signedQuery(PLAIN.token).query}`, ''))
  test('DOCTYPE → 400', () => refused(400, `${s.url}/wechat?${signedQuery(PLAIN.token).query}`, `<?xml version="1.0"?><!DOCTYPE xml [<!ELEMENT xml ANY>]>${textXml()}`))
  test('entity bomb → 400', () => refused(400, `${s.url}/wechat?${signedQuery(PLAIN.token).query}`,
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>'))
  test('external entity (XXE) → 400', () => refused(400, `${s.url}/wechat?${signedQuery(PLAIN.token).query}`,
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>'))
  test('missing MsgType → 400', () => refused(400, `${s.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml().replace(/<MsgType>.*<\/MsgType>/, '')))
  test('missing FromUserName → 400', () => refused(400, `${s.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml().replace(/<FromUserName>.*<\/FromUserName>/, '')))
  test('text message without MsgId → 400', () => refused(400, `${s.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml().replace(/<MsgId>.*<\/MsgId>/, '')))
  test('invalid UTF-8 → 400', async () => {
    const before = await stored(s)
    const bytes = new Uint8Array([...new TextEncoder().encode('<xml><Content>'), 0xff, 0xfe, ...new TextEncoder().encode('</Content></xml>')])
    const res = await fetch(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, { method: 'POST', body: bytes })
    expect(res.status).toBe(400)
    expect(await stored(s)).toBe(before)
  })
  test('a chunked body over 64 KiB (no Content-Length) → 413', async () => {
    const before = await stored(s)
    const big = textXml({ content: 'y'.repeat(70 * 1024) })
    const stream = new ReadableStream({ start(c) { const b = new TextEncoder().encode(big); for (let i = 0; i < b.length; i += 8192) c.enqueue(b.slice(i, i + 8192)); c.close() } })
    const res = await fetch(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, { method: 'POST', body: stream })
    expect(res.status).toBe(413)
    expect(await stored(s)).toBe(before)
  })
})

describe('safe (AES) mode', () => {
  const key = aesKeyFrom(SAFE.aesKey)
  const envelope = (plain: string, appId = SAFE.appId, extra: Record<string, string> = {}) => {
    const enc = encrypt(plain, key, appId, new TextEncoder().encode('0123456789abcdef'))
    const timestamp = nowSeconds()
    const nonce = String(Math.floor(Math.random() * 1e9))
    const q = new URLSearchParams({
      signature: sha1Signature([SAFE.token, timestamp, nonce]), timestamp, nonce, openid: 'o_user_1', encrypt_type: 'aes',
      msg_signature: msgSignature({ token: SAFE.token, timestamp, nonce, encrypt: enc }), ...extra,
    })
    return { url: `${s.url}/wechat/${SAFE.id}?${q}`, body: `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>`, nonce, enc }
  }

  test('an encrypted message is decrypted and the reply is an encrypted envelope with a valid msg_signature', async () => {
    const e = envelope(textXml({ content: '加密 🔐' }))
    const res = await post(e.url, e.body)
    expect(res.status).toBe(200)
    const env = parseXml(await res.text())
    expect(typeof env.Encrypt).toBe('string')
    expect(env.Nonce).toBe(e.nonce)
    expect(verifyMsgSignature({ token: SAFE.token, timestamp: String(env.TimeStamp), nonce: String(env.Nonce), encrypt: String(env.Encrypt), msgSignature: String(env.MsgSignature) })).toBe(true)
    const inner = parseXml(decrypt(String(env.Encrypt), key, SAFE.appId).xml)
    expect(inner.Content).toBe('收到: 加密 🔐')
  })

  test('a retry gets the same plaintext reply, encrypted anew', async () => {
    const e = envelope(textXml({ content: 'again' }))
    const a = parseXml(await (await post(e.url, e.body)).text())
    const b = parseXml(await (await post(e.url, e.body)).text())
    expect(decrypt(String(a.Encrypt), key, SAFE.appId).xml).toBe(decrypt(String(b.Encrypt), key, SAFE.appId).xml)
  })

  test('a wrong msg_signature → 401, nothing stored', async () => {
    const before = await stored(s)
    const e = envelope(textXml(), SAFE.appId, { msg_signature: 'f'.repeat(40) })
    expect((await post(e.url, e.body)).status).toBe(401)
    expect(await stored(s)).toBe(before)
  })

  test('the wrong AppID inside the ciphertext → 401, nothing stored', async () => {
    const before = await stored(s)
    const e = envelope(textXml(), 'wx0000000000000000')
    expect((await post(e.url, e.body)).status).toBe(401)
    expect(await stored(s)).toBe(before)
  })

  test('truncated base64 → 400, nothing stored', async () => {
    const before = await stored(s)
    const e = envelope(textXml())
    const cut = e.enc.slice(0, e.enc.length - 7)
    const timestamp = nowSeconds()
    const nonce = '42'
    const q = new URLSearchParams({ signature: sha1Signature([SAFE.token, timestamp, nonce]), timestamp, nonce, encrypt_type: 'aes', msg_signature: msgSignature({ token: SAFE.token, timestamp, nonce, encrypt: cut }) })
    const res = await post(`${s.url}/wechat/${SAFE.id}?${q}`, `<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[${cut}]]></Encrypt></xml>`)
    expect(res.status).toBe(400)
    expect(await stored(s)).toBe(before)
  })

  test('no Encrypt element in aes mode → 400', async () => {
    const timestamp = nowSeconds()
    const q = new URLSearchParams({ signature: sha1Signature([SAFE.token, timestamp, '1']), timestamp, nonce: '1', encrypt_type: 'aes', msg_signature: 'x' })
    expect((await post(`${s.url}/wechat/${SAFE.id}?${q}`, '<xml><ToUserName>gh</ToUserName></xml>')).status).toBe(400)
  })

  test('the official compatible-mode body (vector A) is decrypted and answered', async () => {
    const v = vectors.aes[0]!
    const t = current = await startTestServer({ rules, env: { WXGATE_CALLBACK_MAX_AGE: '0' } })
    try {
      await t.deps.channels.upsert({ id: 'compat', appId: v.appId, appSecret: 'compat-secret', token: v.token, aesKey: v.encodingAESKey })
      const q = new URLSearchParams({ signature: sha1Signature([v.token, v.timestamp, v.nonce]), timestamp: v.timestamp, nonce: v.nonce, encrypt_type: 'aes', msg_signature: v.msgSignature })
      const res = await post(`${t.url}/wechat/compat?${q}`, vectors.samples.compat_mode_post_body)
      expect(res.status).toBe(200)
      const env = parseXml(await res.text())
      const inner = parseXml(decrypt(String(env.Encrypt), aesKeyFrom(v.encodingAESKey), v.appId).xml)
      expect(inner.Content).toBe('收到: abcdteT')
      expect(await effectKeys(t.deps.db)).toEqual(['6054768590064713728'])
    } finally {
      current = s
      await t.stop()
    }
  })

  test('plaintext POSTs still work on a safe channel (the admin may switch modes)', async () => {
    const res = await post(`${s.url}/wechat/${SAFE.id}?${signedQuery(SAFE.token).query}`, textXml({ content: 'plain on safe' }))
    expect(res.status).toBe(200)
    expect(parseXml(await res.text()).Content).toBe('收到: plain on safe')
  })
})

describe('deduplication', () => {
  test('a retry of a handled message gets byte-for-byte the same body and no second effect', async () => {
    const xml = textXml({ content: 'once' })
    const { query } = signedQuery(PLAIN.token)
    const first = await (await post(`${s.url}/wechat?${query}`, xml)).text()
    const n = await effects(s)
    await Bun.sleep(1100) // a later CreateTime in the reply would show a rebuilt body
    const second = await (await post(`${s.url}/wechat?${query}`, xml)).text()
    expect(second).toBe(first)
    expect(await effects(s)).toBe(n)
  })

  test('two TEMPLATESENDJOBFINISH of one user in the same second are not merged', async () => {
    const before = await stored(s)
    const ev = (msgId: string) => `<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o_same]]></FromUserName><CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>${msgId}</MsgID><Status><![CDATA[success]]></Status></xml>`
    for (const id of ['200163836', '200163837', '200163836']) {
      expect((await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, ev(id))).status).toBe(200)
    }
    expect(await stored(s)).toBe(before + 2)
  })
})
