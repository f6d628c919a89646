/**
 * Events caused by callbacks (SPEC §6), each by its real cause: callbacks posted to the real server as WeChat
 * posts them, bind codes created through the API against the sandbox WeChat. Asserts on what was committed:
 * the inbound rows the webhook feed builds a callback's own event from (with the worker's functions), and the
 * webhook_events / webhook_deliveries rows of what rules emit.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import type { Rule } from '../../src/domain/dispatch'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { bindingsRepo } from '../../src/store/sqlite/bindings.repo'
import { addEndpoint, eventMark, eventsSince, removeEndpoints, type StoredEvent } from '../support/event-rows'
import { ADMIN_TOKEN, post, signedQuery, startTestServer, type TestServer } from '../support/server'
import { failWrites, stopFailingWrites, testSql } from '../support/sql'

/** A rule that fails the callback for one content, to show that nothing is emitted before the commit. */
let failNext = false
const failing: Rule = { name: 'test-fail', match: (m) => m.kind === 'text' && m.content === 'boom', handle: () => { if (failNext) throw new Error('rule failed'); return undefined } }

let sb: Sandbox
let s: TestServer
let endpoint: string
beforeAll(async () => {
  sb = await startSandbox()
  s = await startTestServer({ rules: [failing], env: { WXGATE_WECHAT_API: sb.url, WXGATE_CALLBACK_MAX_AGE: '0' } })
  await s.deps.channels.upsert({ id: 'demo', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
})
afterAll(async () => { await s.stop(); await sb.stop() })
beforeEach(async () => {
  await removeEndpoints(s)
  endpoint = await addEndpoint(s)
})

let t = 1_800_000_000
let msgSeq = 0
const head = (from: string, type: string, createTime = ++t) =>
  `<ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[${from}]]></FromUserName><CreateTime>${createTime}</CreateTime><MsgType><![CDATA[${type}]]></MsgType>`
const msgXml = (from: string, type: string, fields: string, msgId = `71000000000000${String(++msgSeq).padStart(5, '0')}`) =>
  `<xml>${head(from, type)}${fields}<MsgId>${msgId}</MsgId></xml>`
const eventXml = (from: string, event: string, fields = '', createTime?: number) =>
  `<xml>${head(from, 'event', createTime)}<Event><![CDATA[${event}]]></Event>${fields}</xml>`

const callback = async (xml: string, channel = 'default', token = 'spamtest'): Promise<Response> =>
  post(`${s.url}/wechat/${channel}?${signedQuery(token).query}`, xml)
/** Posts the callback and returns the events it committed. */
const emitted = async (xml: string, channel = 'default', token = 'spamtest'): Promise<StoredEvent[]> => {
  const mark = await eventMark(s)
  const res = await callback(xml, channel, token)
  expect(res.status).toBe(200)
  await res.text()
  return await eventsSince(s, mark)
}
const one = async (xml: string, channel?: string, token?: string): Promise<StoredEvent> => {
  const evs = await emitted(xml, channel, token)
  expect(evs.map((e) => e.type)).toHaveLength(1)
  return evs[0]!
}
const iso = (sec: number) => new Date(sec * 1000).toISOString()
/** Every callback event names its inbound row (GET /api/inbound/:id). */
const inId = expect.stringMatching(/^in_[1-9]\d*$/)

const api = (path: string, body?: unknown) =>
  fetch(`${s.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
const createCode = async (subject: string): Promise<string> => {
  const res = await api('/api/bindcode', { channel: 'demo', subject })
  expect(res.status).toBe(201)
  return ((await res.json()) as { code: string }).code
}

describe('message.received', () => {
  test('text: channel, openid, msgId, msgType, createTime and content in camelCase, one delivery per endpoint; no subject when unbound', async () => {
    const e = await one(msgXml('o_ev_text', 'text', '<Content><![CDATA[你好]]></Content>', '7100000000000012345'))
    expect(e.type).toBe('message.received')
    expect(e.channelId).toBe('default')
    expect(e.deliveries).toEqual([endpoint])
    expect(e.data).toEqual({ channel: 'default', openid: 'o_ev_text', inboundId: inId, msgId: '7100000000000012345', msgType: 'text', createTime: iso(t), content: '你好' })
    const row = await fetch(`${s.url}/api/inbound/${e.data.inboundId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    expect(row.status).toBe(200)
    expect(((await row.json()) as { data: { msgId: string } }).data.msgId).toBe('7100000000000012345')
  })

  test('the subject of the OpenID\'s binding is in the data', async () => {
    await s.deps.db.tx((orm) => orm.bindings.bind({ id: 'bnd_ev_subject', channelId: 'default', openid: 'o_ev_bound', subject: 'crm-42', code: 'test', now: Date.now() }))
    const e = await one(msgXml('o_ev_bound', 'text', '<Content>hi</Content>'))
    expect(e.data.subject).toBe('crm-42')
  })

  test('image, voice, video, shortvideo, location, link and file carry their typed fields', async () => {
    const cases: [string, string, Record<string, unknown>][] = [
      ['image', '<PicUrl>http://p/1.jpg</PicUrl><MediaId>m1</MediaId>', { picUrl: 'http://p/1.jpg', mediaId: 'm1' }],
      ['voice', '<MediaId>m2</MediaId><Format>amr</Format><Recognition>腾讯</Recognition><MediaId16K>m16</MediaId16K>', { mediaId: 'm2', format: 'amr', recognition: '腾讯', mediaId16K: 'm16' }],
      ['video', '<MediaId>m3</MediaId><ThumbMediaId>t3</ThumbMediaId>', { mediaId: 'm3', thumbMediaId: 't3' }],
      ['shortvideo', '<MediaId>m4</MediaId><ThumbMediaId>t4</ThumbMediaId>', { mediaId: 'm4', thumbMediaId: 't4' }],
      ['location', '<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[广州]]></Label>', { locationX: '23.134521', locationY: '113.358803', scale: '20', label: '广州' }],
      ['link', '<Title>T</Title><Description>D</Description><Url>http://u</Url>', { title: 'T', description: 'D', url: 'http://u' }],
      ['file', '<Title>a.pdf</Title><Description>d</Description><FileKey>k1</FileKey><FileMd5>abc</FileMd5><FileTotalLen>1024</FileTotalLen>', { title: 'a.pdf', description: 'd', fileKey: 'k1', fileMd5: 'abc', fileTotalLen: '1024' }],
    ]
    for (const [type, fields, expected] of cases) {
      const e = await one(msgXml('o_ev_types', type, fields))
      expect(e.type).toBe('message.received')
      expect(e.data).toMatchObject({ channel: 'default', openid: 'o_ev_types', msgType: type, createTime: iso(t), ...expected })
      expect(typeof e.data.msgId).toBe('string')
      expect(Object.keys(e.data).filter((k) => /^[A-Z]|_/.test(k))).toEqual([])
    }
  })

  test('a WeChat retry of a handled message makes no second event', async () => {
    const xml = msgXml('o_ev_retry', 'text', '<Content>again</Content>')
    expect(await emitted(xml)).toHaveLength(1)
    expect(await emitted(xml)).toHaveLength(0)
  })

  test('retry storm: 20 concurrent copies of one MsgId → exactly one event and one delivery per endpoint', async () => {
    const second = await addEndpoint(s, { events: ['message.*'] })
    const mark = await eventMark(s)
    const xml = msgXml('o_ev_storm', 'text', '<Content>storm</Content>')
    const answers = await Promise.all(Array.from({ length: 20 }, () => callback(xml).then(async (r) => { await r.text(); return r.status })))
    expect(answers).toEqual(Array(20).fill(200))
    const evs = await eventsSince(s, mark)
    expect(evs.map((e) => e.type)).toEqual(['message.received'])
    expect(evs[0]!.deliveries.sort()).toEqual([endpoint, second].sort())
    // The worker records it once per endpoint with its result (these endpoints refuse connections: pending again).
    const count = async () => ((await testSql(s.deps.db).get('SELECT count(*) AS n FROM webhook_deliveries WHERE event_id = ?', evs[0]!.id)) as { n: number }).n
    for (let i = 0; i < 100 && await count() < 2; i++) await Bun.sleep(50)
    await Bun.sleep(300)
    expect(await count()).toBe(2)
    expect(((await testSql(s.deps.db).get('SELECT count(*) AS n FROM webhook_events WHERE id = ?', evs[0]!.id)) as { n: number }).n).toBe(1)
  })

  test('no event before the commit: a rule that throws → 500 and no event row; WeChat\'s retry then makes exactly one', async () => {
    const xml = msgXml('o_ev_fail', 'text', '<Content>boom</Content>')
    failNext = true
    const mark = await eventMark(s)
    const res = await callback(xml)
    expect(res.status).toBe(500)
    expect(await eventsSince(s, mark)).toEqual([])
    failNext = false
    expect((await emitted(xml)).map((e) => e.type)).toEqual(['message.received'])
  })

  test('the callback writes no event rows: its event is its inbound row; a failing event write (the worker\'s) never fails a callback', async () => {
    // The callback's own event is read from the inbound log by the worker (webhook-feed.ts): no statement of
    // the callback's transaction touches the webhook tables, so their failure cannot fail WeChat's callback.
    const xml = msgXml('o_ev_atomic', 'text', '<Content>no rule</Content>')
    await failWrites(s.deps.db, 'fail_event', { event: 'INSERT', table: 'webhook_events', message: 'event insert failed (simulated)' })
    await failWrites(s.deps.db, 'fail_delivery', { event: 'INSERT', table: 'webhook_deliveries', message: 'delivery insert failed (simulated)' })
    let evs: StoredEvent[]
    try {
      evs = await emitted(xml)
    } finally {
      await stopFailingWrites(s.deps.db, 'fail_event', 'webhook_events')
      await stopFailingWrites(s.deps.db, 'fail_delivery', 'webhook_deliveries')
    }
    expect(evs.map((e) => e.type)).toEqual(['message.received'])
    expect((await testSql(s.deps.db).get("SELECT count(*) AS n FROM inbound_messages WHERE from_user = 'o_ev_atomic'"))).toEqual({ n: 1 })
  })

  test('no endpoint: no event', async () => {
    await removeEndpoints(s)
    expect(await emitted(msgXml('o_ev_none', 'text', '<Content>x</Content>'))).toEqual([])
  })

  test('an endpoint gets only the types and the channel it subscribed to', async () => {
    await removeEndpoints(s)
    const users = await addEndpoint(s, { events: ['user.*'] })
    const safeOnly = await addEndpoint(s, { events: ['*'], channelId: 'demo' })
    expect(await emitted(msgXml('o_ev_filter', 'text', '<Content>x</Content>'))).toEqual([])
    const e = await one(eventXml('o_ev_filter', 'subscribe'))
    expect(e.deliveries).toEqual([users])
    const d = await one(eventXml('o_ev_filter', 'unsubscribe'), 'demo', 'demotoken')
    expect(d.deliveries.sort()).toEqual([users, safeOnly].sort())
  })
})

