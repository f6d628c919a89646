/** @module Tests for the sandbox's template send: raw 64-bit msgid, recipient/template/data errors, client_msg_id dedup. */
import { describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, type Sandbox } from '../../src/sandbox'
import { MIN, OTHER_ACCOUNT, S, T0, errmsgLike, json, post, setup, stable } from './sandbox-helpers'

const PATH = '/cgi-bin/message/template/send'
const TPL = 'TPL_DEMO_ORDER_PAID'

const ready = async () => {
  const ctx = await setup()
  ctx.sb.addUser(DEMO_ACCOUNT.appId, 'o_alice')
  const { access_token } = await stable(ctx.sb)
  const send = (body: unknown) => post(ctx.sb, PATH, body, { access_token })
  return { ...ctx, access_token, send }
}

const msgidOf = (text: string): string => {
  const m = /^\{"errcode":0,"errmsg":"ok","msgid":(\d+)\}$/.exec(text)
  if (!m?.[1]) throw new Error(`not a success answer: ${text}`)
  return m[1]
}

describe('template send success', () => {
  test('answers errcode 0 and a msgid beyond 2^53 written as raw digits, and records the delivery', async () => {
    const { sb, send } = await ready()
    const body = {
      touser: 'o_alice',
      template_id: TPL,
      url: 'https://example.com/order/1',
      miniprogram: { appid: 'wxmini000000000001', pagepath: 'pages/order?id=1' },
      data: { thing1: { value: '巧克力' }, amount2: { value: '39.8元', color: '#173177' } },
    }
    const res = await send(body)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const text = await res.text()
    const msgid = msgidOf(text)
    expect(BigInt(msgid) > 2n ** 53n).toBe(true)
    expect(BigInt(msgid) < 2n ** 63n).toBe(true)
    // Parsing as a JS number would lose digits: the reason the JSON is written by hand.
    expect(String((JSON.parse(text) as { msgid: number }).msgid)).not.toBe(msgid)
    expect(sb.delivered()).toEqual([{
      appId: DEMO_ACCOUNT.appId,
      touser: 'o_alice',
      template_id: TPL,
      msgid,
      data: body.data,
      url: body.url,
      miniprogram: body.miniprogram,
      at: T0,
    }])
  })

  test('each send without client_msg_id is delivered, with distinct msgids', async () => {
    const { sb, send } = await ready()
    const a = msgidOf(await (await send({ touser: 'o_alice', template_id: TPL, data: {} })).text())
    const b = msgidOf(await (await send({ touser: 'o_alice', template_id: 'TPL_DEMO_REFUND_REJECTED', data: {} })).text())
    expect(a).not.toBe(b)
    expect(sb.delivered().map((d) => d.msgid)).toEqual([a, b])
    expect(sb.delivered(OTHER_ACCOUNT.appId)).toEqual([])
  })
})

