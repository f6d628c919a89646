/** The CLI as a user runs it (`bun src/main.ts …`), on a real database file, with a server running. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha1Signature } from '../src/wechat/signature'
import { startGatewayProcess } from './support/gateway-process'

const main = join(import.meta.dir, '..', 'src', 'main.ts')
let dir: string
let env: Record<string, string>

const cli = (args: string[], extraEnv: Record<string, string> = {}, cwd = dir) => {
  const r = spawnSync(process.execPath, [main, ...args], { cwd, env: { ...process.env, ...env, ...extraEnv }, encoding: 'utf8' })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-cli-'))
  env = { WXGATE_DB: join(dir, 'wxgate.db'), WXGATE_LOG_LEVEL: 'warn', WXGATE_APPID: '', WXGATE_APPSECRET: '', WXGATE_TOKEN: '', WXGATE_AES_KEY: '', WXGATE_ADMIN_TOKEN: '' }
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('settings', () => {
  test('a bad setting exits 2 with one line naming it', () => {
    for (const [name, value] of [['WXGATE_PORT', 'eighty'], ['WXGATE_ADMIN_TOKEN', 'too-short'], ['WXGATE_AES_KEY', 'abc'], ['WXGATE_LOG_LEVEL', 'loud'], ['WXGATE_TRUST_PROXY', 'everyone']] as const) {
      const r = cli(['migrate'], { [name]: value })
      expect(r.code).toBe(2)
      const lines = r.stderr.trim().split('\n')
      expect(lines.length).toBe(1)
      expect(lines[0]).toContain(name)
    }
  })

  test('an unknown WXGATE_* variable is one warning on stderr naming the nearest known one; the command still runs', () => {
    const r = cli(['migrate'], { WXGATE_PROT: '4000' })
    expect(r.code).toBe(0)
    expect(r.stderr.trim().split('\n')).toEqual(['warning: unknown setting WXGATE_PROT is ignored; did you mean WXGATE_PORT?', `database: ${env.WXGATE_DB}`])
  })

  test('.env in the working folder is read; the environment wins', () => {
    const envDir = mkdtempSync(join(tmpdir(), 'wxgate-dotenv-'))
    writeFileSync(join(envDir, '.env'), 'WXGATE_PORT=notaport\n')
    const r = spawnSync(process.execPath, [main, 'migrate'], { cwd: envDir, env: { ...process.env, ...env }, encoding: 'utf8' })
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('WXGATE_PORT')
    const ok = spawnSync(process.execPath, [main, 'migrate'], { cwd: envDir, env: { ...process.env, ...env, WXGATE_PORT: '4000' }, encoding: 'utf8' })
    expect(ok.status).toBe(0)
    rmSync(envDir, { recursive: true, force: true })
  })
})

describe('.env is read by wxgate alone: values are literal (SPEC §2)', () => {
  // Bun loads .env itself before wxgate starts and expands `$` in it; wxgate must see the file as written.
  const literal = 'adm-$HOME-$1-0123456789abcdefg' // 30 characters
  const withoutAdminToken = () => {
    const e: Record<string, string | undefined> = { ...process.env, ...env }
    delete e.WXGATE_ADMIN_TOKEN
    return e
  }
  const serveIn = (folder: string, e: Record<string, string | undefined>) => startGatewayProcess({
    command: (port) => ({ cmd: [process.execPath, main, 'serve'], cwd: folder, env: { ...e, WXGATE_PORT: String(port), WXGATE_DB: join(folder, 'wxgate.db') } }),
  })
  const status = async (base: string, key: string) => (await fetch(`${base}/api/channels`, { headers: { authorization: `Bearer ${key}` } })).status

  test('a secret with $HOME and $1 in .env authenticates exactly as written; a real variable still wins', async () => {
    expect(literal.length).toBe(30)
    const folder = mkdtempSync(join(tmpdir(), 'wxgate-dollar-'))
    writeFileSync(join(folder, '.env'), `WXGATE_ADMIN_TOKEN=${literal}\nWXGATE_LOG_LEVEL=warn\n`)
    try {
      const server = await serveIn(folder, withoutAdminToken())
      try {
        expect(await status(server.base, literal)).toBe(200)
      } finally {
        expect(await server.stop('SIGTERM')).toBe(0)
      }
      const real = 'real-$PATH-token-0123456789abcdef'
      const overridden = await serveIn(folder, { ...withoutAdminToken(), WXGATE_ADMIN_TOKEN: real })
      try {
        expect(await status(overridden.base, real)).toBe(200)
        expect(await status(overridden.base, literal)).toBe(401)
      } finally {
        expect(await overridden.stop('SIGTERM')).toBe(0)
      }
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  }, 30_000)
})

describe('commands', () => {
  test('--version and --help', () => {
    expect(cli(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
    const help = cli(['--help'])
    expect(help.code).toBe(0)
    for (const c of ['serve', 'demo', 'migrate', 'apikey create', 'channel add']) expect(help.stdout).toContain(c)
  })

  test('an unknown command exits 2', () => {
    expect(cli(['frobnicate']).code).toBe(2)
  })

  test('migrate applies once, then reports up to date', () => {
    const a = cli(['migrate'], { WXGATE_DB: join(dir, 'fresh.db') })
    expect(a.code).toBe(0)
    expect(a.stdout).toContain('applied: 0000_init')
    const b = cli(['migrate'], { WXGATE_DB: join(dir, 'fresh.db') })
    expect(b.stdout).toContain('up to date')
  })

  test('channel add / list never print secrets; a bad AES key exits 2', () => {
    const add = cli(['channel', 'add', '--id', 'shop', '--appid', 'wx1234567890abcdef', '--secret', 'cli-secret-value', '--token', 'clitoken', '--aes-key', 'C'.repeat(43)])
    expect(add.code).toBe(0)
    expect(add.stdout).toContain('added channel shop')
    const again = cli(['channel', 'add', '--id', 'shop', '--appid', 'wx1234567890abcdef', '--secret', 'cli-secret-value', '--token', 'clitoken'])
    expect(again.stdout).toContain('updated channel shop')
    const list = cli(['channel', 'list'])
    expect(list.stdout).toContain('shop\twx1234567890abcdef\tplaintext')
    expect(list.stdout + add.stdout + add.stderr).not.toContain('cli-secret-value')
    expect(list.stdout).not.toContain('clitoken')
    const bad = cli(['channel', 'add', '--id', 'x', '--appid', 'wx1', '--secret', 's', '--token', 'tok', '--aes-key', 'short'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('aesKey')
  })
})

describe('while the server runs on the same database', () => {
  test('a key created by the CLI works at once, and a revoke takes effect at once; a channel added is served at once', async () => {
    const server = await startGatewayProcess({
      command: (port) => ({ cmd: [process.execPath, main, 'serve'], cwd: dir, env: { ...process.env, ...env, WXGATE_PORT: String(port), WXGATE_LOG_LEVEL: 'info' } }),
    })
    try {
      const base = server.base
      const created = cli(['apikey', 'create', '--name', 'crm', '--scopes', 'read,send'])
      expect(created.code).toBe(0)
      const key = created.stdout.trim().split('\n').at(-1)!
      expect(key).toMatch(/^wxg_/)
      expect((await fetch(`${base}/api/channels`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200)
      const list = cli(['apikey', 'list'])
      expect(list.stdout).toContain('crm')
      expect(list.stdout).not.toContain(key)
      const id = list.stdout.split('\n').find((l) => l.includes('crm'))!.split('\t')[0]!
      expect(cli(['apikey', 'revoke', id]).code).toBe(0)
      expect((await fetch(`${base}/api/channels`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(401)
      expect(cli(['apikey', 'create', '--name', 'x', '--scopes', 'root']).code).toBe(2)

      cli(['channel', 'add', '--id', 'live', '--appid', 'wx9999999999999999', '--secret', 'live-secret', '--token', 'livetoken'])
      const ts = String(Math.floor(Date.now() / 1000))
      const r = await fetch(`${base}/wechat/live?signature=${sha1Signature(['livetoken', ts, '7'])}&timestamp=${ts}&nonce=7&echostr=ok`)
      expect(await r.text()).toBe('ok')
      expect(server.output()).not.toContain('live-secret')
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0)
    }
    expect(server.output()).toContain('"msg":"stopped"')
  }, 30_000)
})
