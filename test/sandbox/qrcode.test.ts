/** @module Tests for the sandbox's qrcode/create (four actions and their limits) and showqrcode (200/404, URL-encoded tickets). */
import { describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT } from '../../src/sandbox'
import { MIN, S, T0, errmsgLike, json, post, setup, stable } from './sandbox-helpers'

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
const QR_URL = /^http:\/\/weixin\.qq\.com\/q\/[A-Za-z0-9]{20}$/
const BASE64 = /^[A-Za-z0-9+/]+={1,2}$/

const ready = async (opts: { random?: () => number } = {}) => {
  const ctx = await setup(opts)
  const { access_token } = await stable(ctx.sb)
  const create = (body: unknown) => json(post(ctx.sb, '/cgi-bin/qrcode/create', body, { access_token }))
  const show = (ticket: string) => fetch(`${ctx.sb.url}/cgi-bin/showqrcode?ticket=${encodeURIComponent(ticket)}`)
  return { ...ctx, create, show }
}

describe('qrcode/create', () => {
  test('QR_SCENE: temporary integer scene, expire_seconds defaults to 60', async () => {
    const { sb, create } = await ready()
    const r = await create({ action_name: 'QR_SCENE', action_info: { scene: { scene_id: 123 } } })
    expect(Object.keys(r).sort()).toEqual(['expire_seconds', 'ticket', 'url'])
    expect(r.expire_seconds).toBe(60)
    expect(r.url).toMatch(QR_URL)
    expect(r.ticket).toMatch(BASE64)
    expect(sb.qrScene(r.ticket)).toEqual({ appId: DEMO_ACCOUNT.appId, scene: '123', expiresAt: T0 + 60 * S })
  })

  test('QR_STR_SCENE: temporary string scene, up to 2592000 s', async () => {
    const { sb, create } = await ready()
    const r = await create({ expire_seconds: 2_592_000, action_name: 'QR_STR_SCENE', action_info: { scene: { scene_str: 'bind:42' } } })
    expect(r.expire_seconds).toBe(2_592_000)
    expect(sb.qrScene(r.ticket)).toEqual({ appId: DEMO_ACCOUNT.appId, scene: 'bind:42', expiresAt: T0 + 2_592_000 * S })
  })

  test('QR_LIMIT_SCENE: permanent, no expire_seconds in the answer even if one was sent', async () => {
    const { sb, create } = await ready()
    const r = await create({ expire_seconds: 600, action_name: 'QR_LIMIT_SCENE', action_info: { scene: { scene_id: 100_000 } } })
    expect(Object.keys(r).sort()).toEqual(['ticket', 'url'])
    expect(r.url).toMatch(QR_URL)
    expect(sb.qrScene(r.ticket)).toEqual({ appId: DEMO_ACCOUNT.appId, scene: '100000' })
  })

  test('QR_LIMIT_STR_SCENE: permanent string scene of 64 characters', async () => {
    const { sb, create } = await ready()
    const scene = 's'.repeat(64)
    const r = await create({ action_name: 'QR_LIMIT_STR_SCENE', action_info: { scene: { scene_str: scene } } })
    expect(r.expire_seconds).toBeUndefined()
    expect(sb.qrScene(r.ticket)).toEqual({ appId: DEMO_ACCOUNT.appId, scene })
  })

  const refused: [string, unknown, number, string][] = [
    ['QR_LIMIT_SCENE scene_id 100001', { action_name: 'QR_LIMIT_SCENE', action_info: { scene: { scene_id: 100_001 } } }, 40053, 'invalid action_info, please check document'],
    ['QR_LIMIT_SCENE scene_id 0', { action_name: 'QR_LIMIT_SCENE', action_info: { scene: { scene_id: 0 } } }, 40053, 'invalid action_info, please check document'],
    ['QR_SCENE scene_id 0', { action_name: 'QR_SCENE', action_info: { scene: { scene_id: 0 } } }, 40053, 'invalid action_info, please check document'],
    ['QR_SCENE scene_id as a string', { action_name: 'QR_SCENE', action_info: { scene: { scene_id: '12' } } }, 40053, 'invalid action_info, please check document'],
    ['QR_SCENE without the scene wrapper', { action_name: 'QR_SCENE', action_info: { scene_id: 123 } }, 40053, 'invalid action_info, please check document'],
    ['QR_STR_SCENE empty scene_str', { action_name: 'QR_STR_SCENE', action_info: { scene: { scene_str: '' } } }, 40053, 'invalid action_info, please check document'],
    ['QR_LIMIT_STR_SCENE 65 characters', { action_name: 'QR_LIMIT_STR_SCENE', action_info: { scene: { scene_str: 's'.repeat(65) } } }, 40053, 'invalid action_info, please check document'],
    ['QR_STR_SCENE with a scene_id only', { action_name: 'QR_STR_SCENE', action_info: { scene: { scene_id: 5 } } }, 40053, 'invalid action_info, please check document'],
    ['expire_seconds 2592001', { expire_seconds: 2_592_001, action_name: 'QR_SCENE', action_info: { scene: { scene_id: 1 } } }, 47001, 'data format error'],
    ['expire_seconds 0', { expire_seconds: 0, action_name: 'QR_SCENE', action_info: { scene: { scene_id: 1 } } }, 47001, 'data format error'],
    ['unknown action_name', { action_name: 'QR_FOREVER', action_info: { scene: { scene_id: 1 } } }, 47001, 'data format error'],
    ['not JSON', 'action_name=QR_SCENE', 47001, 'data format error'],
  ]
  for (const [name, body, errcode, text] of refused) {
    test(`${name} → ${errcode}`, async () => {
      const { create } = await ready()
      const r = await create(body)
      expect(r.errcode).toBe(errcode)
      expect(r.errmsg).toMatch(errmsgLike(text))
      expect(r.ticket).toBeUndefined()
    })
  }

  test('needs a token', async () => {
    const { sb } = await ready()
    const r = await json(post(sb, '/cgi-bin/qrcode/create', { action_name: 'QR_SCENE', action_info: { scene: { scene_id: 1 } } }))
    expect(r.errcode).toBe(41001)
  })

  test('tickets are base64 with "=" padding, and over a few codes "+" or "/" appear', async () => {
    const { create } = await ready()
    const tickets: string[] = []
    for (let i = 0; i < 30; i++) tickets.push((await create({ action_name: 'QR_SCENE', action_info: { scene: { scene_id: i + 1 } } })).ticket)
    expect(new Set(tickets).size).toBe(30)
    for (const t of tickets) expect(t).toMatch(BASE64)
    expect(tickets.some((t) => /[+/]/.test(t))).toBe(true)
  })
})

