/**
 * Template discovery on the real server against the sandbox WeChat (SPEC §4 "Sending"):
 * GET /api/channels/:id/templates (fields from the contents, cached 10 minutes, WeChat errors 502, OpenAPI),
 * and POST /api/send refusing a data key the template does not have, without ever failing or stalling a send
 * because the list cannot be read.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { bindingsRepo } from '../../src/store/sqlite/bindings.repo'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

const APP = DEMO_ACCOUNT.appId
const LIST = '/cgi-bin/template/get_all_private_template'
const STABLE = '/cgi-bin/stable_token'
const TPL = 'TPL_DEMO_ORDER_PAID'
const TEN_MIN = 10 * 60_000
// The gateway's clock: real time plus an offset a test moves forward (the cache's 10 minutes).
let offset = 0
const clock = { now: () => Date.now() + offset }

let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox({ templateFinish: false })
  s = await startTestServer({ clock, wechatTimeoutMs: 4000, env: { WXGATE_WECHAT_API: sb.url, WXGATE_SEND_RATE: '200' } })
  await s.deps.channels.upsert({ id: 'demo', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
})
afterAll(async () => { await s.stop(); await sb.stop() })

const api = (path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) =>
  fetch(`${s.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  })
/** Past the cache (and the send check's pause after a failure). */
const later = () => { offset += TEN_MIN + 1 }

let userSeq = 0
const user = async (subject: string) => {
  const openid = `o_tpl_${++userSeq}`
  sb.addUser(APP, openid)
  await s.deps.db.tx((orm) => orm.bindings.bind({ id: `bnd_tpl${userSeq}`, channelId: 'demo', openid, subject, code: 'test', now: clock.now() }))
  return openid
}
const send = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  api('/api/send', { method: 'POST', body: { channel: 'demo', to: 'tpl-user', templateId: TPL, ...body }, headers })

interface Field { key: string; type: string; label: string }
interface Tpl { templateId: string; title: string; fields: Field[]; example?: string }

