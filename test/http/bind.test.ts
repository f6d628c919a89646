/**
 * Bind codes and bindings on the real server, with the sandbox WeChat on loopback (SPEC §4 "Bind codes").
 * Scans are sent as WeChat sends them: signed subscribe/SCAN events to /wechat/demo.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Rule } from '../../src/domain/dispatch'
import { qrPngDataUri } from '../../src/http/bind-page'
import { fixedClock } from '../../src/lib/clock'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { parseXml } from '../../src/wechat/xml'
import { ADMIN_TOKEN, post, signedQuery, startTestServer, type TestServer } from '../support/server'
import { testSql } from '../support/sql'

const clock = fixedClock(Date.now())
/** The sandbox's own clock: its scan events carry its CreateTime, and two in one second would be one event to dedup. */
const sbClock = fixedClock(Date.now())
// A later rule, to show that a scene which is not one of our codes is left to it.
const laterRule: Rule = { name: 'later-scan', match: (m) => m.kind === 'SCAN' && m.eventKey === 'promo-2026', handle: () => ({ type: 'text', content: 'later rule' }) }

let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox({ clock: sbClock })
  s = await startTestServer({ clock, rules: [laterRule], env: { WXGATE_WECHAT_API: sb.url, WXGATE_CALLBACK_MAX_AGE: '0' } })
  await s.deps.channels.upsert({ id: 'demo', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
})
afterAll(async () => { await s.stop(); await sb.stop() })

