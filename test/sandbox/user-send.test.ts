/**
 * @module Tests for Sandbox.userSends and POST /_sandbox/message: a user's text, image, CLICK and VIEW pushed
 * to a little receiver that checks signatures and decrypts as the gateway would, and to the real gateway.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { startDemoInbox } from '../../src/demo-inbox'
import { DEMO_ACCOUNT, DEMO_SCAN_OPENID, UserSendError, type UserSendResult, originalIdOf, startSandbox } from '../../src/sandbox'
import { aesKeyFrom, encryptReply } from '../../src/wechat/crypto'
import { buildReply } from '../../src/wechat/replies'
import { parseXml } from '../../src/wechat/xml'
import { SAFE, startTestServer } from '../support/server'
import { S, T0, get, json, post, setup, openPush } from './sandbox-helpers'

const TOKEN = 'receiverToken123'
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'
const APP = DEMO_ACCOUNT.appId
const TO = originalIdOf(APP)

interface Got {
  query: Record<string, string>
  body: string
  plain?: string
}

const stops: (() => unknown)[] = []
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
})

/** Stands in for /wechat/:channelId: `script` statuses first, then checks and answers a text reply (or `success`). */
const startReceiver = (opts: { aesKey?: string; script?: number[]; quiet?: boolean } = {}) => {
  const script = [...(opts.script ?? [])]
  const got: Got[] = []
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: async (request) => {
      const query = Object.fromEntries(new URL(request.url).searchParams)
      const body = await request.text()
      const entry: Got = { query, body }
      got.push(entry)
      const step = script.shift()
      if (step !== undefined) return new Response('scripted failure', { status: step })
      const opened = openPush({ query, body, token: TOKEN, appId: APP, aesKey: opts.aesKey })
      if ('refuse' in opened) return opened.refuse
      const plain = opened.plain
      entry.plain = plain
      if (opts.quiet) return new Response('success')
      const m = parseXml(plain)
      const reply = buildReply({ type: 'text', content: `got ${String(m.MsgType)} ${String(m.Content ?? m.EventKey ?? m.MediaId)}` },
        { toUserName: String(m.FromUserName), fromUserName: String(m.ToUserName), createTime: Number(m.CreateTime) })
      if (opts.aesKey === undefined) return new Response(reply, { headers: { 'content-type': 'application/xml' } })
      return new Response(encryptReply({ plainXml: reply, token: TOKEN, key: aesKeyFrom(opts.aesKey), appId: APP, timestamp: query.timestamp ?? '', nonce: query.nonce ?? '', random16: new Uint8Array(16).fill(3) }))
    },
  })
  stops.push(() => server.stop(true))
  return { url: `${server.url.origin}/wechat/demo`, got }
}

const head = (openid: string) =>
  `<xml><ToUserName><![CDATA[${TO}]]></ToUserName><FromUserName><![CDATA[${openid}]]></FromUserName><CreateTime>${T0 / 1000}</CreateTime>`