describe('GET /api/channels/:id/templates', () => {
  test("lists the account's templates with each field's key, type and Chinese label, and the example", async () => {
    const res = await api('/api/channels/demo/templates')
    expect(res.status).toBe(200)
    const { items } = (await res.json()) as { items: Tpl[] }
    expect(items.map((t) => [t.templateId, t.title])).toEqual([[TPL, '订单支付成功通知'], ['TPL_DEMO_REFUND_REJECTED', '退款申请驳回通知']])
    expect(items[0]!.fields.slice(0, 3)).toEqual([
      { key: 'thing1', type: 'thing', label: '商品名称' },
      { key: 'amount2', type: 'amount', label: '支付金额' },
      { key: 'time3', type: 'time', label: '支付时间' },
    ])
    expect(items[1]!.fields.map((f) => `${f.label}=${f.key}`)).toEqual(['退款金额=amount1', '驳回原因=thing2', '处理时间=time3'])
    expect(items[0]!.example).toStartWith('商品名称：巧克力')
  })

  test('cached 10 minutes per channel (the injected clock): no WeChat call within, one after', async () => {
    later()
    await api('/api/channels/demo/templates')
    const calls = sb.calls(LIST)
    offset += TEN_MIN - 5_000
    expect((await api('/api/channels/demo/templates')).status).toBe(200)
    expect(sb.calls(LIST)).toBe(calls)
    offset += 10_000
    sb.addTemplate(APP, 'TPL_NEW', { title: '新模板', content: '内容：{{thing1.DATA}}' })
    const { items } = (await (await api('/api/channels/demo/templates')).json()) as { items: Tpl[] }
    expect(sb.calls(LIST)).toBe(calls + 1)
    expect(items.at(-1)).toEqual({ templateId: 'TPL_NEW', title: '新模板', fields: [{ key: 'thing1', type: 'thing', label: '内容' }] })
  })

  test('WeChat says no → 502 in the error shape with errcode and errmsg; an unknown channel → 404', async () => {
    later()
    sb.inject({ path: LIST, errcode: 48001 })
    const res = await api('/api/channels/demo/templates')
    expect(res.status).toBe(502)
    const body = (await res.json()) as { error: { code: string; message: string; details: { errcode: number; errmsg: string } } }
    expect(body.error.code).toBe('wechat_error')
    expect(body.error.details.errcode).toBe(48001)
    expect(body.error.details.errmsg).toContain('api unauthorized')
    const missing = await api('/api/channels/nope/templates')
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found')
  })

  test('a refused token (40001) is replaced through the token service and the call retried once', async () => {
    later()
    await api('/api/channels/demo/access-token')
    const tokens = sb.calls(STABLE)
    sb.revokeTokens(APP)
    const res = await api('/api/channels/demo/templates')
    expect(res.status).toBe(200)
    expect(sb.calls(STABLE)).toBe(tokens + 1)
  })

  test('45009 from the list stops this API only: 502 once, then 503 naming it, while the token is still served', async () => {
    later()
    sb.inject({ path: LIST, errcode: 45009 })
    expect((await api('/api/channels/demo/templates')).status).toBe(502)
    const again = await api('/api/channels/demo/templates')
    expect(again.status).toBe(503)
    expect(((await again.json()) as { error: { message: string } }).error.message).toContain('template/get_all_private_template')
    expect((await api('/api/channels/demo/access-token')).status).toBe(200)
    expect((await api('/api/channels/demo/clear-quota', { method: 'POST' })).status).toBe(200)
    expect((await api('/api/channels/demo/templates')).status).toBe(200)
  })

  test('in the OpenAPI document: summary, the bearer scheme, the list schema, 401/403/404/502', async () => {
    type Op = { summary?: string; security?: unknown[]; responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }
    const doc = (await (await fetch(`${s.url}/docs/json`)).json()) as { paths: Record<string, Record<string, Op>> }
    const op = doc.paths['/api/channels/{id}/templates']?.get
    expect(op?.summary).toContain('templates')
    expect(op?.security).toEqual([{ bearer: [] }])
    expect(Object.keys(op!.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '404', '502']))
    expect(JSON.stringify(op!.responses['200']!.content!['application/json']!.schema)).toContain('Template')
  })
})

describe('POST /api/send against the template list', () => {
  test('a key the template does not have → 422 naming its keys; nothing is stored', async () => {
    await user('tpl-user')
    await api('/api/channels/demo/templates')
    const before = sb.delivered(APP).length
    const res = await send({ data: { thing1: '巧克力', amount9: '¥1.00' } })
    expect(res.status).toBe(422)
    const body = (await res.json()) as { error: { code: string; message: string; details: unknown } }
    expect(body.error).toEqual({
      code: 'validation_failed',
      message: `data.amount9: template ${TPL} has no field amount9; its fields are thing1, amount2, time3, thing4, thing5`,
      details: { templateId: TPL, unknownKeys: ['amount9'], fields: ['thing1', 'amount2', 'time3', 'thing4', 'thing5'] },
    })
    expect((await api('/api/messages?subject=tpl-user')).status).toBe(200)
    expect(((await (await api('/api/messages?subject=tpl-user')).json()) as { items: unknown[] }).items).toEqual([])
    await Bun.sleep(50)
    expect(sb.delivered(APP).length).toBe(before)
  })

  test("the template's keys, and first/remark (which WeChat ignores), are accepted", async () => {
    const res = await send({ data: { thing1: '巧克力', amount2: '¥39.80', time3: '15:01', first: '您好', remark: '谢谢' } })
    expect(res.status).toBe(202)
  })

  test('with the cache past its 10 minutes, the send reads the list itself (one call) and refuses the key', async () => {
    later()
    await api('/api/channels/demo/access-token')
    const calls = sb.calls(LIST)
    expect((await send({ data: { thing9: 'x' } })).status).toBe(422)
    expect((await send({ data: { thing8: 'x' } })).status).toBe(422)
    expect(sb.calls(LIST)).toBe(calls + 1)
  })

  test('an unknown templateId is accepted with an unknown_template warning (the list may be minutes old); WeChat fails it with 40037', async () => {
    await api('/api/channels/demo/templates')
    const res = await send({ templateId: 'TPL_NOT_THERE', data: { anything1: 'x' } })
    expect(res.status).toBe(202)
    const a = (await res.json()) as { recipients: { messageId: string }[]; warnings?: { key: string; code: string; message: string }[] }
    expect(a.warnings).toEqual([{
      key: 'templateId',
      code: 'unknown_template',
      message: 'templateId: no template TPL_NOT_THERE on channel demo (WeChat will answer 40037); GET /api/channels/demo/templates lists them',
    }])
  })

  test('a template whose content has no placeholders (fields unknown) is not checked', async () => {
    sb.addTemplate(APP, 'TPL_BARE')
    later()
    await api('/api/channels/demo/templates')
    expect((await send({ templateId: 'TPL_BARE', data: { whatever9: 'x' } })).status).toBe(202)
  })

  test('the same Idempotency-Key answers the first answer as before', async () => {
    const first = await send({ data: { thing1: '巧克力' } }, { 'idempotency-key': 'tpl-k1' })
    expect(first.status).toBe(202)
    later()
    const again = await send({ data: { thing1: '巧克力' } }, { 'idempotency-key': 'tpl-k1' })
    expect(again.status).toBe(202)
    expect(await again.json()).toEqual(await first.json())
  })
})

