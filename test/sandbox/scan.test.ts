/**
 * @module Tests for Sandbox.scan and POST /_sandbox/scan: the subscribe/SCAN events pushed to a real little
 * receiver (standing in for the gateway) that checks signatures, decrypts in safe mode and answers.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, DEMO_SCAN_OPENID, type Sandbox, ScanError, type ScanSent, originalIdOf } from '../../src/sandbox'
import { aesKeyFrom, encryptReply } from '../../src/wechat/crypto'
import { buildReply } from '../../src/wechat/replies'
import { sha1Signature } from '../../src/wechat/signature'
import { parseXml } from '../../src/wechat/xml'
import { MIN, OTHER_ACCOUNT, S, T0, get, json, post, setup, stable, openPush } from './sandbox-helpers'

const TOKEN = 'receiverToken123'
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'
const APP = DEMO_ACCOUNT.appId

interface Got {
  query: Record<string, string>
  body: string
  /** The plaintext event (decrypted in safe mode); undefined when a check failed. */
  plain?: string
}

/**
 * A stand-in for the gateway's /wechat/:channelId. `script` is what the first requests get (a status, or
 * 'hang'); after it the receiver checks everything and answers a text reply (or `success` when `quiet`).
 */
const receivers: { stop: () => void }[] = []
afterEach(() => {
  for (const r of receivers.splice(0)) r.stop()
})

const startReceiver = (opts: { token?: string; aesKey?: string; appId?: string; script?: (number | 'hang')[]; quiet?: boolean } = {}) => {
  const token = opts.token ?? TOKEN
  const appId = opts.appId ?? APP
  const script = [...(opts.script ?? [])]
  const got: Got[] = []
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: async (request) => {
      const url = new URL(request.url)
      const query = Object.fromEntries(url.searchParams)
      const body = await request.text()
      const entry: Got = { query, body }
      got.push(entry)
      const step = script.shift()
      if (step === 'hang') {
        await new Promise((resolve) => request.signal.addEventListener('abort', resolve))
        return new Response('too late')
      }
      if (step !== undefined) return new Response('scripted failure', { status: step })
      const { timestamp = '', nonce = '' } = query
      const opened = openPush({ query, body, token, appId, aesKey: opts.aesKey })
      if ('refuse' in opened) return opened.refuse
      const plain = opened.plain
      entry.plain = plain
      if (opts.quiet) return new Response('success')
      const ev = parseXml(plain)
      const reply = buildReply(
        { type: 'text', content: `hello ${String(ev.Event)} ${String(ev.EventKey)}` },
        { toUserName: String(ev.FromUserName), fromUserName: String(ev.ToUserName), createTime: Number(ev.CreateTime) },
      )
      if (opts.aesKey === undefined) return new Response(reply, { headers: { 'content-type': 'application/xml' } })
      return new Response(encryptReply({ plainXml: reply, token, key: aesKeyFrom(opts.aesKey), appId, timestamp, nonce, random16: new Uint8Array(16).fill(7) }))
    },
  })
  receivers.push({ stop: () => void server.stop(true) })
  return { url: `${server.url.origin}/wechat/demo`, got }
}

/** A sandbox plus a way to create QR tickets through the real qrcode/create endpoint. */
const ready = async (opts: { callbackTimeoutMs?: number } = {}) => {
  const ctx = await setup(opts)
  const tokens = new Map<string, string>()
  const qr = async (scene: string, expire_seconds = 600, account = DEMO_ACCOUNT): Promise<string> => {
    let access_token = tokens.get(account.appId)
    if (access_token === undefined) {
      access_token = (await stable(ctx.sb, {}, account)).access_token as string
      tokens.set(account.appId, access_token)
    }
    const r = await json(post(ctx.sb, '/cgi-bin/qrcode/create', { expire_seconds, action_name: 'QR_STR_SCENE', action_info: { scene: { scene_str: scene } } }, { access_token }))
    expect(typeof r.ticket).toBe('string')
    return r.ticket as string
  }
  return { ...ctx, qr }
}

const subscribeOf = async (sb: Sandbox, openid: string): Promise<unknown> => {
  const { access_token } = await stable(sb)
  return (await json(get(sb, '/cgi-bin/user/info', { access_token, openid }))).subscribe
}

const sent = (r: Awaited<ReturnType<Sandbox['scan']>>): ScanSent => {
  if (!r.sent) throw new Error(`expected a sent scan, got ${JSON.stringify(r)}`)
  return r
}