describe('userSends: what reaches the server', () => {
  test('text: official element order, signed query, a 19-digit MsgId, CreateTime from the sandbox clock; the reply text', async () => {
    const { sb } = await setup()
    const rx = startReceiver()
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const r = await sb.userSends({ text: '你好' })
    expect(r.msgId).toMatch(/^\d{19}$/)
    const xml = `${head(DEMO_SCAN_OPENID)}<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>${r.msgId}</MsgId></xml>`
    expect(rx.got).toHaveLength(1)
    expect(rx.got[0]!.plain).toBe(xml)
    expect(rx.got[0]!.query.openid).toBe(DEMO_SCAN_OPENID)
    expect(rx.got[0]!.query.timestamp).toBe(String(T0 / 1000))
    expect(r).toMatchObject({ appId: APP, openid: DEMO_SCAN_OPENID, msgType: 'text', createTime: T0 / 1000, xml, status: 200, attempts: 1, replyText: 'got text 你好' })
    expect(r.event).toBeUndefined()
  })

  test('every message gets its own MsgId, even with a constant random and a stopped clock', async () => {
    const { sb } = await setup({ random: () => 0.5 })
    const rx = startReceiver({ quiet: true })
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const ids = new Set<string>()
    for (let i = 0; i < 5; i++) ids.add((await sb.userSends({ text: `m${i}` })).msgId!)
    ids.add((await sb.userSends({ image: {} })).msgId!)
    expect(ids.size).toBe(6)
    // WeChat's MsgIds are beyond 2^53: they must never be written through a JS number.
    for (const id of ids) expect(BigInt(id) > 2n ** 53n).toBe(true)
  })

  test('image: given PicUrl and MediaId, or defaults whose PicUrl the sandbox serves as an image', async () => {
    const { sb } = await setup()
    const rx = startReceiver()
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const given = await sb.userSends({ openid: 'o_pic', image: { picUrl: 'http://example.invalid/p.jpg', mediaId: 'MEDIA_1' } })
    expect(rx.got[0]!.plain).toBe(`${head('o_pic')}<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://example.invalid/p.jpg]]></PicUrl><MediaId><![CDATA[MEDIA_1]]></MediaId><MsgId>${given.msgId}</MsgId></xml>`)
    expect(given).toMatchObject({ msgType: 'image', picUrl: 'http://example.invalid/p.jpg', mediaId: 'MEDIA_1', replyText: 'got image MEDIA_1' })
    const dflt = await sb.userSends({ image: {} })
    expect(dflt.mediaId).toMatch(/^[A-Za-z0-9_-]{64}$/)
    expect(dflt.picUrl).toBe(`${sb.url}/_sandbox/pic?mediaId=${dflt.mediaId}`)
    const pic = await fetch(dflt.picUrl!)
    expect(pic.status).toBe(200)
    expect(pic.headers.get('content-type')).toBe('image/png')
    expect(new Uint8Array(await pic.arrayBuffer()).slice(1, 4)).toEqual(new TextEncoder().encode('PNG'))
    // The default MediaId is a media the sandbox holds, as on WeChat: media/get serves it (GET /api/media/:id).
    const held = sb.media(dflt.mediaId!)
    expect(held?.contentType).toBe('image/png')
    expect(new Uint8Array(held!.bytes).slice(1, 4)).toEqual(new TextEncoder().encode('PNG'))
  })

  test('menu: CLICK with the key as EventKey, VIEW with the URL and MenuId; no MsgId', async () => {
    const { sb } = await setup()
    const rx = startReceiver()
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const click = await sb.userSends({ click: 'V1001_TODAY_MUSIC' })
    expect(rx.got[0]!.plain).toBe(`${head(DEMO_SCAN_OPENID)}<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[V1001_TODAY_MUSIC]]></EventKey></xml>`)
    expect(click).toMatchObject({ msgType: 'event', event: 'CLICK', status: 200, replyText: 'got event V1001_TODAY_MUSIC' })
    expect(click.msgId).toBeUndefined()
    const view = await sb.userSends({ view: 'https://shop.example.com/orders', menuId: '208379533' })
    expect(rx.got[1]!.plain).toBe(`${head(DEMO_SCAN_OPENID)}<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://shop.example.com/orders]]></EventKey><MenuId>208379533</MenuId></xml>`)
    expect(view).toMatchObject({ event: 'VIEW', status: 200 })
  })

  test('safe mode: only the envelope travels, msg_signature checks out, the encrypted reply is opened', async () => {
    const { sb } = await setup()
    const rx = startReceiver({ aesKey: AES_KEY })
    sb.setCallback(APP, { url: rx.url, token: TOKEN, aesKey: AES_KEY })
    const r = await sb.userSends({ text: 'secret words' })
    expect(rx.got[0]!.body).not.toContain('secret words')
    expect(rx.got[0]!.body).toStartWith(`<xml><ToUserName><![CDATA[${TO}]]></ToUserName><Encrypt><![CDATA[`)
    expect(rx.got[0]!.query.encrypt_type).toBe('aes')
    expect(rx.got[0]!.plain).toBe(r.xml)
    expect(r).toMatchObject({ status: 200, attempts: 1, replyText: 'got text secret words' })
    expect(r.error).toBeUndefined()
  })

  test('a non-200 is retried with the very same request, twice at most', async () => {
    const { sb } = await setup()
    const rx = startReceiver({ script: [500, 503] })
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    const r = await sb.userSends({ text: 'again' })
    expect(r).toMatchObject({ status: 200, attempts: 3, replyText: 'got text again' })
    expect(rx.got).toHaveLength(3)
    expect(new Set(rx.got.map((g) => `${new URLSearchParams(g.query)}\n${g.body}`)).size).toBe(1)

    const down = startReceiver({ script: [500, 500, 500] })
    sb.setCallback(APP, { url: down.url, token: TOKEN })
    const failed = await sb.userSends({ click: 'K' })
    expect(failed).toMatchObject({ status: 500, attempts: 3, reply: 'scripted failure' })
    expect(failed.replyText).toBeUndefined()
  })
})

