/** `wxgate webhook add|list|remove` as a user runs it, with the server running on the same database; WXGATE_WEBHOOK_URL/SECRET. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha1Signature } from '../src/wechat/signature'
import { startGatewayProcess } from './support/gateway-process'
import { startReceiver, until } from './support/webhook-receiver'

const main = join(import.meta.dir, '..', 'src', 'main.ts')
let dir: string
let env: Record<string, string>
const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`

const cli = (args: string[], extraEnv: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [main, ...args], { cwd: dir, env: { ...process.env, ...env, ...extraEnv }, encoding: 'utf8' })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-cli-webhooks-'))
  // A plaintext channel from the environment; WeChat's API on a dead loopback port (nothing leaves the machine).
  env = {
    WXGATE_DB: join(dir, 'wxgate.db'), WXGATE_LOG_LEVEL: 'warn', WXGATE_ADMIN_TOKEN: '', WXGATE_AES_KEY: '',
    WXGATE_APPID: 'wx2c2769f8efd9abc2', WXGATE_APPSECRET: 'cli-webhooks-secret', WXGATE_TOKEN: 'clitoken', WXGATE_WECHAT_API: 'http://127.0.0.1:9',
    WXGATE_WEBHOOK_URL: '', WXGATE_WEBHOOK_SECRET: '',
  }
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let msgSeq = 0
const sendText = async (base: string, content: string) => {
  const ts = String(Math.floor(Date.now() / 1000))
  const xml = `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o_cli_user]]></FromUserName><CreateTime>${ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content><MsgId>${8800000000000000000n + BigInt(++msgSeq)}</MsgId></xml>`
  const res = await fetch(`${base}/wechat?signature=${sha1Signature(['clitoken', ts, '5'])}&timestamp=${ts}&nonce=5&openid=o_cli_user`, { method: 'POST', body: xml, headers: { 'content-type': 'text/xml' } })
  expect(res.status).toBe(200)
  await res.text()
}

describe('settings', () => {
  test('WXGATE_WEBHOOK_URL without WXGATE_WEBHOOK_SECRET, a secret that is not whsec_ + base64 of 24–64 bytes, a non-http(s) URL → exit 2 naming the variable', () => {
    for (const [extra, name] of [
      [{ WXGATE_WEBHOOK_URL: 'http://127.0.0.1:9/hook' }, 'WXGATE_WEBHOOK_SECRET'],
      [{ WXGATE_WEBHOOK_URL: 'http://127.0.0.1:9/hook', WXGATE_WEBHOOK_SECRET: 'whsec_c2hvcnQ=' }, 'WXGATE_WEBHOOK_SECRET'],
      [{ WXGATE_WEBHOOK_URL: 'http://127.0.0.1:9/hook', WXGATE_WEBHOOK_SECRET: 'plain-secret-without-prefix-0123456789' }, 'WXGATE_WEBHOOK_SECRET'],
      [{ WXGATE_WEBHOOK_URL: 'ftp://127.0.0.1/hook', WXGATE_WEBHOOK_SECRET: SECRET }, 'WXGATE_WEBHOOK_URL'],
      [{ WXGATE_WEBHOOK_SECRET: SECRET }, 'WXGATE_WEBHOOK_URL'],
    ] as const) {
      const r = cli(['migrate'], extra)
      expect(r.code).toBe(2)
      const lines = r.stderr.trim().split('\n')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(name)
      expect(r.stderr).not.toContain(SECRET.slice(6))
    }
    expect(cli(['migrate'], { WXGATE_WEBHOOK_URL: 'http://127.0.0.1:9/hook', WXGATE_WEBHOOK_SECRET: SECRET }).code).toBe(0)
  })

  test('bad input to webhook add → exit 2 naming it; remove of an unknown id → exit 1; list of none', () => {
    for (const [args, mentions] of [
      [['--url', 'ftp://example.com/x'], 'url'],
      [['--url', 'http://127.0.0.1:9/x', '--events', 'message.received,message.recieved'], "'message.recieved'"],
      [['--url', 'http://127.0.0.1:9/x', '--channel', 'nope'], "'nope'"],
      [[], '--url'],
    ] as const) {
      const r = cli(['webhook', 'add', ...args])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(mentions)
    }
    expect(cli(['webhook', 'list']).stdout.trim()).toBe('no webhooks')
    const gone = cli(['webhook', 'remove', 'whe_nothing'])
    expect(gone.code).toBe(1)
    expect(gone.stderr).toContain('whe_nothing')
  })
})

describe('while the server runs on the same database', () => {
  test('webhook add: the secret alone on the last line, the running server delivers to it within 2 s (verified with it); list never shows it; remove stops deliveries', async () => {
    const r = startReceiver()
    const server = await startGatewayProcess({
      command: (port) => ({ cmd: [process.execPath, main, 'serve'], cwd: dir, env: { ...process.env, ...env, WXGATE_PORT: String(port), WXGATE_LOG_LEVEL: 'info' } }),
    })
    try {
      const added = cli(['webhook', 'add', '--url', r.url, '--events', 'message.*', '--description', 'crm inbox'])
      expect(added.code).toBe(0)
      const lines = added.stdout.trim().split('\n')
      const secret = lines.at(-1)!
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
      const id = /added webhook (whe_\S+)/.exec(added.stdout)![1]!
      r.secret = secret

      const started = Date.now()
      await sendText(server.base, '你好')
      await until('the delivery of the message', () => r.received.length >= 1, 5_000)
      expect(Date.now() - started).toBeLessThan(2_000 + 1_000)
      expect(r.received[0]!.verified).toBe(true)
      expect(JSON.parse(r.received[0]!.body)).toMatchObject({ type: 'message.received', data: { content: '你好', openid: 'o_cli_user' } })

      const list = cli(['webhook', 'list'])
      expect(list.code).toBe(0)
      const row = list.stdout.split('\n').find((l) => l.startsWith(id))!.split('\t')
      expect(row).toEqual([id, r.url, 'message.*', '*', 'active', 'crm inbox'])
      expect(list.stdout + list.stderr).not.toContain(secret.slice(6))

      expect(cli(['webhook', 'remove', id]).code).toBe(0)
      expect(cli(['webhook', 'list']).stdout.trim()).toBe('no webhooks')
      // The server sees the removal through dataVersion at its next emit.
      await sendText(server.base, 'after remove')
      await Bun.sleep(500)
      expect(r.received).toHaveLength(1)
      expect(server.output()).not.toContain(secret.slice(6))
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0)
      await r.stop()
    }
  }, 40_000)

  test('WXGATE_WEBHOOK_URL + WXGATE_WEBHOOK_SECRET: one endpoint (whe_env) for every event, upserted at start; the secret never logged', async () => {
    const r = startReceiver()
    r.secret = SECRET
    const server = await startGatewayProcess({
      command: (port) => ({ cmd: [process.execPath, main, 'serve'], cwd: dir, env: { ...process.env, ...env, WXGATE_PORT: String(port), WXGATE_LOG_LEVEL: 'debug', WXGATE_WEBHOOK_URL: r.url, WXGATE_WEBHOOK_SECRET: SECRET } }),
    })
    try {
      await sendText(server.base, 'env endpoint')
      await until('the delivery', () => r.received.length >= 1, 5_000)
      expect(r.received[0]!.verified).toBe(true)
      expect(JSON.parse(r.received[0]!.body).type).toBe('message.received')
      const list = cli(['webhook', 'list'])
      expect(list.stdout).toContain(`whe_env\t${r.url}\t*\t*\tactive`)
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0)
      await r.stop()
    }
    expect(server.output()).not.toContain(SECRET.slice(6))
  }, 40_000)
})
