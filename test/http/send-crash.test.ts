/**
 * The crash test of SPEC §4 "Sending": the gateway (a real process) is killed with SIGKILL while 1,000
 * accepted messages are in flight against a slow sandbox WeChat. After a restart on the same database
 * every message ends `sent`, and the sandbox delivered each client_msg_id exactly once — the ones caught
 * mid-call were sent again with the same client_msg_id, which WeChat deduplicates.
 */
import { Database } from 'bun:sqlite'
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { type GatewayProcess, startGatewayProcess } from '../support/gateway-process'

const ADMIN = 'crash-admin-token-0123456789abcdef'
const N = 1000
let sb: Sandbox
let dir: string
beforeAll(async () => {
  sb = await startSandbox()
  sb.setLatency(150)
  for (let i = 0; i < N; i++) sb.addUser(DEMO_ACCOUNT.appId, `o_crash_${i}`, { subscribed: true })
  dir = mkdtempSync(join(tmpdir(), 'wxgate-crash-'))
})
afterAll(async () => {
  await sb.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** The gateway as a process on the test's database (a fresh port each start). */
const gateway = (): Promise<GatewayProcess> => startGatewayProcess({
  command: (port) => ({
    cmd: [process.execPath, join(import.meta.dir, '..', '..', 'src', 'main.ts'), 'serve'],
    env: {
      ...process.env, WXGATE_DB: join(dir, 'wxgate.db'), WXGATE_PORT: String(port), WXGATE_HOST: '127.0.0.1', WXGATE_LOG_LEVEL: 'error',
      WXGATE_ADMIN_TOKEN: ADMIN, WXGATE_WECHAT_API: sb.url, WXGATE_APPID: DEMO_ACCOUNT.appId, WXGATE_APPSECRET: DEMO_ACCOUNT.appSecret,
      WXGATE_TOKEN: 'crashtoken', WXGATE_SEND_RATE: '2000', WXGATE_SEND_CONCURRENCY: '64',
    },
  }),
})
const statuses = () => {
  const db = new Database(join(dir, 'wxgate.db'), { readonly: true })
  try {
    return Object.fromEntries((db.query('SELECT status, count(*) AS n FROM messages GROUP BY status').all() as { status: string; n: number }[]).map((r) => [r.status, r.n]))
  } finally {
    db.close()
  }
}

test('SIGKILL with 1,000 messages in flight: after a restart all are sent, each delivered exactly once', async () => {
  let child = await gateway()
  const res = await fetch(`${child.base}/api/send`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ openids: Array.from({ length: N }, (_, i) => `o_crash_${i}`), templateId: 'TPL_DEMO_ORDER_PAID', data: { thing1: '订单已支付' } }),
  })
  expect(res.status).toBe(202)
  const ids = ((await res.json()) as { recipients: { messageId: string }[] }).recipients.map((r) => r.messageId)
  expect(ids).toHaveLength(N)

  // Kill it while calls are open: some messages sent, a batch in flight, most still queued.
  const busy = Date.now() + 20_000
  while (sb.calls('/cgi-bin/message/template/send') < 200 && Date.now() < busy) await Bun.sleep(5)
  expect(sb.calls('/cgi-bin/message/template/send')).toBeGreaterThanOrEqual(200)
  await child.stop('SIGKILL')
  const atKill = { received: sb.calls('/cgi-bin/message/template/send'), delivered: sb.delivered(DEMO_ACCOUNT.appId).length, rows: statuses() }
  expect(atKill.rows.sending ?? 0).toBeGreaterThan(0) // caught mid-call
  expect(atKill.delivered).toBeLessThan(N)

  child = await gateway()
  try {
    const end = Date.now() + 30_000
    while (Date.now() < end && statuses().sent !== N) await Bun.sleep(100)
    expect(statuses()).toEqual({ sent: N })
    const delivered = sb.delivered(DEMO_ACCOUNT.appId)
    expect(delivered).toHaveLength(N)
    expect(new Set(delivered.map((d) => d.client_msg_id))).toEqual(new Set(ids))
    // Some calls reached WeChat twice (the ones in flight at the kill) and were delivered once.
    expect(sb.calls('/cgi-bin/message/template/send')).toBeGreaterThan(N)
  } finally {
    await child.stop('SIGTERM')
  }
}, 60_000)
