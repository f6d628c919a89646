/**
 * `wxgate doctor` as a user runs it (`bun src/main.ts doctor …`, a subprocess), against the sandbox WeChat
 * started here and, for --url, a real gateway started here. The subprocess must be awaited asynchronously:
 * the sandbox and the gateway answer from this process's event loop.
 */
import { migrations } from '../src/store/sqlite/migrations.manifest'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../src/sandbox'
import { startTestServer, type TestServer } from './support/server'

const main = join(import.meta.dir, '..', 'src', 'main.ts')
const TOKEN = 'doctortoken42'
let dir: string
let sandbox: Sandbox
let seq = 0

/** The environment of a doctor run: the sandbox as WeChat, a fresh database (unless `db` is given), the demo account's channel. */
const envFor = (extra: Record<string, string> = {}) => ({
  WXGATE_WECHAT_API: sandbox.url,
  WXGATE_DB: join(dir, `doctor-${++seq}.db`),
  WXGATE_LOG_LEVEL: 'debug',
  WXGATE_CHANNEL: 'default',
  WXGATE_APPID: DEMO_ACCOUNT.appId,
  WXGATE_APPSECRET: DEMO_ACCOUNT.appSecret,
  WXGATE_TOKEN: TOKEN,
  WXGATE_AES_KEY: '',
  WXGATE_ADMIN_TOKEN: '',
  WXGATE_ALLOW_EMPTY_TOKEN: '',
  ...extra,
})