describe('user, menu and location events', () => {
  test('a plain follow → user.subscribed without scene; unfollow → user.unsubscribed with the subject', async () => {
    await s.deps.db.tx((orm) => orm.bindings.bind({ id: 'bnd_ev_unsub', channelId: 'default', openid: 'o_ev_follow', subject: 'crm-7', code: 'test', now: Date.now() }))
    const sub = await one(eventXml('o_ev_follow', 'subscribe', '<EventKey><![CDATA[]]></EventKey>'))
    expect(sub.type).toBe('user.subscribed')
    expect(sub.data).toEqual({ channel: 'default', openid: 'o_ev_follow', subject: 'crm-7', inboundId: inId, createTime: iso(t) })
    const un = await one(eventXml('o_ev_follow', 'unsubscribe'))
    expect(un.type).toBe('user.unsubscribed')
    expect(un.data).toEqual({ channel: 'default', openid: 'o_ev_follow', subject: 'crm-7', inboundId: inId, createTime: iso(t) })
  })

  test('follow through a QR code that is no bind code → user.subscribed with its scene; SCAN of one → user.scanned', async () => {
    const sub = await one(eventXml('o_ev_qr', 'subscribe', '<EventKey><![CDATA[qrscene_123]]></EventKey><Ticket>tk</Ticket>'))
    expect(sub.type).toBe('user.subscribed')
    expect(sub.data.scene).toBe('123')
    const scan = await one(eventXml('o_ev_qr', 'SCAN', '<EventKey><![CDATA[promo-2026-autumn-campaign]]></EventKey><Ticket>tk</Ticket>'))
    expect(scan.type).toBe('user.scanned')
    expect(scan.data).toEqual({ channel: 'default', openid: 'o_ev_qr', scene: 'promo-2026-autumn-campaign', inboundId: inId, createTime: iso(t) })
  })

  test('menu events → menu.clicked with event, key and their extra fields', async () => {
    const click = await one(eventXml('o_ev_menu', 'CLICK', '<EventKey><![CDATA[V1001_TODAY_MUSIC]]></EventKey>'))
    expect(click.type).toBe('menu.clicked')
    expect(click.data).toEqual({ channel: 'default', openid: 'o_ev_menu', event: 'CLICK', key: 'V1001_TODAY_MUSIC', inboundId: inId, createTime: iso(t) })
    const view = await one(eventXml('o_ev_menu', 'VIEW', '<EventKey><![CDATA[http://www.qq.com/]]></EventKey><MenuId>42</MenuId>'))
    expect(view.data).toMatchObject({ event: 'VIEW', key: 'http://www.qq.com/', menuId: '42' })
    const push = await one(eventXml('o_ev_menu', 'scancode_push', '<EventKey>rselfmenu_0_1</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>1</ScanResult></ScanCodeInfo>'))
    expect(push.data).toMatchObject({ event: 'scancode_push', key: 'rselfmenu_0_1', scanCodeInfo: { scanType: 'qrcode', scanResult: '1' } })
    const pic = await one(eventXml('o_ev_menu', 'pic_sysphoto', '<EventKey>6</EventKey><SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum>1b5f</PicMd5Sum></item></PicList></SendPicsInfo>'))
    expect(pic.data).toMatchObject({ event: 'pic_sysphoto', key: '6', sendPicsInfo: { count: 1, picList: [{ picMd5Sum: '1b5f' }] } })
    const loc = await one(eventXml('o_ev_menu', 'location_select', '<EventKey>6</EventKey><SendLocationInfo><Location_X>23</Location_X><Location_Y>113</Location_Y><Scale>15</Scale><Label>广州</Label><Poiname></Poiname></SendLocationInfo>'))
    expect(loc.data).toMatchObject({ event: 'location_select', sendLocationInfo: { locationX: '23', locationY: '113', scale: '15', label: '广州', poiname: '' } })
    const mp = await one(eventXml('o_ev_menu', 'view_miniprogram', '<EventKey>pages/index</EventKey><MenuId>7</MenuId>'))
    expect(mp.data).toMatchObject({ event: 'view_miniprogram', key: 'pages/index', menuId: '7' })
  })

  test('LOCATION → location.reported', async () => {
    const e = await one(eventXml('o_ev_loc', 'LOCATION', '<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>'))
    expect(e.type).toBe('location.reported')
    expect(e.data).toEqual({ channel: 'default', openid: 'o_ev_loc', inboundId: inId, latitude: '23.137466', longitude: '113.352425', precision: '119.385040', createTime: iso(t) })
  })

  test('any other event, unknown ones included → event.received with every XML field in camelCase', async () => {
    const mass = await one(eventXml('o_ev_other', 'MASSSENDJOBFINISH', '<MsgID>1000001625</MsgID><Status>send success</Status><TotalCount>100</TotalCount>'))
    expect(mass.type).toBe('event.received')
    expect(mass.data).toMatchObject({ channel: 'default', openid: 'o_ev_other', event: 'MASSSENDJOBFINISH', msgId: '1000001625', status: 'send success', totalCount: '100', toUserName: 'gh_test', msgType: 'event', createTime: iso(t) })
    const unknown = await one(eventXml('o_ev_other', 'weapp_audit_success', '<SuccTime>1700000000</SuccTime><Some_Field>x</Some_Field>'))
    expect(unknown.type).toBe('event.received')
    expect(unknown.data).toMatchObject({ event: 'weapp_audit_success', succTime: '1700000000', someField: 'x' })
    // A delivery report for no message of ours stays a plain event.
    const report = await one(eventXml('o_ev_other', 'TEMPLATESENDJOBFINISH', '<MsgID>99999</MsgID><Status>success</Status>'))
    expect(report.type).toBe('event.received')
    expect(report.data).toMatchObject({ event: 'TEMPLATESENDJOBFINISH', msgId: '99999', status: 'success' })
  })
})

