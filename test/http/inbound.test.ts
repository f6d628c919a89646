/**
 * The inbound history (SPEC §6): GET /api/inbound and GET /api/inbound/:id on the real server, fed by
 * callbacks posted as WeChat posts them; kept WXGATE_INBOUND_RETENTION_DAYS (pruned on the injected clock).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { fixedClock } from '../../src/lib/clock'
import { bindingsRepo } from '../../src/store/sqlite/bindings.repo'
import { ADMIN_TOKEN, post, signedQuery, startTestServer, type TestServer } from '../support/server'

const START = Date.UTC(2026, 10, 24, 7, 0, 0)
const clock = fixedClock(START)
let s: TestServer
beforeAll(async () => {
  s = await startTestServer({ clock, env: { WXGATE_CALLBACK_MAX_AGE: '0', WXGATE_INBOUND_RETENTION_DAYS: '10' } })
})
afterAll(async () => { await s.stop() })

let ct = 1_790_000_000
let id = 0
const xml = (from: string, type: string, fields: string) =>
  `<xml><ToUserName>gh_test</ToUserName><FromUserName>${from}</FromUserName><CreateTime>${++ct}</CreateTime><MsgType>${type}</MsgType>${fields}${type === 'event' ? '' : `<MsgId>8100000000000${String(++id).padStart(6, '0')}</MsgId>`}</xml>`
const callback = async (body: string, channel = 'default', token = 'spamtest') => {
  const res = await post(`${s.url}/wechat/${channel}?${signedQuery(token).query}`, body)
  expect(res.status).toBe(200)
  await res.text()
}
const api = async (path: string, key = ADMIN_TOKEN) => {
  const res = await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${key}` } })
  return { status: res.status, body: (await res.json()) as any }
}

interface Item { id: string; channel: string; openid: string; subject?: string; msgType: string; event?: string; createTime: string; receivedAt: string; data: Record<string, unknown> }

describe('GET /api/inbound', () => {
  beforeAll(async () => {
    await s.deps.db.tx((orm) => orm.bindings.bind({ id: 'bnd_in_1', channelId: 'default', openid: 'o_in_a', subject: 'crm-a', code: 'test', now: clock.now() }))
    await callback(xml('o_in_a', 'text', '<Content>一</Content>'))
    clock.advance(1000)
    await callback(xml('o_in_b', 'image', '<PicUrl>http://p/x.jpg</PicUrl><MediaId>m1</MediaId>'))
    clock.advance(1000)
    await callback(xml('o_in_a', 'event', '<Event>CLICK</Event><EventKey>K1</EventKey>'))
    clock.advance(1000)
    const retry = xml('o_in_a', 'text', '<Content>二</Content>')
    await callback(retry)
    await callback(retry) // WeChat's retry: listed once
    clock.advance(1000)
    await callback(xml('o_in_c', 'event', '<Event>subscribe</Event>'), 'safe', 'AAAAA')
  })

  test('newest first, every field: id, channel, openid, subject (bound), msgType, event, createTime, receivedAt, data in camelCase', async () => {
    const { status, body } = await api('/api/inbound?channel=default')
    expect(status).toBe(200)
    const items = body.items as Item[]
    expect(items.map((i) => [i.openid, i.msgType, i.event ?? null])).toEqual([
      ['o_in_a', 'text', null], ['o_in_a', 'event', 'CLICK'], ['o_in_b', 'image', null], ['o_in_a', 'text', null],
    ])
    const [second, click, image] = items
    expect(second).toMatchObject({ channel: 'default', openid: 'o_in_a', subject: 'crm-a', msgType: 'text', createTime: new Date(ct * 1000 - 1000).toISOString(), receivedAt: new Date(START + 3000).toISOString() })
    expect(second!.data).toMatchObject({ msgType: 'text', content: '二' })
    expect(typeof second!.data.msgId).toBe('string')
    expect(click!.data).toMatchObject({ event: 'CLICK', eventKey: 'K1' })
    expect(image!.subject).toBeUndefined()
    expect(image!.data).toMatchObject({ picUrl: 'http://p/x.jpg', mediaId: 'm1' })
    expect(second!.id).toMatch(/^in_/)
    expect(body.next).toBeUndefined()
  })

  test('filters: openid, subject, type (a MsgType or an Event), since, channel', async () => {
    const ids = async (q: string) => ((await api(`/api/inbound?${q}`)).body.items as Item[]).map((i) => `${i.openid}:${i.event ?? i.msgType}`)
    expect(await ids('openid=o_in_b')).toEqual(['o_in_b:image'])
    expect(await ids('subject=crm-a')).toEqual(['o_in_a:text', 'o_in_a:CLICK', 'o_in_a:text'])
    expect(await ids('type=text')).toEqual(['o_in_a:text', 'o_in_a:text'])
    expect(await ids('type=CLICK')).toEqual(['o_in_a:CLICK'])
    expect(await ids('type=event')).toEqual(['o_in_c:subscribe', 'o_in_a:CLICK'])
    expect(await ids(`since=${encodeURIComponent(new Date(START + 2000).toISOString())}`)).toEqual(['o_in_c:subscribe', 'o_in_a:text', 'o_in_a:CLICK'])
    expect(await ids('channel=safe')).toEqual(['o_in_c:subscribe'])
    expect(await ids('subject=nobody')).toEqual([])
  })

  test('pages with limit and next until the last page', async () => {
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const { status, body } = await api(`/api/inbound?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      expect(status).toBe(200)
      seen.push(...(body.items as Item[]).map((i) => i.id))
      cursor = body.next
      pages++
    } while (cursor)
    expect(pages).toBe(3)
    const all = ((await api('/api/inbound')).body.items as Item[]).map((i) => i.id)
    expect(seen).toEqual(all)
    expect(all).toHaveLength(5)
  })

  test('bad input: a cursor it did not give out, a since that is no time, a limit out of range → 422', async () => {
    for (const q of ['cursor=abc', 'since=yesterday', 'limit=0', 'limit=201']) {
      const { status, body } = await api(`/api/inbound?${q}`)
      expect(`${q}: ${status}`).toBe(`${q}: 422`)
      expect(typeof body.error.code).toBe('string')
    }
  })

  test('GET /api/inbound/:id → the item; an unknown id → 404 in the error shape', async () => {
    const first = ((await api('/api/inbound?limit=1')).body.items as Item[])[0]!
    const one = await api(`/api/inbound/${first.id}`)
    expect(one.status).toBe(200)
    expect(one.body).toEqual(first)
    for (const bad of ['in_999999', 'nope', '42', 'in_0']) {
      const r = await api(`/api/inbound/${bad}`)
      expect(r.status).toBe(404)
      expect(r.body.error.code).toBe('not_found')
    }
  })

  test('kept WXGATE_INBOUND_RETENTION_DAYS (10 here): pruned after, kept before', async () => {
    const before = ((await api('/api/inbound')).body.items as Item[]).length
    clock.advance(10 * 86_400_000 - 10_000)
    await callback(xml('o_in_d', 'text', '<Content>late</Content>'))
    expect(await s.deps.callbacks.prune()).toBe(0)
    expect(((await api('/api/inbound')).body.items as Item[]).length).toBe(before + 1)
    clock.advance(20_000)
    expect(await s.deps.callbacks.prune()).toBe(before)
    expect(((await api('/api/inbound')).body.items as Item[]).map((i) => i.openid)).toEqual(['o_in_d'])
  })
})
