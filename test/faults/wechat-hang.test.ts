/**
 * Fault injection: WeChat hanging during sends and token refreshes, and SIGTERM while calls hang (SPEC §4
 * "Sending", §5 SIGTERM). The gateway is a real process on a real database; the sandbox WeChat never
 * answers. A stop must still exit 0 within 10 s, and the messages caught mid-call resume at the next start
 * with the same client_msg_id (or fail delivery_unknown once their call is 9 minutes old).
 */
import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { type GatewayProcess, startGatewayProcess } from '../support/gateway-process'
import { ADMIN_TOKEN as TEST_ADMIN, PLAIN, post, signedQuery, startTestServer, textXml } from '../support/server'

const ADMIN = 'hang-admin-token-0123456789abcdef'
const APP = DEMO_ACCOUNT.appId
const SEND = '/cgi-bin/message/template/send'
const STABLE = '/cgi-bin/stable_token'
let sb: Sandbox
let root: string
beforeAll(async () => {
  sb = await startSandbox()
  for (let i = 0; i < 4; i++) sb.addUser(APP, `o_hang_${i}`, { subscribed: true })
  root = mkdtempSync(join(tmpdir(), 'wxgate-hang-'))
})
afterAll(async () => {
  await sb.stop()
  rmSync(root, { recursive: true, force: true })
})

const gateway = (dbPath: string): Promise<GatewayProcess> => startGatewayProcess({
  command: (port) => ({
    cmd: [process.execPath, join(import.meta.dir, '..', '..', 'src', 'main.ts'), 'serve'],
    env: {
      ...process.env, WXGATE_DB: dbPath, WXGATE_PORT: String(port), WXGATE_HOST: '127.0.0.1', WXGATE_LOG_LEVEL: 'warn',
      WXGATE_ADMIN_TOKEN: ADMIN, WXGATE_WECHAT_API: sb.url, WXGATE_APPID: APP, WXGATE_APPSECRET: DEMO_ACCOUNT.appSecret, WXGATE_TOKEN: 'hangtoken',
    },
  }),
})
const api = (g: GatewayProcess, path: string, body?: unknown) => fetch(`${g.base}${path}`, {
  method: body === undefined ? 'GET' : 'POST',
  headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
})
const sendTo = (g: GatewayProcess, openid: string, wait = false) =>
  api(g, `/api/send${wait ? '?wait=true' : ''}`, { openids: [openid], templateId: 'TPL_DEMO_ORDER_PAID', data: { thing1: '订单已支付' } })
const row = (dbPath: string, id: string) => {
  const db = new Database(dbPath, { readonly: true })
  try {
    return db.query('SELECT status, attempts, error FROM messages WHERE id = ?').get(id) as { status: string; attempts: number; error: string | null }
  } finally {
    db.close()
  }
}
const until = async (what: () => boolean | Promise<boolean>, ms = 15_000) => {
  const end = Date.now() + ms
  while (Date.now() < end) { if (await what()) return; await Bun.sleep(25) }
  throw new Error('condition not met in time')
}
const sigterm = async (g: GatewayProcess) => {
  const t0 = Date.now()
  const code = await g.stop('SIGTERM', 15_000)
  return { code, ms: Date.now() - t0 }
}

test('SIGTERM while template sends hang (one of them a ?wait=true request): exit 0 within 10 s; a restart sends them with the same client_msg_id, or fails delivery_unknown once the call is 9 minutes old', async () => {
  const dbPath = join(root, 'send.db')
  let g = await gateway(dbPath)
  // A token first, so that only the sends hang.
  expect((await api(g, '/api/channels/default/access-token')).status).toBe(200)
  sb.inject({ path: SEND, hang: true, times: Infinity })
  const before = sb.calls(SEND)
  const a = ((await (await sendTo(g, 'o_hang_0')).json()) as { recipients: { messageId: string }[] }).recipients[0]!.messageId
  const b = ((await (await sendTo(g, 'o_hang_1')).json()) as { recipients: { messageId: string }[] }).recipients[0]!.messageId
  const waiting = sendTo(g, 'o_hang_2', true).then((r) => r.status, () => 'closed')
  await until(() => sb.calls(SEND) - before >= 3)

  const stopped = await sigterm(g)
  expect(stopped.code).toBe(0)
  expect(stopped.ms).toBeLessThan(10_000)
  expect(await waiting).toBe(200)
  expect(row(dbPath, a).status).not.toBe('sent')

  // Message a: as if the restart came 10 minutes after its call (the clock says 9 minutes passed).
  const db = new Database(dbPath)
  db.query('UPDATE messages SET uncertain_since = coalesce(uncertain_since, last_call_at) - 600000, last_call_at = last_call_at - 600000 WHERE id = ?').run(a)
  db.close()

  sb.clearInjections(SEND)
  g = await gateway(dbPath)
  try {
    await until(() => row(dbPath, b).status === 'sent' && row(dbPath, a).status === 'failed')
    expect(row(dbPath, a).error).toBe('delivery_unknown')
    const sentB = sb.received(SEND).filter((c) => (c.body as { client_msg_id?: string }).client_msg_id === b)
    expect(sentB.length).toBe(2) // the hung call and the resend, with the same client_msg_id
    expect(sb.delivered(APP).filter((d) => d.client_msg_id === b)).toHaveLength(1)
    expect(sb.received(SEND).filter((c) => (c.body as { client_msg_id?: string }).client_msg_id === a)).toHaveLength(1)
  } finally {
    await g.stop('SIGTERM')
  }
}, 60_000)

