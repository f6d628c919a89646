/** @module Tests for the sandbox's message/custom/send and custom/typing: WeChat's window rules on the sandbox clock. */
import { afterEach, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT } from '../../src/sandbox'
import { MIN, S, get, json, post, setup, stable } from './sandbox-helpers'

const APP = DEMO_ACCOUNT.appId
const PATH = '/cgi-bin/message/custom/send'
const H = 60 * MIN

const stops: (() => unknown)[] = []
afterEach(async () => { for (const stop of stops.splice(0)) await stop() })

const ready = async () => {
  const ctx = await setup()
  // Where the sandbox pushes the users' messages: a server that answers `success`.
  const rx = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('success') })
  stops.push(() => rx.stop(true))
  ctx.sb.setCallback(APP, { url: `${rx.url.origin}/wechat/demo`, token: 'tok' })
  ctx.sb.addUser(APP, 'o_bob')
  const { access_token } = await stable(ctx.sb)
  const send = async (body: Record<string, unknown>) => (await json(post(ctx.sb, PATH, { touser: 'o_bob', ...body }, { access_token }))).errcode as number
  const text = (content = '您好') => send({ msgtype: 'text', text: { content } })
  return { ...ctx, access_token, send, text }
}

describe('message/custom/send', () => {
  test('outside any window 45015; a message opens 48 h for 5 (the sixth 45047); closed after 48 h', async () => {
    const { sb, clock, text } = await ready()
    expect(await text()).toBe(45015)
    await sb.userSends({ openid: 'o_bob', text: '在吗' })
    for (let i = 0; i < 5; i++) expect(await text()).toBe(0)
    expect(await text()).toBe(45047)
    clock.advance(48 * H)
    // The token has expired by then (2 h): a fresh one.
    const { access_token: fresh } = await stable(sb)
    expect((await json(post(sb, PATH, { touser: 'o_bob', msgtype: 'text', text: { content: 'x' } }, { access_token: fresh }))).errcode).toBe(45015)
    expect(sb.customMessages(APP)).toHaveLength(5)
    expect(sb.receivedBy(APP, 'o_bob').map((r) => r.kind)).toEqual(['custom', 'custom', 'custom', 'custom', 'custom'])
  })

  test('a menu click opens 1 minute for 3, and does not shorten an open 48-hour window; a VIEW opens nothing', async () => {
    const { sb, clock, text } = await ready()
    await sb.userSends({ openid: 'o_bob', view: 'https://example.com/' })
    expect(await text()).toBe(45015)
    await sb.userSends({ openid: 'o_bob', click: 'K1' })
    for (let i = 0; i < 3; i++) expect(await text()).toBe(0)
    expect(await text()).toBe(45047)
    clock.advance(MIN)
    expect(await text()).toBe(45015)
    await sb.userSends({ openid: 'o_bob', text: 'hi' })
    clock.advance(30 * S)
    await sb.userSends({ openid: 'o_bob', click: 'K1' })
    clock.advance(2 * MIN)
    expect(await text()).toBe(0)
  })

  test('an unfollow closes the window (45015); unknown openid 40003; text over 2048 bytes 45002; two articles 45008', async () => {
    const { sb, send, text } = await ready()
    await sb.userSends({ openid: 'o_bob', text: 'hi' })
    expect(await text('好'.repeat(683))).toBe(45002)
    expect(await text('好'.repeat(682) + 'ab')).toBe(0)
    const article = { title: 't', url: 'https://a.example.com/' }
    expect(await send({ msgtype: 'news', news: { articles: [article, article] } })).toBe(45008)
    expect(await send({ msgtype: 'news', news: { articles: [article] } })).toBe(0)
    expect(await send({ touser: 'o_nobody', msgtype: 'text', text: { content: 'x' } })).toBe(40003)
    sb.setSubscribed(APP, 'o_bob', false)
    expect(await text()).toBe(45015)
  })

  test('a scan (subscribe) opens 1 minute; GET /_sandbox/users/:openid/received lists what the user got', async () => {
    const { sb, access_token, text } = await ready()
    const qr = await json(post(sb, '/cgi-bin/qrcode/create', { action_name: 'QR_STR_SCENE', expire_seconds: 600, action_info: { scene: { scene_str: 'x1' } } }, { access_token }))
    await sb.scan({ ticket: qr.ticket as string, openid: 'o_carol' })
    expect(await json(post(sb, PATH, { touser: 'o_carol', msgtype: 'text', text: { content: '欢迎关注' } }, { access_token }))).toMatchObject({ errcode: 0 })
    expect(await text()).toBe(45015)
    const got = await json(get(sb, '/_sandbox/users/o_carol/received'))
    expect(got).toMatchObject({ openid: 'o_carol', received: [{ kind: 'custom', custom: { touser: 'o_carol', msgtype: 'text', body: { text: { content: '欢迎关注' } } } }] })
  })
})

describe('message/custom/typing', () => {
  test('needs an interaction in the last 30 s (45080); 45081 while typing; CancelTyping ends it', async () => {
    const { sb, clock, access_token } = await ready()
    const typing = async (command = 'Typing') => (await json(post(sb, '/cgi-bin/message/custom/typing', { touser: 'o_bob', command }, { access_token }))).errcode as number
    expect(await typing()).toBe(45080)
    await sb.userSends({ openid: 'o_bob', text: 'hi' })
    expect(await typing()).toBe(0)
    expect(await typing()).toBe(45081)
    expect(await typing('CancelTyping')).toBe(0)
    expect(await typing()).toBe(0)
    clock.advance(31 * S)
    expect(await typing('CancelTyping')).toBe(0)
    expect(await typing()).toBe(45080)
  })
})