const doctor = (args: string[], env: Record<string, string>) => new Promise<{ code: number | null; stdout: string; stderr: string; lines: string[] }>((resolve, reject) => {
  const p = spawn(process.execPath, [main, 'doctor', ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  p.stdout!.on('data', (d) => { stdout += d })
  p.stderr!.on('data', (d) => { stderr += d })
  p.on('error', reject)
  p.on('close', (code) => resolve({ code, stdout, stderr, lines: stdout.trimEnd().split('\n') }))
})

/** The one line of a check, asserting there is exactly one. */
const lineOf = (lines: string[], check: string): string => {
  const found = lines.filter((l) => l.slice(5).startsWith(`${check}:`))
  expect(found.length).toBe(1)
  return found[0]!
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-doctor-'))
  sandbox = await startSandbox()
})
afterEach(() => sandbox.reset())
afterAll(async () => {
  await sandbox.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('wxgate doctor', () => {
  test('all ok: every check on its own line, exit 0, stable_token really called, no secret printed', async () => {
    const env = envFor()
    const r = await doctor([], env)
    // Only the database in use (SPEC §1): the checks are on stdout.
    expect(r.stderr).toBe(`database: ${env.WXGATE_DB}\n`)
    expect(r.code).toBe(0)
    expect(r.lines.map((l) => l.slice(0, 5))).toEqual(['ok   ', 'ok   ', 'ok   ', 'ok   ', 'warn ', 'ok   ', 'ok   '])
    expect(lineOf(r.lines, 'settings')).toBe(`ok   settings: db ${env.WXGATE_DB}, WeChat API ${sandbox.url} (not api.weixin.qq.com: a sandbox or a proxy)`)
    expect(lineOf(r.lines, 'database')).toBe(`ok   database: ${migrations.length} migrations applied (${migrations.length} just now, new database), quick_check ok, WAL mode`)
    expect(lineOf(r.lines, 'channel')).toBe(`ok   channel: 'default' appId ${DEMO_ACCOUNT.appId}, plaintext mode`)
    expect(lineOf(r.lines, 'callback token')).toBe(`ok   callback token: ${TOKEN.length} letters/digits`)
    expect(lineOf(r.lines, 'aes-key')).toStartWith('warn aes-key: not set: plaintext mode')
    expect(lineOf(r.lines, 'appid/appsecret')).toMatch(/^ok {3}appid\/appsecret: WeChat issued an access token valid until \d{4}-\d\d-\d\dT[\d:.]+Z$/)
    expect(lineOf(r.lines, 'token state')).toMatch(/^ok {3}token state: ok, refreshes today 1, forced today 0, expires \d{4}-/)
    expect(sandbox.calls('/cgi-bin/stable_token')).toBe(1)
    const token = sandbox.currentToken(DEMO_ACCOUNT.appId)!
    for (const secret of [DEMO_ACCOUNT.appSecret, TOKEN, token]) expect(r.stdout).not.toContain(secret)
    for (const l of r.lines) expect(l.length).toBeLessThanOrEqual(160)

    // Second run on the same database: a stored token is there, and the credentials are still checked live.
    const again = await doctor([], { ...env })
    expect(again.code).toBe(0)
    expect(lineOf(again.lines, 'database')).toBe(`ok   database: ${migrations.length} migrations applied, quick_check ok, WAL mode`)
    expect(lineOf(again.lines, 'appid/appsecret')).toMatch(/^ok {3}appid\/appsecret: WeChat accepts them \(stable_token\); stored access token valid until /)
    expect(sandbox.calls('/cgi-bin/stable_token')).toBe(2)
    // Normal mode: the same token, nothing replaced.
    expect(sandbox.currentToken(DEMO_ACCOUNT.appId)).toBe(token)
    expect(again.stdout).not.toContain(token)
  }, 30_000)

  test('a wrong AppSecret: FAIL with errcode 40125 and what to check, exit 1, the wrong secret not printed', async () => {
    const env = envFor({ WXGATE_APPSECRET: 'wrong-app-secret' })
    const r = await doctor([], env)
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, 'appid/appsecret')).toMatch(/^FAIL appid\/appsecret: errcode 40125 invalid appsecret rid: [0-9a-f-]+ — check AppID\/AppSecret \(公众号后台 → 设置与开发 → 基本配置;/)
    expect(lineOf(r.lines, 'token state')).toStartWith('FAIL token state: failing, refreshes today 0, forced today 0; last error 40125 at ')
    expect(r.stdout).not.toContain('wrong-app-secret')
    expect(r.stderr).toBe(`database: ${env.WXGATE_DB}\n`)
  }, 30_000)

  test('40164: FAIL names the IP WeChat saw and where to whitelist it, also when a token is already stored', async () => {
    const env = envFor()
    expect((await doctor([], env)).code).toBe(0)
    sandbox.inject({ path: '/cgi-bin/stable_token', errcode: 40164 })
    const r = await doctor([], env)
    expect(r.code).toBe(1)
    const l = lineOf(r.lines, 'appid/appsecret')
    expect(l).toStartWith('FAIL appid/appsecret: errcode 40164 invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: ')
    expect(l).toMatch(/rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8} — /)
    expect(l).toEndWith('— add 127.0.0.1 to the IP whitelist (公众号后台 → 设置与开发 → 基本配置 → IP白名单)')
    expect(r.stderr).toBe(`database: ${env.WXGATE_DB}\n`)
  }, 30_000)

  test('45009: FAIL with the time the quota comes back', async () => {
    sandbox.inject({ path: '/cgi-bin/stable_token', errcode: 45009 })
    const r = await doctor([], envFor())
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, 'appid/appsecret')).toMatch(/^FAIL appid\/appsecret: errcode 45009 reach max api daily quota limit rid: \S+ — quota exhausted until \d{4}-\d\d-\d\dT16:00:00\.000Z — wait, or POST \/api\/channels\/default\/clear-quota$/)
    expect(lineOf(r.lines, 'token state')).toStartWith('FAIL token state: quota_exhausted, ')
  }, 30_000)

  test('WeChat unreachable: FAIL cannot reach the API base', async () => {
    const closed = Bun.serve({ port: 0, fetch: () => new Response('') })
    const api = `http://127.0.0.1:${closed.port}`
    closed.stop(true)
    const r = await doctor([], envFor({ WXGATE_WECHAT_API: api }))
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, 'appid/appsecret')).toMatch(new RegExp(`^FAIL appid/appsecret: cannot reach ${api}: network error: .+ — check DNS, firewall and outbound proxy$`))
  }, 30_000)

  test('an unknown --channel: FAIL naming the known ones, and no later check runs', async () => {
    const r = await doctor(['--channel', 'nosuch'], envFor())
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, 'channel')).toBe("FAIL channel: no channel 'nosuch' (known: default) — set WXGATE_APPID/APPSECRET/TOKEN or run 'wxgate channel add'")
    expect(r.lines.length).toBe(3)
    expect(sandbox.calls('/cgi-bin/stable_token')).toBe(0)
  }, 30_000)

  test('no channel at all: FAIL', async () => {
    const r = await doctor([], envFor({ WXGATE_APPID: '', WXGATE_APPSECRET: '', WXGATE_TOKEN: '' }))
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, 'channel')).toStartWith("FAIL channel: no channel 'default' (known: none)")
  }, 30_000)

  test('safe mode: the AES key is checked', async () => {
    const r = await doctor([], envFor({ WXGATE_AES_KEY: 'A'.repeat(43) }))
    expect(r.code).toBe(0)
    expect(lineOf(r.lines, 'channel')).toBe(`ok   channel: 'default' appId ${DEMO_ACCOUNT.appId}, safe mode`)
    expect(lineOf(r.lines, 'aes-key')).toBe('ok   aes-key: 43 characters, decodes to 32 bytes (safe mode)')
    expect(r.stdout).not.toContain('A'.repeat(43))
  }, 30_000)

  test('bad usage exits 2', async () => {
    expect((await doctor(['--frobnicate'], envFor())).code).toBe(2)
    expect((await doctor(['extra'], envFor())).code).toBe(2)
  }, 30_000)
})

