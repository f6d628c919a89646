/**
 * @module Tests for the sandbox's TEMPLATESENDJOBFINISH reports: after a delivered template message the event is
 * pushed to the account's callback target (signed; encrypted in safe mode) after the configured delay, with the
 * configured Status and the msgid the send answered; off by option or control route; once per delivery.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { DEFAULT_FINISH_DELAY_MS, DEMO_ACCOUNT, type SandboxOptions, originalIdOf } from '../../src/sandbox'
import { T0, json, post, setup, stable, openPush } from './sandbox-helpers'

const TOKEN = 'finishToken123'
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'
const APP = DEMO_ACCOUNT.appId
const SEND = '/cgi-bin/message/template/send'

interface Got { at: number; query: Record<string, string>; plain: string }

const receivers: { stop: () => void }[] = []
afterEach(() => {
  for (const r of receivers.splice(0)) r.stop()
})

/** A stand-in for the gateway: checks the signature (and msg_signature, decrypting in safe mode), answers `script` first, then success. */
const startReceiver = (opts: { aesKey?: string; script?: number[] } = {}) => {
  const got: Got[] = []
  const script = [...(opts.script ?? [])]
  let attempts = 0
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: async (request) => {
      attempts++
      const query = Object.fromEntries(new URL(request.url).searchParams)
      const body = await request.text()
      const step = script.shift()
      if (step !== undefined) return new Response('scripted failure', { status: step })
      const opened = openPush({ query, body, token: TOKEN, appId: APP, aesKey: opts.aesKey })
      if ('refuse' in opened) return opened.refuse
      const plain = opened.plain
      got.push({ at: performance.now(), query, plain })
      return new Response('success')
    },
  })
  receivers.push({ stop: () => void server.stop(true) })
  return { url: `${server.url.origin}/wechat/demo`, got, attempts: () => attempts }
}

const ready = async (opts: SandboxOptions & { aesKey?: string; script?: number[] } = {}) => {
  const ctx = await setup(opts)
  const rx = startReceiver(opts)
  ctx.sb.setCallback(APP, { url: rx.url, token: TOKEN, ...(opts.aesKey ? { aesKey: opts.aesKey } : {}) })
  ctx.sb.addUser(APP, 'o_alice')
  const { access_token } = await stable(ctx.sb)
  const send = async (extra: Record<string, unknown> = {}) => {
    const sentAt = performance.now()
    const text = await (await post(ctx.sb, SEND, { touser: 'o_alice', template_id: 'TPL_DEMO_ORDER_PAID', data: { thing1: { value: '巧克力' } }, ...extra }, { access_token })).text()
    const msgid = /"msgid":(\d+)/.exec(text)?.[1]
    if (!msgid) throw new Error(`not sent: ${text}`)
    return { msgid, sentAt }
  }
  return { ...ctx, rx, send }
}

const until = async (what: () => boolean, ms = 5000) => {
  const end = Date.now() + ms
  while (Date.now() < end) { if (what()) return; await Bun.sleep(10) }
  throw new Error('condition not met in time')
}

const finishXml = (msgid: string, status: string) =>
  `<xml><ToUserName><![CDATA[${originalIdOf(APP)}]]></ToUserName><FromUserName><![CDATA[o_alice]]></FromUserName>` +
  `<CreateTime>${T0 / 1000}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>` +
  `<MsgID>${msgid}</MsgID><Status><![CDATA[${status}]]></Status></xml>`