const api = (path: string, init: { method?: string; body?: unknown; key?: string } = {}) =>
  fetch(`${s.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.key ?? ADMIN_TOKEN}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  })

interface Created { code: string; channel: string; subject: string; label?: string; status: string; expiresAt: string; qr: { ticket: string; url: string; imageUrl: string }; bindUrl: string }
const createCode = async (body: Record<string, unknown>): Promise<Created> => {
  const res = await api('/api/bindcode', { method: 'POST', body: { channel: 'demo', ...body } })
  expect(res.status).toBe(201)
  return res.json() as Promise<Created>
}

let createSeq = 0
/** A QR scan event as WeChat sends it; the same arguments give the same event (a retry). */
const scanXml = (o: { from: string; event: 'subscribe' | 'SCAN' | 'unsubscribe'; key?: string; createTime?: number }) =>
  `<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[${o.from}]]></FromUserName>` +
  `<CreateTime>${o.createTime ?? Math.floor(clock.now() / 1000) + ++createSeq}</CreateTime><MsgType><![CDATA[event]]></MsgType>` +
  `<Event><![CDATA[${o.event}]]></Event>${o.key !== undefined ? `<EventKey><![CDATA[${o.key}]]></EventKey><Ticket><![CDATA[t]]></Ticket>` : ''}</xml>`

const callback = async (xml: string) => {
  const res = await post(`${s.url}/wechat/demo?${signedQuery('demotoken', { openid: 'x' }, String(Math.floor(clock.now() / 1000))).query}`, xml)
  expect(res.status).toBe(200)
  return res.text()
}
/** The text of a passive text reply, or 'success'. */
const replyText = (body: string) => (body === 'success' ? 'success' : String(parseXml(body).Content))
const scan = async (from: string, code: string, event: 'subscribe' | 'SCAN' = 'SCAN') =>
  replyText(await callback(scanXml({ from, event, key: event === 'subscribe' ? `qrscene_${code}` : code })))
const bindingsOf = async (q: string) => ((await (await api(`/api/bindings?${q}`)).json()) as { items: { id: string; subject: string; openid: string; status: string; boundAt: string }[] }).items

describe('POST /api/bindcode', () => {
  test('creates a 128-bit code with a temporary string-scene QR code, its image link and our bind page', async () => {
    const c = await createCode({ subject: 'u-42', label: '张三 (CRM)', ttlSeconds: 900 })
    expect(c.code).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(c).toMatchObject({ channel: 'demo', subject: 'u-42', label: '张三 (CRM)', status: 'pending' })
    expect(Date.parse(c.expiresAt)).toBe(clock.now() + 900_000)
    const call = sb.received('/cgi-bin/qrcode/create').at(-1)!
    expect(call.body).toEqual({ action_name: 'QR_STR_SCENE', expire_seconds: 900, action_info: { scene: { scene_str: c.code } } })
    expect(sb.qrScene(c.qr.ticket)).toMatchObject({ appId: DEMO_ACCOUNT.appId, scene: c.code })
    expect(c.qr.url).toMatch(/^http:\/\/weixin\.qq\.com\/q\//)
    expect(c.qr.imageUrl).toBe(`${sb.url}/cgi-bin/showqrcode?ticket=${encodeURIComponent(c.qr.ticket)}`)
    const img = await fetch(c.qr.imageUrl)
    expect(img.status).toBe(200)
    expect(img.headers.get('content-type')).toBe('image/png')
    expect(c.bindUrl).toBe(`${s.url}/bind/${c.code}`)
    const got = await (await api(`/api/bindcode/${c.code}`)).json()
    expect(got).toEqual({ code: c.code, channel: 'demo', subject: 'u-42', label: '张三 (CRM)', status: 'pending', expiresAt: c.expiresAt })
  })

  test('the bind page tells a phone in WeChat\'s own browser to long-press the code (its PNG twin is there), anyone else to scan it', async () => {
    const c = await createCode({ subject: 'u-ua' })
    const hint = async (ua: string) => {
      const html = await (await fetch(c.bindUrl, { headers: { 'user-agent': ua } })).text()
      expect(html).toContain(`<img id="qr-press" class="press" src="${qrPngDataUri(c.qr.url)}"`)
      return /<p id="hint"[^>]*>(.*?)<\/p>/.exec(html)![1]!.replace(/<[^>]+>/g, '')
    }
    const phone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323d) NetType/WIFI Language/zh_CN'
    const android = 'Mozilla/5.0 (Linux; Android 14; V2227A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20240404 MMWEBID/1234 MicroMessenger/8.0.49.2600(0x28003133) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64'
    const desktop = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090a13) XWEB/9129'
    expect(await hint(phone)).toStartWith('长按二维码')
    expect(await hint(android)).toStartWith('长按二维码')
    expect(await hint(desktop)).toStartWith('请用微信扫描二维码')
    expect(await hint('Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0')).toStartWith('请用微信扫描二维码')
  })

  test('defaults: the WXGATE_CHANNEL channel and a 1800 s lifetime (WXGATE_BIND_TTL); two codes never collide', async () => {
    const res = await api('/api/bindcode', { method: 'POST', body: { subject: 'u-1' } })
    // The default channel of the test server has no sandbox account: WeChat's own error comes back as 502.
    expect(res.status).toBe(502)
    const a = await createCode({ subject: 'u-1' })
    const b = await createCode({ subject: 'u-1' })
    expect(Date.parse(a.expiresAt)).toBe(clock.now() + 1800_000)
    expect(a.code).not.toBe(b.code)
  })

  test('bad input: 422 naming the field; 401 without a key; 403 for a key without the bindcode scope', async () => {
    const bad = async (body: unknown, field: string) => {
      const res = await api('/api/bindcode', { method: 'POST', body })
      expect(res.status).toBe(422)
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(field)
    }
    await bad({ channel: 'demo' }, 'subject')
    await bad({ channel: 'demo', subject: '   ' }, 'subject')
    await bad({ channel: 'demo', subject: 'u', ttlSeconds: 59 }, 'ttlSeconds')
    await bad({ channel: 'demo', subject: 'u', ttlSeconds: 2_592_001 }, 'ttlSeconds')
    await bad({ channel: 'nope', subject: 'u' }, 'channel')
    expect((await fetch(`${s.url}/api/bindcode`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401)
    const { key } = await s.deps.apiKeys.create('reader', ['read'])
    expect((await api('/api/bindcode', { method: 'POST', body: { channel: 'demo', subject: 'u' }, key })).status).toBe(403)
    const { key: binder } = await s.deps.apiKeys.create('crm', ['bindcode'])
    expect((await api('/api/bindcode', { method: 'POST', body: { channel: 'demo', subject: 'u' }, key: binder })).status).toBe(201)
  })

  test('a WeChat failure is a 502 with its errcode, and nothing is stored', async () => {
    const before = ((await testSql(s.deps.db).get('SELECT count(*) AS n FROM bind_codes')) as { n: number }).n
    sb.inject({ path: '/cgi-bin/qrcode/create', errcode: 40053 })
    const res = await api('/api/bindcode', { method: 'POST', body: { channel: 'demo', subject: 'u-9' } })
    expect(res.status).toBe(502)
    const body = (await res.json()) as { error: { code: string; details: { errcode: number } } }
    expect(body.error.code).toBe('wechat_error')
    expect(body.error.details.errcode).toBe(40053)
    expect(((await testSql(s.deps.db).get('SELECT count(*) AS n FROM bind_codes')) as { n: number }).n).toBe(before)
  })
})

describe('binding by scan', () => {
  test('subscribe with qrscene_<code> binds and replies 绑定成功; the retry gets the same body; GET shows bound', async () => {
    const c = await createCode({ subject: 'sub-1' })
    const xml = scanXml({ from: 'o_sub_1', event: 'subscribe', key: `qrscene_${c.code}` })
    const first = await callback(xml)
    expect(replyText(first)).toBe('绑定成功')
    expect(parseXml(first)).toMatchObject({ ToUserName: 'o_sub_1', FromUserName: 'gh_demo', MsgType: 'text' })
    expect(await callback(xml)).toBe(first)
    const got = (await (await api(`/api/bindcode/${c.code}`)).json()) as { status: string; openid: string; boundAt: string }
    expect(got).toMatchObject({ status: 'bound', openid: 'o_sub_1', boundAt: new Date(clock.now()).toISOString() })
    expect(await bindingsOf('subject=sub-1')).toMatchObject([{ subject: 'sub-1', openid: 'o_sub_1', status: 'active' }])
  })

  test('SCAN with <code> binds; the same user again changes nothing and hears the same; another user hears 该二维码已被使用', async () => {
    const c = await createCode({ subject: 'scan-1' })
    expect(await scan('o_scan_1', c.code)).toBe('绑定成功')
    const [before] = await bindingsOf('openid=o_scan_1')
    clock.advance(5_000)
    expect(await scan('o_scan_1', c.code)).toBe('绑定成功')
    expect(await bindingsOf('openid=o_scan_1')).toEqual([before!])
    expect(await scan('o_scan_2', c.code)).toBe('该二维码已被使用')
    expect(await scan('o_scan_2', c.code, 'subscribe')).toBe('该二维码已被使用')
    expect(await bindingsOf('openid=o_scan_2')).toEqual([])
    expect(((await (await api(`/api/bindcode/${c.code}`)).json()) as { openid: string }).openid).toBe('o_scan_1')
  })

  test('an expired code (injected clock) replies 二维码已过期，请重新获取 and binds nobody; GET shows expired', async () => {
    const c = await createCode({ subject: 'exp-1', ttlSeconds: 60 })
    clock.advance(60_000)
    expect(await scan('o_exp_1', c.code)).toBe('二维码已过期，请重新获取')
    expect(await bindingsOf('subject=exp-1')).toEqual([])
    expect(((await (await api(`/api/bindcode/${c.code}`)).json()) as { status: string }).status).toBe('expired')
  })

  test('a user bound to subject A who scans a code for B is moved to B (one binding, not two)', async () => {
    const a = await createCode({ subject: 'move-A' })
    const b = await createCode({ subject: 'move-B' })
    expect(await scan('o_move', a.code)).toBe('绑定成功')
    const [first] = await bindingsOf('openid=o_move')
    expect(await scan('o_move', b.code)).toBe('绑定成功')
    const after = await bindingsOf('openid=o_move')
    expect(after).toHaveLength(1)
    expect(after[0]).toMatchObject({ id: first!.id, subject: 'move-B', status: 'active' })
    expect(await bindingsOf('subject=move-A')).toEqual([])
    expect(s.logLines.some((l) => l.includes('"movedFrom":"move-A"'))).toBe(true)
  })

  test('the user whose binding was deleted is bound again by rescanning the unexpired code (sandbox scan); others and expiry still refused', async () => {
    // The sandbox pushes the scan events to the real gateway, as WeChat would. Its clock moves a second per
    // scan only (distinct CreateTimes: not retries), so its tickets outlive the gateway's clock passing the code's expiry.
    sb.setCallback(DEMO_ACCOUNT.appId, { url: `${s.url}/wechat/demo`, token: 'demotoken' })
    try {
      const c = await createCode({ subject: 'rebind-1', ttlSeconds: 120 })
      const phone = async (openid: string) => {
        sbClock.advance(1_000)
        const r = await sb.scan({ ticket: c.qr.ticket, openid })
        if (!r.sent) throw new Error(`scan not sent: ${JSON.stringify(r)}`)
        expect(r.status).toBe(200)
        return r.replyText
      }
      expect(await phone('o_rebind')).toBe('绑定成功')
      const [first] = await bindingsOf('subject=rebind-1')
      expect(first).toMatchObject({ openid: 'o_rebind', status: 'active' })

      expect((await api(`/api/bindings/${first!.id}`, { method: 'DELETE' })).status).toBe(204)
      expect(await bindingsOf('subject=rebind-1')).toEqual([])
      clock.advance(10_000)
      expect(await phone('o_rebind')).toBe('绑定成功')
      const again = await bindingsOf('subject=rebind-1')
      expect(again).toMatchObject([{ openid: 'o_rebind', status: 'active', boundAt: new Date(clock.now()).toISOString() }])
      expect(again[0]!.id).not.toBe(first!.id)
      // Rescanning while bound changes nothing; another user still hears the code is used.
      expect(await phone('o_rebind')).toBe('绑定成功')
      expect(await bindingsOf('subject=rebind-1')).toEqual(again)
      expect(await phone('o_rebind_other')).toBe('该二维码已被使用')
      expect(await bindingsOf('openid=o_rebind_other')).toEqual([])

      // Past the code's expiry (injected clock): its user, still bound, hears the same; anyone else that it is used.
      clock.advance(120_000)
      expect(await phone('o_rebind')).toBe('绑定成功')
      expect(await phone('o_rebind_other')).toBe('该二维码已被使用')
      // Deleted again and rescanned after the code expired: expired, nothing bound.
      expect((await api(`/api/bindings/${again[0]!.id}`, { method: 'DELETE' })).status).toBe(204)
      expect(await phone('o_rebind')).toBe('二维码已过期，请重新获取')
      expect(await bindingsOf('subject=rebind-1')).toEqual([])
    } finally {
      sb.setCallback(DEMO_ACCOUNT.appId, undefined)
    }
  })

  test('a user moved to another subject who rescans the first code stays where they are (a rescan changes nothing)', async () => {
    const a = await createCode({ subject: 'rescan-A' })
    const b = await createCode({ subject: 'rescan-B' })
    expect(await scan('o_rescan', a.code)).toBe('绑定成功')
    expect(await scan('o_rescan', b.code)).toBe('绑定成功')
    const [moved] = await bindingsOf('openid=o_rescan')
    expect(await scan('o_rescan', a.code)).toBe('绑定成功')
    expect(await bindingsOf('openid=o_rescan')).toEqual([moved!])
    expect(moved!.subject).toBe('rescan-B')
  })

  test('unsubscribe marks the binding unsubscribed; a later plain subscribe makes it active again', async () => {
    const c = await createCode({ subject: 'unsub-1' })
    expect(await scan('o_unsub', c.code, 'subscribe')).toBe('绑定成功')
    expect(await callback(scanXml({ from: 'o_unsub', event: 'unsubscribe' }))).toBe('success')
    expect((await bindingsOf('openid=o_unsub'))[0]!.status).toBe('unsubscribed')
    expect(await callback(scanXml({ from: 'o_unsub', event: 'subscribe' }))).toBe('success')
    expect((await bindingsOf('openid=o_unsub'))[0]!.status).toBe('active')
    // Following again through someone else's used code still reactivates, and says the code is used.
    await callback(scanXml({ from: 'o_unsub', event: 'unsubscribe' }))
    const other = await createCode({ subject: 'unsub-2' })
    expect(await scan('o_unsub_other', other.code)).toBe('绑定成功')
    expect(await scan('o_unsub', other.code, 'subscribe')).toBe('该二维码已被使用')
    expect(await bindingsOf('openid=o_unsub')).toMatchObject([{ subject: 'unsub-1', status: 'active' }])
  })

  test('a scene that is not one of our codes is left to later rules, or answered success', async () => {
    expect(await scan('o_promo', 'promo-2026')).toBe('later rule')
    expect(await scan('o_promo', '123', 'subscribe')).toBe('success')
    expect(await scan('o_promo', 'AAAAAAAAAAAAAAAAAAAAAA')).toBe('success')
    expect(await bindingsOf('openid=o_promo')).toEqual([])
  })

  test('100 different users scanning one code at the same moment: exactly one binding and one 绑定成功', async () => {
    const c = await createCode({ subject: 'race-1' })
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => scan(`o_race_${i}`, c.code, i % 2 ? 'SCAN' : 'subscribe')))
    expect(replies.filter((r) => r === '绑定成功')).toHaveLength(1)
    expect(replies.filter((r) => r === '该二维码已被使用')).toHaveLength(99)
    const bound = await bindingsOf('subject=race-1')
    expect(bound).toHaveLength(1)
    const winner = replies.indexOf('绑定成功')
    expect(bound[0]!.openid).toBe(`o_race_${winner}`)
  })

  test('the reply texts are settings of the channel', async () => {
    await s.deps.channels.upsert({ id: 'demo2', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken', replies: { bound: 'Welcome aboard' } })
    const res = await api('/api/bindcode', { method: 'POST', body: { channel: 'demo2', subject: 'custom-1' } })
    const { code } = (await res.json()) as Created
    const body = await post(`${s.url}/wechat/demo2?${signedQuery('demotoken', {}, String(Math.floor(clock.now() / 1000))).query}`, scanXml({ from: 'o_custom', event: 'SCAN', key: code }))
    expect(replyText(await body.text())).toBe('Welcome aboard')
    // A code of one channel is not a code of another.
    expect(await scan('o_custom', code)).toBe('success')
  })
})

describe('cancel, bindings API, pruning', () => {
  test('DELETE /api/bindcode/:code: a pending code is cancelled (404 after, a scan hears expired); a bound one is 409', async () => {
    const c = await createCode({ subject: 'cancel-1' })
    expect((await api(`/api/bindcode/${c.code}`, { method: 'DELETE' })).status).toBe(204)
    expect((await api(`/api/bindcode/${c.code}`)).status).toBe(404)
    expect((await api(`/api/bindcode/${c.code}`, { method: 'DELETE' })).status).toBe(404)
    expect(await scan('o_cancel', c.code)).toBe('二维码已过期，请重新获取')
    const d = await createCode({ subject: 'cancel-2' })
    await scan('o_cancel', d.code)
    const res = await api(`/api/bindcode/${d.code}`, { method: 'DELETE' })
    expect(res.status).toBe(409)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('conflict')
    expect((await api('/api/bindcode/unknown-code')).status).toBe(404)
  })

  test('GET /api/bindings: filters, pages with a cursor, read scope; DELETE /api/bindings/:id', async () => {
    for (let i = 0; i < 5; i++) {
      const c = await createCode({ subject: 'page-1' })
      expect(await scan(`o_page_${i}`, c.code)).toBe('绑定成功')
    }
    const { key } = await s.deps.apiKeys.create('dash', ['read'])
    const page1 = (await (await api('/api/bindings?subject=page-1&limit=2', { key })).json()) as { items: { id: string; openid: string }[]; nextCursor?: string }
    expect(page1.items.map((b) => b.openid)).toEqual(['o_page_0', 'o_page_1'])
    const page2 = (await (await api(`/api/bindings?subject=page-1&limit=2&cursor=${page1.nextCursor}`, { key })).json()) as typeof page1
    expect(page2.items.map((b) => b.openid)).toEqual(['o_page_2', 'o_page_3'])
    const page3 = (await (await api(`/api/bindings?subject=page-1&limit=2&cursor=${page2.nextCursor}`, { key })).json()) as typeof page1
    expect(page3.items.map((b) => b.openid)).toEqual(['o_page_4'])
    expect(page3.nextCursor).toBeUndefined()
    expect(await bindingsOf('channel=demo&openid=o_page_3')).toHaveLength(1)
    expect(await bindingsOf('channel=default&openid=o_page_3')).toEqual([])
    expect((await api('/api/bindings?cursor=garbage')).status).toBe(422)
    expect((await api('/api/bindings?limit=0')).status).toBe(422)

    const id = page1.items[0]!.id
    expect((await api(`/api/bindings/${id}`, { method: 'DELETE', key })).status).toBe(403)
    expect((await api(`/api/bindings/${id}`, { method: 'DELETE' })).status).toBe(204)
    expect((await api(`/api/bindings/${id}`, { method: 'DELETE' })).status).toBe(404)
    expect(await bindingsOf('openid=o_page_0')).toEqual([])
  })

  test('codes are pruned 7 days after they expire; younger ones stay', async () => {
    const old = await createCode({ subject: 'prune-1', ttlSeconds: 60 })
    clock.advance(7 * 24 * 3600_000 + 61_000)
    const young = await createCode({ subject: 'prune-2', ttlSeconds: 60 })
    expect(await s.deps.bind.prune()).toBeGreaterThanOrEqual(1)
    expect((await api(`/api/bindcode/${old.code}`)).status).toBe(404)
    expect((await api(`/api/bindcode/${young.code}`)).status).toBe(200)
  })

  test('the routes are in the OpenAPI document with the bearer scheme', async () => {
    const doc = (await (await fetch(`${s.url}/docs/json`)).json()) as { paths: Record<string, Record<string, { security?: unknown[] }>> }
    for (const [p, m] of [['/api/bindcode', 'post'], ['/api/bindcode/{code}', 'get'], ['/api/bindcode/{code}', 'delete'], ['/api/bindings', 'get'], ['/api/bindings/{id}', 'delete']] as const) {
      expect(doc.paths[p]?.[m]?.security).toEqual([{ bearer: [] }])
    }
  })
})