const expectedXml = (openid: string, event: string, key: string, ticket: string) =>
  `<xml><ToUserName><![CDATA[${originalIdOf(APP)}]]></ToUserName><FromUserName><![CDATA[${openid}]]></FromUserName>` +
  `<CreateTime>${T0 / 1000}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[${event}]]></Event>` +
  `<EventKey><![CDATA[${key}]]></EventKey><Ticket><![CDATA[${ticket}]]></Ticket></xml>`

describe('scan: plaintext mode', () => {
  test('first scan subscribes (qrscene_ key), the second is SCAN (bare key), both exactly in WeChat shape', async () => {
    const { sb, qr } = await ready()
    const rx = startReceiver()
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const ticket = await qr('bind:42')

    const first = sent(await sb.scan({ ticket, openid: 'o_user_a' }))
    expect(first).toEqual({
      appId: APP, ticket, scene: 'bind:42', openid: 'o_user_a', sent: true, event: 'subscribe', status: 200, attempts: 1,
      reply: expect.stringContaining('<MsgType><![CDATA[text]]></MsgType>'), replyText: 'hello subscribe qrscene_bind:42',
    })
    expect(await subscribeOf(sb, 'o_user_a')).toBe(1)

    const second = sent(await sb.scan({ ticket, openid: 'o_user_a' }))
    expect(second.event).toBe('SCAN')
    expect(second.replyText).toBe('hello SCAN bind:42')

    expect(rx.got).toHaveLength(2)
    expect(rx.got[0]!.body).toBe(expectedXml('o_user_a', 'subscribe', 'qrscene_bind:42', ticket))
    expect(rx.got[1]!.body).toBe(expectedXml('o_user_a', 'SCAN', 'bind:42', ticket))
    expect(originalIdOf(APP)).toMatch(/^gh_[0-9a-f]{12}$/)
    expect(originalIdOf(OTHER_ACCOUNT.appId)).not.toBe(originalIdOf(APP))
  })

  test('the query carries signature = sha1(sorted token, timestamp, nonce), timestamp, nonce and openid', async () => {
    const { sb, qr } = await ready()
    const rx = startReceiver()
    sb.setCallback(APP, { url: `${rx.url}?keep=1`, token: TOKEN })
    const r = sent(await sb.scan({ ticket: await qr('s1') }))
    expect(r.status).toBe(200)
    expect(r.openid).toBe(DEMO_SCAN_OPENID)
    const q = rx.got[0]!.query
    expect(Object.keys(q).sort()).toEqual(['keep', 'nonce', 'openid', 'signature', 'timestamp'])
    expect(q.timestamp).toBe(String(T0 / 1000))
    expect(q.nonce).toMatch(/^[1-9]\d{9}$/)
    expect(q.openid).toBe(DEMO_SCAN_OPENID)
    expect(q.signature).toBe(sha1Signature([TOKEN, q.timestamp!, q.nonce!]))
  })

  test('a receiver with another token refuses the signature: 401, retried twice, no reply text', async () => {
    const { sb, qr } = await ready()
    const rx = startReceiver({ token: 'otherToken' })
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const r = sent(await sb.scan({ ticket: await qr('s1'), openid: 'o_b' }))
    expect(r).toMatchObject({ status: 401, attempts: 3, reply: 'bad signature' })
    expect(r.replyText).toBeUndefined()
    expect(rx.got.map((g) => g.plain)).toEqual([undefined, undefined, undefined])
  })

  test('a `success` answer has no replyText', async () => {
    const { sb, qr } = await ready()
    const rx = startReceiver({ quiet: true })
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const r = sent(await sb.scan({ ticket: await qr('s1') }))
    expect(r).toMatchObject({ status: 200, reply: 'success', attempts: 1 })
    expect('replyText' in r).toBe(false)
  })
})