describe('the send is never failed or stalled by the list', () => {
  test('WeChat slow on the list: the send is accepted unchecked within about the 1 s budget; later sends in the next minute do not wait', async () => {
    later()
    await api('/api/channels/demo/access-token')
    sb.inject({ path: LIST, delayMs: 3500 })
    const t0 = performance.now()
    expect((await send({ data: { extra9: 'x' } })).status).toBe(202)
    const took = performance.now() - t0
    expect(took).toBeGreaterThanOrEqual(900)
    // Well below the 3.5 s WeChat takes: the send did not wait for the list.
    expect(took).toBeLessThan(3000)
    const t1 = performance.now()
    expect((await send({ data: { extra9: 'y' } })).status).toBe(202)
    expect(performance.now() - t1).toBeLessThan(900)
    // The slow call went on and filled the cache: from then on sends are checked again.
    const end = Date.now() + 6000
    let status = 202
    while (Date.now() < end && status === 202) {
      await Bun.sleep(200)
      status = (await send({ data: { extra9: 'z' } })).status
    }
    expect(status).toBe(422)
  })

  test('WeChat failing on the list: accepted unchecked, and not asked again within the minute', async () => {
    later()
    await api('/api/channels/demo/access-token')
    sb.inject({ path: LIST, errcode: -1 })
    const calls = sb.calls(LIST)
    expect((await send({ data: { extra9: 'x' } })).status).toBe(202)
    expect((await send({ data: { extra9: 'x' } })).status).toBe(202)
    expect(sb.calls(LIST)).toBe(calls + 1)
  })

  test('a refused token on the list is not replaced by the send check (the outbox does that), and the send is accepted', async () => {
    later()
    await api('/api/channels/demo/access-token')
    sb.inject({ path: LIST, errcode: 40001 })
    const tokens = sb.calls(STABLE)
    const res = await send({ data: { extra9: 'x' } })
    expect(res.status).toBe(202)
    expect(sb.calls(STABLE)).toBe(tokens)
  })
})

describe('a channel without a valid stored token', () => {
  test('the send check makes no list call (and so needs no token fetch): the send is accepted unchecked', async () => {
    const other = await startTestServer({ clock, env: { WXGATE_WECHAT_API: sb.url, WXGATE_SEND_RATE: '200' } })
    try {
      await other.deps.channels.upsert({ id: 'fresh', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
      const list = sb.calls(LIST)
      const res = await fetch(`${other.url}/api/send`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'fresh', openids: ['o_nobody'], templateId: TPL, data: { extra9: 'x' } }),
      })
      expect(res.status).toBe(202)
      // (The outbox then fetches the token to send; the check itself neither did nor read the list.)
      expect(sb.calls(LIST)).toBe(list)
    } finally {
      await other.stop()
    }
  })
})