describe('template send errors', () => {
  const cases: [string, (sb: Sandbox) => void, unknown, number, string][] = [
    ['unknown openid', () => {}, { touser: 'o_nobody', template_id: TPL, data: {} }, 40003, 'invalid openid'],
    ['unsubscribed user', (sb) => sb.setSubscribed(DEMO_ACCOUNT.appId, 'o_alice', false), { touser: 'o_alice', template_id: TPL, data: {} }, 43004, 'require subscribe'],
    ['template not added', () => {}, { touser: 'o_alice', template_id: 'TPL_OTHER', data: {} }, 40037, 'invalid template_id'],
    ['template of another account', (sb) => sb.addTemplate(OTHER_ACCOUNT.appId, 'TPL_OTHER'), { touser: 'o_alice', template_id: 'TPL_OTHER', data: {} }, 40037, 'invalid template_id'],
    ['missing touser', () => {}, { template_id: TPL, data: {} }, 47001, 'data format error'],
    ['missing template_id', () => {}, { touser: 'o_alice', data: {} }, 47001, 'data format error'],
    ['data is an array', () => {}, { touser: 'o_alice', template_id: TPL, data: [] }, 47001, 'data format error'],
    ['body is XML', () => {}, '<xml><touser>o_alice</touser></xml>', 47001, 'data format error'],
    ['a number value', () => {}, { touser: 'o_alice', template_id: TPL, data: { thing1: { value: 'ok' }, amount2: { value: 39.8 } } }, 47003, 'argument invalid! data.amount2.value invalid'],
    ['a value missing', () => {}, { touser: 'o_alice', template_id: TPL, data: { thing1: { color: '#000000' } } }, 47003, 'argument invalid! data.thing1.value invalid'],
  ]
  for (const [name, arrange, body, errcode, text] of cases) {
    test(`${name} → ${errcode}`, async () => {
      const { sb, send } = await ready()
      arrange(sb)
      const answer = await json(send(body))
      expect(answer.errcode).toBe(errcode)
      expect(answer.errmsg).toMatch(errmsgLike(text))
      expect(answer.msgid).toBeUndefined()
      expect(sb.delivered()).toEqual([])
    })
  }

  test('needs a valid token', async () => {
    const { sb } = await ready()
    expect((await json(post(sb, PATH, { touser: 'o_alice', template_id: TPL }))).errcode).toBe(41001)
    expect((await json(post(sb, PATH, { touser: 'o_alice', template_id: TPL }, { access_token: 'bogus' }))).errcode).toBe(40001)
  })

  test('a user who subscribes again can receive again', async () => {
    const { sb, send } = await ready()
    sb.setSubscribed(DEMO_ACCOUNT.appId, 'o_alice', false)
    expect((await json(send({ touser: 'o_alice', template_id: TPL }))).errcode).toBe(43004)
    sb.setSubscribed(DEMO_ACCOUNT.appId, 'o_alice', true)
    expect((await json(send({ touser: 'o_alice', template_id: TPL }))).errcode).toBe(0)
    expect(sb.delivered()).toHaveLength(1)
  })
})

describe('client_msg_id dedup', () => {
  const body = (touser: string, client_msg_id: string) => ({ touser, template_id: TPL, client_msg_id, data: { thing1: { value: 'x' } } })

  test('the same touser + client_msg_id within 10 minutes returns the same msgid and is delivered once', async () => {
    const { sb, clock, send } = await ready()
    const first = msgidOf(await (await send(body('o_alice', 'MSG_000001'))).text())
    clock.advance(10 * MIN - 1 * S)
    const again = msgidOf(await (await send(body('o_alice', 'MSG_000001'))).text())
    expect(again).toBe(first)
    expect(sb.delivered()).toHaveLength(1)
    expect(sb.delivered()[0]?.client_msg_id).toBe('MSG_000001')
  })

  test('after 10 minutes the same client_msg_id sends again with a new msgid', async () => {
    const { sb, clock, send } = await ready()
    const first = msgidOf(await (await send(body('o_alice', 'MSG_000001'))).text())
    clock.advance(10 * MIN)
    const later = msgidOf(await (await send(body('o_alice', 'MSG_000001'))).text())
    expect(later).not.toBe(first)
    expect(sb.delivered().map((d) => d.msgid)).toEqual([first, later])
    expect(sb.delivered()[1]?.at).toBe(T0 + 10 * MIN)
  })

  test('the key is touser + client_msg_id: another user with the same id is a different message', async () => {
    const { sb, send } = await ready()
    sb.addUser(DEMO_ACCOUNT.appId, 'o_bob')
    const a = msgidOf(await (await send(body('o_alice', 'MSG_X'))).text())
    const b = msgidOf(await (await send(body('o_bob', 'MSG_X'))).text())
    expect(a).not.toBe(b)
    expect(sb.delivered().map((d) => d.touser)).toEqual(['o_alice', 'o_bob'])
  })
})