describe('TEMPLATESENDJOBFINISH after a delivery', () => {
  test('by default: success, the msgid the send answered, signed, after about 200 ms', async () => {
    const { rx, send } = await ready()
    const { msgid, sentAt } = await send()
    expect(rx.got).toHaveLength(0)
    await until(() => rx.got.length === 1)
    expect(rx.got[0]!.plain).toBe(finishXml(msgid, 'success'))
    expect(rx.got[0]!.query.openid).toBe('o_alice')
    // Not before the delay (a little slack for timer granularity), so the gateway has stored the msgid.
    expect(rx.got[0]!.at - sentAt).toBeGreaterThanOrEqual(DEFAULT_FINISH_DELAY_MS - 20)
    expect(DEFAULT_FINISH_DELAY_MS).toBe(200)
  })

  test('safe mode: encrypted with the account key, msg_signature checked', async () => {
    const { rx, send } = await ready({ aesKey: AES_KEY, templateFinish: { delayMs: 0 } })
    const { msgid } = await send()
    await until(() => rx.got.length === 1)
    expect(rx.got[0]!.query.encrypt_type).toBe('aes')
    expect(rx.got[0]!.plain).toBe(finishXml(msgid, 'success'))
  })

  test('a configured failure status, by option, by method and by control route; enabled false sends none', async () => {
    const { sb, rx, send } = await ready({ templateFinish: { delayMs: 0, status: 'failed:user block' } })
    const a = await send()
    await until(() => rx.got.length === 1)
    expect(rx.got[0]!.plain).toBe(finishXml(a.msgid, 'failed:user block'))

    sb.setTemplateFinish({ status: 'failed: system failed' })
    const b = await send()
    await until(() => rx.got.length === 2)
    expect(rx.got[1]!.plain).toBe(finishXml(b.msgid, 'failed: system failed'))

    expect(await json(post(sb, '/_sandbox/template-finish', { status: 'success', delayMs: 0 }))).toEqual({ ok: true })
    const c = await send()
    await until(() => rx.got.length === 3)
    expect(rx.got[2]!.plain).toBe(finishXml(c.msgid, 'success'))

    expect(await json(post(sb, '/_sandbox/template-finish', { enabled: false }))).toEqual({ ok: true })
    await send()
    await Bun.sleep(150)
    expect(rx.got).toHaveLength(3)
    expect((await post(sb, '/_sandbox/template-finish', { delayMs: -1 })).status).toBe(400)

    // reset() restores the option given at start.
    sb.reset()
    sb.addUser(APP, 'o_alice')
    const token = (await stable(sb)).access_token as string
    const text = await (await post(sb, SEND, { touser: 'o_alice', template_id: 'TPL_DEMO_ORDER_PAID', data: {} }, { access_token: token })).text()
    await until(() => rx.got.length === 4)
    expect(rx.got[3]!.plain).toContain('<Status><![CDATA[failed:user block]]></Status>')
    expect(text).toContain('"msgid":')
  })

  test('templateFinish: false sends none; nor does an account without a callback target', async () => {
    const { rx, send } = await ready({ templateFinish: false })
    await send()
    const other = await ready({ templateFinish: { delayMs: 0 } })
    other.sb.setCallback(APP, undefined)
    await other.send()
    await Bun.sleep(150)
    expect(rx.got).toHaveLength(0)
    expect(other.rx.attempts()).toBe(0)
  })

  test('one event per delivery: a resend deduplicated by client_msg_id causes none', async () => {
    const { rx, send } = await ready({ templateFinish: { delayMs: 0 } })
    const a = await send({ client_msg_id: 'msg_1' })
    const again = await send({ client_msg_id: 'msg_1' })
    expect(again.msgid).toBe(a.msgid)
    await until(() => rx.got.length >= 1)
    await Bun.sleep(150)
    expect(rx.got.map((g) => g.plain)).toEqual([finishXml(a.msgid, 'success')])
  })

  test('retried twice when the answer is not 200, as WeChat does', async () => {
    const { rx, send } = await ready({ templateFinish: { delayMs: 0 }, script: [500, 503] })
    const { msgid } = await send()
    await until(() => rx.got.length === 1)
    expect(rx.attempts()).toBe(3)
    expect(rx.got[0]!.plain).toBe(finishXml(msgid, 'success'))
  })

  test('a report still pending when the sandbox stops is never sent', async () => {
    const { sb, rx, send } = await ready({ templateFinish: { delayMs: 100 } })
    await send()
    await sb.stop()
    await Bun.sleep(250)
    expect(rx.attempts()).toBe(0)
  })

  test('a bad option is refused at start', async () => {
    await expect(setup({ templateFinish: { delayMs: -5 } })).rejects.toThrow('delayMs must be >= 0')
    await expect(setup({ templateFinish: { status: '' } })).rejects.toThrow('status is empty')
  })
})