describe('POST /_sandbox/message', () => {
  test('over HTTP: the same result as the method', async () => {
    const { sb } = await setup()
    const rx = startReceiver()
    expect(await json(post(sb, '/_sandbox/callback', { url: rx.url, token: TOKEN }))).toEqual({ ok: true })
    const r = await json(post(sb, '/_sandbox/message', { openid: 'o_http', text: '你好' }))
    expect(r).toMatchObject({ appId: APP, openid: 'o_http', msgType: 'text', status: 200, attempts: 1, replyText: 'got text 你好' })
    expect(r.msgId).toMatch(/^\d{19}$/)
    expect((await json(get(sb, '/_sandbox/'))).endpoints.some((e: string) => e.startsWith('POST /_sandbox/message'))).toBe(true)
  })

  test('mistakes: 400 for not exactly one kind, an empty text or a bad URL; 409 without a target or from a non-follower', async () => {
    const { sb } = await setup()
    const noTarget = await post(sb, '/_sandbox/message', { text: 'hi' })
    expect(noTarget.status).toBe(409)
    expect(await noTarget.json()).toEqual({ error: `no callback target for appId ${APP}` })
    const rx = startReceiver()
    sb.setCallback(APP, { url: rx.url, token: TOKEN })
    expect(await json(post(sb, '/_sandbox/message', {}))).toEqual({ error: 'give exactly one of text, image, click, view (got none)' })
    const two = await post(sb, '/_sandbox/message', { text: 'a', click: 'b' })
    expect(two.status).toBe(400)
    expect(await two.json()).toEqual({ error: 'give exactly one of text, image, click, view (got text, click)' })
    expect((await post(sb, '/_sandbox/message', { text: '' })).status).toBe(400)
    expect((await post(sb, '/_sandbox/message', { view: 'javascript:alert(1)' })).status).toBe(400)
    expect((await post(sb, '/_sandbox/message', { text: 5 })).status).toBe(400)
    sb.addUser(APP, 'o_gone', { subscribed: false })
    const gone = await post(sb, '/_sandbox/message', { openid: 'o_gone', text: 'hi' })
    expect(gone.status).toBe(409)
    expect(((await gone.json()) as { error: string }).error).toContain('does not follow')
    expect(rx.got).toEqual([])
    await expect(sb.userSends({ text: 'x', appId: 'wx_nope' })).rejects.toThrow('sandbox: unknown account wx_nope')
    await expect(sb.userSends({})).rejects.toBeInstanceOf(UserSendError)
  })
})

describe('userSends against the real gateway', () => {
  test('safe mode: the gateway answers 200 to a text, an image, a CLICK and a VIEW, and makes message.received ×2 and menu.clicked ×2 of them', async () => {
    const gw = await startTestServer()
    stops.push(() => gw.stop())
    const sb = await startSandbox({ accounts: [{ appId: SAFE.appId, appSecret: SAFE.appSecret }], callbackTimeoutMs: 5 * S })
    stops.push(() => sb.stop())
    sb.setCallback(SAFE.appId, { url: `${gw.url}/wechat/${SAFE.id}`, token: SAFE.token, aesKey: SAFE.aesKey })
    const inbox = startDemoInbox()
    stops.push(() => inbox.stop())
    inbox.setSecret((await gw.deps.webhooks.create({ url: inbox.webhookUrl, events: ['*'] })).secret)
    const sent: UserSendResult[] = []
    for (const what of [{ text: '你好' }, { image: {} }, { click: 'MENU_HELP' }, { view: 'https://example.com/' }]) {
      const r = await sb.userSends({ openid: 'o_real', ...what })
      expect(`${JSON.stringify(what)} → ${r.status} ${r.error ?? ''}`).toBe(`${JSON.stringify(what)} → 200 `)
      expect(r.attempts).toBe(1)
      sent.push(r)
    }
    // The gateway understood each as WeChat's: two messages and two menu events, verified at the receiver.
    const until = Date.now() + 10_000
    while (inbox.events().length < 4 && Date.now() < until) await Bun.sleep(50)
    // Delivery order is not guaranteed (SPEC §6): each is found by what identifies it.
    const got = inbox.events()
    expect(got.map((e) => [e.verified, e.type]).sort()).toEqual([[true, 'menu.clicked'], [true, 'menu.clicked'], [true, 'message.received'], [true, 'message.received']])
    const data = got.map((e) => e.data as Record<string, unknown>)
    expect(data.find((d) => d.msgId === sent[0]!.msgId)).toMatchObject({ channel: SAFE.id, openid: 'o_real', msgType: 'text', content: '你好' })
    expect(data.find((d) => d.msgId === sent[1]!.msgId)).toMatchObject({ msgType: 'image', mediaId: sent[1]!.mediaId, picUrl: sent[1]!.picUrl })
    expect(data.find((d) => d.event === 'CLICK')).toMatchObject({ channel: SAFE.id, openid: 'o_real', key: 'MENU_HELP' })
    expect(data.find((d) => d.event === 'VIEW')).toMatchObject({ key: 'https://example.com/' })
    // The gateway logged each one as an inbound message of the channel (SPEC §3's journal line).
    const inbound = gw.logLines.filter((l) => l.includes('"openid":"o_real"') && l.includes(`"channel":"${SAFE.id}"`))
    expect(inbound.length).toBeGreaterThanOrEqual(4)
  }, 20_000)
})