describe('binding events from bind scans', () => {
  test('SCAN of a bind code → binding.created (no user.scanned); another subject\'s code → binding.moved; a rescan → nothing', async () => {
    const a = await createCode('alice')
    const created = await emitted(eventXml('o_ev_bind', 'SCAN', `<EventKey><![CDATA[${a}]]></EventKey><Ticket>t</Ticket>`), 'demo', 'demotoken')
    expect(created.map((e) => e.type)).toEqual(['binding.created'])
    expect(created[0]!.data).toEqual({ channel: 'demo', openid: 'o_ev_bind', subject: 'alice', code: a })
    expect(await emitted(eventXml('o_ev_bind', 'SCAN', `<EventKey><![CDATA[${a}]]></EventKey><Ticket>t</Ticket>`), 'demo', 'demotoken')).toEqual([])
    const b = await createCode('bob')
    const moved = await emitted(eventXml('o_ev_bind', 'SCAN', `<EventKey><![CDATA[${b}]]></EventKey><Ticket>t</Ticket>`), 'demo', 'demotoken')
    expect(moved.map((e) => e.type)).toEqual(['binding.moved'])
    expect(moved[0]!.data).toEqual({ channel: 'demo', openid: 'o_ev_bind', subject: 'bob', previousSubject: 'alice', code: b })
    // Someone else scanning the used code: told so, no event.
    expect(await emitted(eventXml('o_ev_other_user', 'SCAN', `<EventKey><![CDATA[${b}]]></EventKey><Ticket>t</Ticket>`), 'demo', 'demotoken')).toEqual([])
  })

  test('a follow through a bind code → user.subscribed (no scene, the new subject) + binding.created', async () => {
    const c = await createCode('carol')
    const evs = await emitted(eventXml('o_ev_bind_sub', 'subscribe', `<EventKey><![CDATA[qrscene_${c}]]></EventKey><Ticket>t</Ticket>`), 'demo', 'demotoken')
    expect(evs.map((e) => e.type)).toEqual(['user.subscribed', 'binding.created'])
    expect(evs[0]!.data).toEqual({ channel: 'demo', openid: 'o_ev_bind_sub', subject: 'carol', inboundId: inId, createTime: iso(t) })
    expect(evs[1]!.data).toEqual({ channel: 'demo', openid: 'o_ev_bind_sub', subject: 'carol', code: c })
  })

  test('binding.removed: DELETE /api/bindings/:id', async () => {
    const c = await createCode('dave')
    await emitted(eventXml('o_ev_bind_del', 'SCAN', `<EventKey><![CDATA[${c}]]></EventKey><Ticket>t</Ticket>`), 'demo', 'demotoken')
    const binding = (await testSql(s.deps.db).get("SELECT id FROM bindings WHERE openid = 'o_ev_bind_del'")) as { id: string }
    const mark = await eventMark(s)
    const res = await fetch(`${s.url}/api/bindings/${binding.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    expect(res.status).toBe(204)
    const evs = await eventsSince(s, mark)
    expect(evs.map((e) => e.type)).toEqual(['binding.removed'])
    expect(evs[0]!.data).toEqual({ channel: 'demo', openid: 'o_ev_bind_del', subject: 'dave', code: c })
    // Rescanning the (unexpired) code binds again: binding.created.
    const again = await emitted(eventXml('o_ev_bind_del', 'SCAN', `<EventKey><![CDATA[${c}]]></EventKey><Ticket>t</Ticket>`), 'demo', 'demotoken')
    expect(again.map((e) => e.type)).toEqual(['binding.created'])
  })
})
