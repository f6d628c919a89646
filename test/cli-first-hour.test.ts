/**
 * A new user's first hour with the CLI (issue 11), run as a user runs it (`bun src/main.ts …`): which
 * database a command uses, secrets kept off the command line, errors that name the fix.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database } from 'bun:sqlite'
import { startGatewayProcess } from './support/gateway-process'

const main = join(import.meta.dir, '..', 'src', 'main.ts')
let dir: string
let env: Record<string, string>

const cli = (args: string[], o: { env?: Record<string, string>; cwd?: string; input?: string; asUser?: number } = {}) => {
  const cmd = o.asUser === undefined ? [process.execPath, main, ...args]
    : ['setpriv', `--reuid=${o.asUser}`, `--regid=${o.asUser}`, '--clear-groups', process.execPath, main, ...args]
  const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: o.cwd ?? dir, env: { ...process.env, ...env, ...o.env }, encoding: 'utf8', input: o.input ?? '' })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}
const stderrLines = (r: { stderr: string }) => r.stderr.split('\n').filter(Boolean)

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-cli-first-'))
  env = { WXGATE_DB: join(dir, 'wxgate.db'), WXGATE_LOG_LEVEL: 'warn', WXGATE_APPID: '', WXGATE_APPSECRET: '', WXGATE_TOKEN: '', WXGATE_AES_KEY: '', WXGATE_ADMIN_TOKEN: '', WXGATE_CHANNEL_NAME: '' }
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('every command that opens the database says which one (SPEC §1)', () => {
  test('one stderr line with the absolute path; stdout stays parseable', () => {
    const work = join(dir, 'work')
    mkdirSync(work)
    const rel = { WXGATE_DB: './data/wxgate.db' }
    const abs = join(work, 'data', 'wxgate.db')
    for (const args of [['migrate'], ['apikey', 'list'], ['channel', 'list'], ['apikey', 'create', '--name', 'crm']]) {
      const r = cli(args, { env: rel, cwd: work })
      expect(r.code).toBe(0)
      expect(stderrLines(r)).toEqual([`database: ${abs}`])
      expect(r.stdout).not.toContain('database:')
    }
    const created = cli(['apikey', 'create', '--name', 'crm2'], { env: rel, cwd: work })
    expect(created.stdout.trim().split('\n').at(-1)).toMatch(/^wxg_[A-Za-z0-9_-]{43}$/)
    expect(cli(['migrate'], { env: { WXGATE_DB: ':memory:' } }).stderr.trim()).toBe('database: :memory:')
  })

  test('serve says it on stderr and logs the absolute path in its listening line', async () => {
    const work = join(dir, 'serve-work')
    mkdirSync(work)
    const server = await startGatewayProcess({
      command: (port) => ({ cmd: [process.execPath, main, 'serve'], cwd: work, env: { ...process.env, ...env, WXGATE_DB: 'wx.db', WXGATE_PORT: String(port), WXGATE_LOG_LEVEL: 'info' } }),
    })
    try {
      const listening = server.output().split('\n').find((l) => l.includes('"wxgate listening"'))!
      expect(JSON.parse(listening).db).toBe(join(work, 'wx.db'))
      expect(server.output()).toContain(`database: ${join(work, 'wx.db')}\n`)
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0)
    }
  }, 30_000)
})

describe('the database file is its owner\'s alone (SPEC §1)', () => {
  test('created 0600 in a 0700 folder by the CLI; -wal and -shm not readable by others', () => {
    const path = join(dir, 'private', 'state', 'wxgate.db')
    expect(cli(['migrate'], { env: { WXGATE_DB: path } }).code).toBe(0)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'private', 'state')).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, 'private')).mode & 0o777).toBe(0o700)
  })
})

describe('a database that cannot be opened names the fix (one stderr line, exit 1)', () => {
  test('a path whose parent is a file', () => {
    writeFileSync(join(dir, 'plainfile'), 'x')
    const path = join(dir, 'plainfile', 'wxgate.db')
    for (const args of [['migrate'], ['apikey', 'list'], ['channel', 'list']]) {
      const r = cli(args, { env: { WXGATE_DB: path } })
      expect(r.code).toBe(1)
      const lines = stderrLines(r)
      expect(lines.length).toBe(1)
      expect(lines[0]).toContain(path)
      expect(lines[0]).toContain(`${join(dir, 'plainfile')} is a file, not a folder`)
      expect(lines[0]).toContain('wxgate runs as')
    }
  })

  test('a folder the user cannot write: its owner and mode, and who wxgate runs as', () => {
    const folder = join(dir, 'locked')
    mkdirSync(folder)
    const path = join(folder, 'wxgate.db')
    let r: ReturnType<typeof cli>
    let user: string
    if (process.getuid!() === 0) {
      // root writes anywhere: run the CLI as nobody, in a folder only root may write.
      chmodSync(dir, 0o755)
      chmodSync(folder, 0o755)
      r = cli(['migrate'], { env: { WXGATE_DB: path, HOME: folder }, cwd: folder, asUser: 65534 })
      user = 'uid 65534'
      expect(r.stderr).toContain('owner root (uid 0), mode 0755')
    } else {
      chmodSync(folder, 0o500)
      r = cli(['migrate'], { env: { WXGATE_DB: path } })
      user = `uid ${process.getuid!()}`
      chmodSync(folder, 0o700)
      expect(r.stderr).toContain('mode 0500')
    }
    expect(r.code).toBe(1)
    const lines = stderrLines(r)
    expect(lines.length).toBe(1)
    expect(lines[0]).toContain(`cannot open the database ${path} (WXGATE_DB)`)
    expect(lines[0]).toContain(`its folder ${folder} exists`)
    expect(lines[0]).toContain(`wxgate runs as`)
    expect(lines[0]).toContain(user)
  })

  test('serve logs the same sentence in its error log', () => {
    const path = join(dir, 'plainfile', 'serve.db')
    const r = cli(['serve'], { env: { WXGATE_DB: path, WXGATE_PORT: '0', WXGATE_LOG_LEVEL: 'info' } })
    expect(r.code).toBe(1)
    const sentence = stderrLines(r).at(-1)!.replace(/^wxgate: /, '')
    expect(sentence).toContain(`cannot open the database ${path}`)
    const logged = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string })
    expect(logged.some((l) => l.level === 'error' && l.msg === sentence)).toBe(true)
  })
})

describe('secrets off the command line (SPEC §1)', () => {
  const secretOf = (db: string, id: string) => {
    const sqlite = new Database(db, { readonly: true })
    try {
      return sqlite.query('SELECT app_secret AS s, token AS t FROM channels WHERE id = ?').get(id) as { s: string; t: string }
    } finally {
      sqlite.close()
    }
  }

  test('channel add --secret - reads the AppSecret from stdin (one line, the newline trimmed); it is never printed', () => {
    const r = cli(['channel', 'add', '--id', 'piped', '--appid', 'wx1234567890abcdef', '--secret', '-', '--token', 'pipedtoken'], { input: 'stdin-app-secret-0123\n' })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('added channel piped')
    expect(secretOf(env.WXGATE_DB!, 'piped')).toEqual({ s: 'stdin-app-secret-0123', t: 'pipedtoken' })
    expect(r.stdout + r.stderr).not.toContain('stdin-app-secret-0123')
    // Windows line ending, no trailing newline at all: the same.
    expect(cli(['channel', 'add', '--id', 'piped', '--appid', 'wx1234567890abcdef', '--secret', '-', '--token', 'pipedtoken'], { input: 'second-secret\r\n' }).code).toBe(0)
    expect(secretOf(env.WXGATE_DB!, 'piped').s).toBe('second-secret')
    expect(cli(['channel', 'add', '--id', 'piped', '--appid', 'wx1234567890abcdef', '--secret', '-', '--token', 'pipedtoken'], { input: 'third-secret' }).code).toBe(0)
    expect(secretOf(env.WXGATE_DB!, 'piped').s).toBe('third-secret')
  })

  test('--token - reads the callback Token the same way', () => {
    const r = cli(['channel', 'add', '--id', 'piped2', '--appid', 'wx1234567890abcdef', '--secret', 'argsecret', '--token', '-'], { input: 'stdintoken42\n' })
    expect(r.code).toBe(0)
    expect(secretOf(env.WXGATE_DB!, 'piped2').t).toBe('stdintoken42')
  })

  test('an empty stdin, two lines, or two values from stdin are usage errors (exit 2) that say what to do', () => {
    const base = ['channel', 'add', '--id', 'bad', '--appid', 'wx1234567890abcdef', '--token', 'tok42']
    for (const input of ['', '\n', '  \n']) {
      const r = cli([...base, '--secret', '-'], { input })
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('--secret -')
      expect(r.stderr).toContain('stdin')
    }
    const two = cli([...base, '--secret', '-'], { input: 'firstLineXyz\nsecondLineXyz\n' })
    expect(two.code).toBe(2)
    expect(two.stderr).toContain('more than one')
    expect(two.stderr).not.toContain('LineXyz')
    const both = cli(['channel', 'add', '--id', 'bad', '--appid', 'wx1234567890abcdef', '--secret', '-', '--token', '-'], { input: 'x\n' })
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('only one')
  })

  test('apikey revoke with the key pasted instead of its id revokes that key and prints only the id; no message echoes the argument', () => {
    const created = cli(['apikey', 'create', '--name', 'pasted', '--scopes', 'read'])
    const key = created.stdout.trim().split('\n').at(-1)!
    const id = /created API key (key_[0-9a-f]+)/.exec(created.stdout)![1]!
    const r = cli(['apikey', 'revoke', key])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(`revoked ${id}`)
    expect(r.stdout + r.stderr).not.toContain(key)
    expect(cli(['apikey', 'list']).stdout.split('\n').find((l) => l.startsWith(id))).toContain('revoked')
    // Again: no active key is that key now; the message still does not echo it.
    const again = cli(['apikey', 'revoke', key])
    expect(again.code).toBe(1)
    expect(again.stdout + again.stderr).not.toContain(key)
    expect(again.stderr).toContain('apikey list')
    for (const arg of ['key_0123456789ab', 'wxg_notAKeyWeKnow0123456789', 'typo-of-something']) {
      const u = cli(['apikey', 'revoke', arg])
      expect(u.code).toBe(1)
      expect(u.stdout + u.stderr).not.toContain(arg)
    }
  })
})

describe('a misspelled flag suggests the right one', () => {
  test.each([
    [['apikey', 'create', '--name', 'x', '--scope', 'read'], '--scope', '--scopes'],
    [['channel', 'add', '--id', 'c', '--app-id', 'wx1234567890abcdef', '--secret', 's', '--token', 'tok'], '--app-id', '--appid'],
    [['channel', 'add', '--id', 'c', '--appid', 'wx1234567890abcdef', '--secret', 's', '--token', 'tok', '--aeskey', 'k'], '--aeskey', '--aes-key'],
    [['doctor', '--chanel', 'x'], '--chanel', '--channel'],
  ])('%p', (args, wrong, right) => {
    const r = cli(args)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`unknown option ${wrong}; did you mean ${right}?`)
  })
})

describe('a channel\'s display name from the CLI', () => {
  test('channel add --name sets it, channel list shows it; an update without --name keeps it', () => {
    const add = ['channel', 'add', '--id', 'named', '--appid', 'wx1234567890abcdef', '--secret', 'named-secret', '--token', 'namedtoken']
    const r = cli([...add, '--name', '某某科技服务号'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('added channel named (wx1234567890abcdef, plaintext mode, 「某某科技服务号」)')
    const line = () => cli(['channel', 'list']).stdout.split('\n').find((l) => l.startsWith('named\t'))!
    expect(line().split('\t').at(-1)).toBe('某某科技服务号')
    expect(cli(add).code).toBe(0)
    expect(line().split('\t').at(-1)).toBe('某某科技服务号')
    expect(cli([...add, '--name', '']).code).toBe(0)
    expect(line().split('\t').at(-1)).toBe('-')
  })
})