describe('wxgate doctor --url against a running gateway', () => {
  let gw: TestServer
  beforeAll(async () => {
    // The gateway's default channel comes from the same environment: the same Token as the doctor's.
    gw = await startTestServer({ env: { WXGATE_WECHAT_API: sandbox.url, WXGATE_APPID: DEMO_ACCOUNT.appId, WXGATE_APPSECRET: DEMO_ACCOUNT.appSecret, WXGATE_TOKEN: TOKEN } })
  })
  afterAll(() => gw.stop())

  test('the gateway answers the echostr: ok', async () => {
    for (const path of ['/wechat', '/wechat/default']) {
      const r = await doctor(['--url', `${gw.url}${path}`], envFor())
      expect(r.code).toBe(0)
      expect(lineOf(r.lines, 'callback url')).toMatch(new RegExp(`^ok {3}callback url: ${gw.url}${path} answered the echostr \\(HTTP 200, \\d+ ms\\)$`))
      expect(r.lines.at(-1)).toStartWith('ok   callback url:')
    }
  }, 30_000)

  test('a different Token on the gateway: FAIL 401 with the hint', async () => {
    const r = await doctor(['--url', `${gw.url}/wechat`], envFor({ WXGATE_TOKEN: 'notthesame1' }))
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, 'callback url')).toBe(`FAIL callback url: ${gw.url}/wechat: HTTP 401 "signature does not match" — token mismatch (the gateway's Token for this path differs from channel 'default') or clock skew (check NTP)`)
    expect(r.stdout).not.toContain('notthesame1')
  }, 30_000)

  test('a path of no channel: FAIL 404 with the right path', async () => {
    const r = await doctor(['--url', `${gw.url}/wechat/nosuch`], envFor())
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, 'callback url')).toBe(`FAIL callback url: ${gw.url}/wechat/nosuch: HTTP 404 "unknown channel 'nosuch'" — wrong channel path: use /wechat/default or /wechat`)
  }, 30_000)

  test('something else answering 200: FAIL showing what came back', async () => {
    const other = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('<html>Welcome to nginx!</html>') })
    try {
      const r = await doctor(['--url', `http://127.0.0.1:${other.port}/wechat`], envFor())
      expect(r.code).toBe(1)
      expect(lineOf(r.lines, 'callback url')).toBe(`FAIL callback url: http://127.0.0.1:${other.port}/wechat: HTTP 200 "<html>Welcome to nginx!</html>" — not the echostr: something else answers this URL (another app, a proxy page?)`)
    } finally {
      other.stop(true)
    }
  }, 30_000)

  test('nothing listening: FAIL pointing at DNS/firewall/nginx', async () => {
    const closed = Bun.serve({ port: 0, fetch: () => new Response('') })
    const url = `http://127.0.0.1:${closed.port}/wechat`
    closed.stop(true)
    const r = await doctor(['--url', url], envFor())
    expect(r.code).toBe(1)
    expect(lineOf(r.lines, 'callback url')).toMatch(new RegExp(`^FAIL callback url: ${url}: connection refused \\(\\w+\\): nothing listens on that port — check DNS, firewall, nginx and the TLS certificate$`))
  }, 30_000)
})