test('SIGTERM while a token refresh hangs and an /access-token request waits on it: exit 0 within 10 s', async () => {
  const dbPath = join(root, 'token.db')
  const g = await gateway(dbPath)
  sb.inject({ path: STABLE, hang: true, times: Infinity })
  try {
    const before = sb.calls(STABLE)
    const waiting = api(g, '/api/channels/default/access-token').then((r) => r.status, () => 'closed')
    await until(() => sb.calls(STABLE) > before)
    const stopped = await sigterm(g)
    expect(stopped.code).toBe(0)
    expect(stopped.ms).toBeLessThan(10_000)
    expect(await waiting).not.toBe(200)
  } finally {
    sb.clearInjections(STABLE)
    await g.stop('SIGKILL', 0)
  }
}, 60_000)

test('WeChat hanging on sends and on the token refresh holds nothing else up; once it answers, every message is sent once', async () => {
  // In process, with a movable clock: the token is put into its refresh window so that the scheduler's refresh hangs too.
  let offset = 0
  const clock = { now: () => Date.now() + offset }
  const s = await startTestServer({ clock, wechatTimeoutMs: 3000, env: { WXGATE_WECHAT_API: sb.url, WXGATE_CALLBACK_MAX_AGE: '0' } })
  try {
    await s.deps.channels.upsert({ id: 'demo', appId: APP, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
    const authed = { authorization: `Bearer ${TEST_ADMIN}` }
    const first = await (await fetch(`${s.url}/api/channels/demo/access-token`, { headers: authed })).json() as { accessToken: string }
    // 200 s left: inside the last 300 s (the scheduler refreshes), still handed out (at least 60 s).
    offset += 7000_000
    sb.inject({ path: STABLE, hang: true, times: Infinity })
    sb.inject({ path: SEND, hang: true, times: Infinity })
    const before = sb.calls(SEND)
    const sent = await fetch(`${s.url}/api/send`, {
      method: 'POST', headers: { ...authed, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'demo', openids: ['o_hang_0', 'o_hang_1'], templateId: 'TPL_DEMO_ORDER_PAID', data: { thing1: '订单已支付' } }),
    })
    expect(sent.status).toBe(202)
    const ids = ((await sent.json()) as { recipients: { messageId: string }[] }).recipients.map((r) => r.messageId)
    await until(() => sb.calls(SEND) > before)
    const refreshes = sb.calls(STABLE)
    void s.deps.tokens.tick()
    await until(() => sb.calls(STABLE) > refreshes)
    // Meanwhile (both calls hang for 3 s, the client's timeout): health, callbacks and the stored token answer at once.
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now()
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
      const cb = await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml())
      expect(cb.status).toBe(200)
      const tok = await (await fetch(`${s.url}/api/channels/demo/access-token`, { headers: authed })).json() as { accessToken: string }
      expect(tok.accessToken).toBe(first.accessToken)
      expect(performance.now() - t0).toBeLessThan(500)
      await Bun.sleep(200)
    }
    expect(sb.calls(STABLE)).toBe(refreshes + 1)
    sb.clearInjections(SEND)
    sb.clearInjections(STABLE)
    await until(() => ids.every((id) => sb.delivered(APP).some((d) => d.client_msg_id === id)))
    for (const id of ids) expect(sb.delivered(APP).filter((d) => d.client_msg_id === id)).toHaveLength(1)
    await until(async () => {
      const st = await Promise.all(ids.map(async (id) => ((await (await fetch(`${s.url}/api/messages/${id}`, { headers: authed })).json()) as { status: string }).status))
      return st.every((x) => x === 'sent')
    })
  } finally {
    sb.clearInjections(SEND)
    sb.clearInjections(STABLE)
    await s.stop()
  }
}, 60_000)