describe('showqrcode', () => {
  test('a known ticket, URL-encoded, gives a PNG; it turns 404 when the code expires', async () => {
    const { clock, create, show } = await ready()
    const { ticket } = await create({ expire_seconds: 120, action_name: 'QR_STR_SCENE', action_info: { scene: { scene_str: 'abc' } } })
    const res = await show(ticket)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/png')
    const bytes = new Uint8Array(await res.arrayBuffer())
    expect([...bytes.slice(0, 8)]).toEqual(PNG_SIGNATURE)
    expect(bytes.length).toBeGreaterThan(40)
    clock.advance(2 * MIN - 1)
    expect((await show(ticket)).status).toBe(200)
    clock.advance(1)
    const gone = await show(ticket)
    expect(gone.status).toBe(404)
    await gone.arrayBuffer()
  })

  test('a ticket with "+" sent without URL-encoding is not found, as on the real host', async () => {
    let found: string | undefined
    const { create, show, sb } = await ready()
    for (let i = 0; i < 200 && !found; i++) {
      const { ticket } = await create({ action_name: 'QR_SCENE', action_info: { scene: { scene_id: i + 1 } } })
      if (ticket.includes('+')) found = ticket
    }
    if (!found) throw new Error('no ticket with "+" in 200 tries')
    const raw = await fetch(`${sb.url}/cgi-bin/showqrcode?ticket=${found}`)
    expect(raw.status).toBe(404)
    await raw.arrayBuffer()
    const encoded = await show(found)
    expect(encoded.status).toBe(200)
    await encoded.arrayBuffer()
  })

  test('permanent codes never expire; unknown tickets and a missing ticket are 404', async () => {
    const { sb, clock, create, show } = await ready()
    const { ticket } = await create({ action_name: 'QR_LIMIT_SCENE', action_info: { scene: { scene_id: 7 } } })
    clock.advance(400 * 24 * 60 * MIN)
    const ok = await show(ticket)
    expect(ok.status).toBe(200)
    await ok.arrayBuffer()
    const unknown = await show('gQHunknownticket==')
    expect(unknown.status).toBe(404)
    expect(await unknown.text()).toBe('404 Not Found')
    const missing = await fetch(`${sb.url}/cgi-bin/showqrcode`)
    expect(missing.status).toBe(404)
    await missing.arrayBuffer()
    expect(sb.qrScene('gQHunknownticket==')).toBeUndefined()
  })
})