describe('scan: safe mode', () => {
  test('encrypted request (envelope only), encrypted reply decrypted in the result', async () => {
    const { sb, qr } = await ready()
    const rx = startReceiver({ aesKey: AES_KEY })
    sb.setCallback(APP, { url: rx.url, token: TOKEN, aesKey: AES_KEY })
    const ticket = await qr('pay:7')
    const r = sent(await sb.scan({ ticket, openid: 'o_safe' }))
    expect(r).toMatchObject({ status: 200, event: 'subscribe', attempts: 1, replyText: 'hello subscribe qrscene_pay:7' })
    expect(r.error).toBeUndefined()
    // The result holds the plaintext reply, not the envelope.
    expect(r.reply.startsWith(`<xml><ToUserName><![CDATA[o_safe]]></ToUserName><FromUserName><![CDATA[${originalIdOf(APP)}]]>`)).toBe(true)

    const g = rx.got[0]!
    expect(g.query.encrypt_type).toBe('aes')
    expect(g.query.msg_signature).toMatch(/^[0-9a-f]{40}$/)
    expect(g.body).toMatch(/^<xml><ToUserName><!\[CDATA\[gh_[0-9a-f]{12}\]\]><\/ToUserName><Encrypt><!\[CDATA\[[A-Za-z0-9+/=]+\]\]><\/Encrypt><\/xml>$/)
    expect(g.body).not.toContain('qrscene_')
    expect(g.plain).toBe(expectedXml('o_safe', 'subscribe', 'qrscene_pay:7', ticket))
  })

  test('a reply envelope with a wrong MsgSignature is reported, not trusted', async () => {
    const { sb, qr } = await ready()
    const rx = startReceiver({ aesKey: AES_KEY })
    // A proxy in front of the receiver spoils the reply's MsgSignature on the way back.
    const tamper = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: async (req) => {
        const res = await fetch(rx.url + new URL(req.url).search, { method: 'POST', body: await req.text() })
        return new Response((await res.text()).replace(/<MsgSignature><!\[CDATA\[[0-9a-f]/, '<MsgSignature><![CDATA[x'))
      },
    })
    receivers.push({ stop: () => void tamper.stop(true) })
    sb.setCallback(APP, { url: tamper.url.origin, token: TOKEN, aesKey: AES_KEY })
    const r = sent(await sb.scan({ ticket: await qr('s1') }))
    expect(r.status).toBe(200)
    expect(r.error).toBe('reply MsgSignature does not match')
    expect(r.reply).toContain('<Encrypt>')
    expect(r.replyText).toBeUndefined()
  })
})

