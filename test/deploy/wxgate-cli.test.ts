/**
 * deploy/wxgate-cli, run with a stand-in systemd-run first on PATH that writes down its arguments (NUL
 * separated) and exits with a chosen status: the arguments must run the command as deploy/wxgate.service
 * runs the server (user, folder, env file, database, umask, binary), pass the user's arguments through
 * one for one, with `$` doubled (systemd expands $NAME in a command line), and return the command's status.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dir, '..', '..')
const wrapper = join(root, 'deploy', 'wxgate-cli')
const unit = readFileSync(join(root, 'deploy', 'wxgate.service'), 'utf8')
/** Every value of `Key=` in the unit, in order (comments skipped). */
const unitValues = (key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1))

let dir: string
let argvFile: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-cli-wrapper-'))
  argvFile = join(dir, 'argv')
  const fake = join(dir, 'systemd-run')
  // Also copies its stdin to stdout, as --pipe would let the command do.
  writeFileSync(fake, `#!/bin/sh\nprintf '%s\\0' "$@" > "$ARGV_FILE"\ncat\nexit "\${FAKE_EXIT:-0}"\n`)
  chmodSync(fake, 0o755)
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const run = (args: string[], opts: { exit?: number; input?: string } = {}) => {
  rmSync(argvFile, { force: true })
  const r = spawnSync(wrapper, args, {
    env: { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`, ARGV_FILE: argvFile, FAKE_EXIT: String(opts.exit ?? 0) },
    input: opts.input ?? '', encoding: 'utf8', timeout: 10_000,
  })
  let argv: string[] | undefined
  try {
    argv = readFileSync(argvFile, 'utf8').split('\0').slice(0, -1)
  } catch {
    argv = undefined
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, argv }
}

describe('deploy/wxgate-cli', () => {
  test("runs the command as the service runs the server: its user, folder, umask, env file, database and binary", () => {
    const { code, argv } = run(['apikey', 'create', '--name', 'crm', '--scopes', 'send,bindcode,read'])
    expect(code).toBe(0)
    const sep = argv!.indexOf('--')
    expect(sep).toBeGreaterThan(0)
    const opts = argv!.slice(0, sep)
    const [user] = unitValues('User')
    const [group] = unitValues('Group')
    expect(opts).toContain(`--uid=${user}`)
    expect(opts).toContain(`--gid=${group}`)
    expect(opts).toContain(`--working-directory=${unitValues('WorkingDirectory')[0]}`)
    expect(opts).toContain(`--property=UMask=${unitValues('UMask')[0]}`)
    for (const e of unitValues('Environment')) expect(opts).toContain(`--setenv=${e}`)
    for (const f of unitValues('EnvironmentFile')) expect(opts).toContain(`--property=EnvironmentFile=${f}`)
    // Synchronous, on this terminal, the command's exit status, nothing extra printed, nothing left behind.
    for (const o of ['--wait', '--pipe', '--quiet', '--collect', '--service-type=exec']) expect(opts).toContain(o)
    const [serverBin] = unitValues('ExecStart')[0]!.split(' ')
    expect(argv!.slice(sep + 1)).toEqual([serverBin!, 'apikey', 'create', '--name', 'crm', '--scopes', 'send,bindcode,read'])
  })

  test('each argument stays one argument (spaces, quotes, Chinese), and a $ is doubled for systemd', () => {
    const { code, argv } = run(['channel', 'add', '--name', '客服 号 "one"', '--secret', 'ab$cd${HOME}$', "it's"])
    expect(code).toBe(0)
    expect(argv!.slice(argv!.indexOf('--') + 2)).toEqual(['channel', 'add', '--name', '客服 号 "one"', '--secret', 'ab$$cd$${HOME}$$', "it's"])
  })

  test("returns the command's exit status and passes stdin/stdout through", () => {
    const r = run(['doctor', '--url', 'https://wx.example.com/wechat'], { exit: 3, input: 'piped-in' })
    expect(r.code).toBe(3)
    expect(r.stdout).toBe('piped-in')
  })

  test('refuses no command and `serve` (a second server next to the service) without calling systemd-run', () => {
    for (const args of [[], ['serve']]) {
      const r = run(args)
      expect(r.code).toBe(2)
      expect(r.argv).toBeUndefined()
      expect(r.stderr).toContain('systemctl start wxgate')
    }
  })
})