describe('scan: expiry, lookup, errors', () => {
  test('an expired ticket sends nothing and leaves the user alone', async () => {
    const { sb, clock, qr } = await ready()
    const rx = startReceiver()
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const ticket = await qr('late', 60)
    clock.advance(60 * S)
    expect(await sb.scan({ ticket, openid: 'o_late' })).toEqual({ appId: APP, ticket, scene: 'late', openid: 'o_late', sent: false, reason: 'expired' })
    expect(rx.got).toHaveLength(0)
    const { access_token } = await stable(sb)
    expect((await json(get(sb, '/cgi-bin/user/info', { access_token, openid: 'o_late' }))).errcode).toBe(40003)
  })

  test('scene lookup: the newest unexpired ticket of the account, over the control API', async () => {
    const { sb, clock, qr } = await ready()
    const rx = startReceiver()
    expect(await json(post(sb, '/_sandbox/callback', { url: rx.url, token: TOKEN }))).toEqual({ ok: true })
    const older = await qr('room', 600)
    const newer = await qr('room', 600)
    await qr('room', 600, OTHER_ACCOUNT)
    const r1 = await json(post(sb, '/_sandbox/scan', { scene: 'room', openid: 'o_c' }))
    expect(r1).toMatchObject({ sent: true, ticket: newer, appId: APP, event: 'subscribe' })
    expect(rx.got[0]!.body).toContain(`<Ticket><![CDATA[${newer}]]></Ticket>`)

    // A still newer ticket that expires first: once it has, `newer` is again the newest unexpired one.
    const shortLived = await qr('room', 60)
    clock.advance(2 * MIN)
    const r2 = sent(await sb.scan({ scene: 'room', appId: APP, openid: 'o_c' }))
    expect(r2.ticket).toBe(newer)
    expect(r2.ticket).not.toBe(shortLived)
    expect(r2.event).toBe('SCAN')
    expect(older).not.toBe(newer)
    clock.advance(10 * MIN)
    expect(await sb.scan({ scene: 'room' })).toMatchObject({ sent: false, reason: 'expired', ticket: shortLived })
  })

  test('unknown ticket or scene → 404 JSON; missing ticket and scene → 400', async () => {
    const { sb, qr } = await ready()
    sb.setCallback(APP, { url: 'http://127.0.0.1:9/wechat', token: TOKEN })
    const res = await post(sb, '/_sandbox/scan', { ticket: 'gQNoPeTicket==' })
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ error: 'unknown ticket gQNoPeTicket==' })
    expect((await post(sb, '/_sandbox/scan', { scene: 'nope' })).status).toBe(404)
    const ticket = await qr('mine')
    expect((await post(sb, '/_sandbox/scan', { ticket, appId: OTHER_ACCOUNT.appId })).status).toBe(404)
    const empty = await post(sb, '/_sandbox/scan', {})
    expect(empty.status).toBe(400)
    await empty.text()
    const err = await sb.scan({ ticket: 'gQNoPeTicket==' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ScanError)
    expect((err as ScanError).status).toBe(404)
    expect(sb.calls('/_sandbox/scan')).toBe(0)
  })

  test('no callback target → 409 JSON, nothing changes', async () => {
    const { sb, qr } = await ready()
    const ticket = await qr('s1')
    const res = await post(sb, '/_sandbox/scan', { ticket, openid: 'o_d' })
    expect(res.status).toBe(409)
    expect(await res.json()).toEqual({ error: `no callback target for appId ${APP}` })
    const { access_token } = await stable(sb)
    expect((await json(get(sb, '/cgi-bin/user/info', { access_token, openid: 'o_d' }))).errcode).toBe(40003)
    // A target set and removed again is no target.
    sb.setCallback(APP, { url: 'http://127.0.0.1:9/', token: TOKEN })
    sb.setCallback(APP, undefined)
    expect((await post(sb, '/_sandbox/scan', { ticket })).status).toBe(409)
  })

  test('bad targets are refused when set: 400 over the control API', async () => {
    const { sb } = await ready()
    expect((await post(sb, '/_sandbox/callback', { url: 'not a url', token: TOKEN })).status).toBe(400)
    const badKey = await json(post(sb, '/_sandbox/callback', { url: 'http://127.0.0.1:9/', token: TOKEN, aesKey: 'short' }))
    expect(badKey.error).toMatch(/43-character/)
    expect(() => sb.setCallback('wxnope', { url: 'http://127.0.0.1:9/', token: TOKEN })).toThrow(/unknown account/)
  })

  test('callbacks from the options, kept by reset()', async () => {
    const rx = startReceiver({ quiet: true })
    const { sb } = await setup({ callbacks: { [APP]: { url: rx.url, token: TOKEN } } })
    sb.reset()
    const { access_token } = await stable(sb)
    const { ticket } = await json(post(sb, '/cgi-bin/qrcode/create', { action_name: 'QR_LIMIT_SCENE', action_info: { scene: { scene_id: 5 } } }, { access_token }))
    expect(await sb.scan({ ticket })).toMatchObject({ sent: true, scene: '5', status: 200, reply: 'success' })
    expect(rx.got[0]!.plain).toContain('<EventKey><![CDATA[qrscene_5]]></EventKey>')
  })
})

describe('scan: retries', () => {
  test('a 500 first: retried once with the very same request, attempts = 2', async () => {
    const { sb, qr } = await ready()
    const rx = startReceiver({ script: [500] })
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const r = sent(await sb.scan({ ticket: await qr('s1'), openid: 'o_e' }))
    expect(r).toMatchObject({ status: 200, attempts: 2, event: 'subscribe', replyText: 'hello subscribe qrscene_s1' })
    expect(rx.got).toHaveLength(2)
    expect(rx.got[1]!.body).toBe(rx.got[0]!.body)
    expect(rx.got[1]!.query).toEqual(rx.got[0]!.query)
  })

  test('no answer within the timeout counts as a failure; three failures end the scan', async () => {
    const { sb, qr } = await ready({ callbackTimeoutMs: 200 })
    const rx = startReceiver({ script: ['hang', 503, 'hang'] })
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const t = performance.now()
    const r = sent(await sb.scan({ ticket: await qr('s1') }))
    expect(performance.now() - t).toBeGreaterThanOrEqual(380)
    expect(r).toMatchObject({ status: 0, attempts: 3, reply: '', error: 'no answer within 200 ms' })
    expect(rx.got).toHaveLength(3)
    // The user followed anyway: the next scan is a SCAN.
    const rx2 = startReceiver()
    sb.setCallback(APP, { url: rx2.url, token: TOKEN })
    expect(await sb.scan({ scene: 's1' })).toMatchObject({ event: 'SCAN', status: 200, attempts: 1 })
  })
})
