/**
 * The compiled binary reads .env literally too (SPEC §2): built here with the package's own build command
 * (it takes about a second), run in a folder whose .env holds an admin token with `$HOME` and `$1`.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startGatewayProcess } from './support/gateway-process'

const root = join(import.meta.dir, '..')
let dir: string
let bin: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-build-'))
  bin = join(dir, 'wxgate')
  const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { build: string } }).scripts.build
  const args = script.split(/\s+/).slice(1).map((a) => (a === 'dist/wxgate' ? bin : a))
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`)
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

test('the build turns off the binary\'s own .env loading', () => {
  const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
  expect(script.build).toContain('--no-compile-autoload-dotenv')
  expect(script.start).toContain('--no-env-file')
  expect(script.demo).toContain('--no-env-file')
})

test('dist/wxgate: a secret with $HOME and $1 in .env authenticates exactly as written', async () => {
  const literal = 'bin-$HOME-$1-0123456789abcdefg'
  const folder = join(dir, 'run')
  spawnSync('mkdir', ['-p', folder])
  writeFileSync(join(folder, '.env'), `WXGATE_ADMIN_TOKEN=${literal}\nWXGATE_LOG_LEVEL=warn\n`)
  const env: Record<string, string | undefined> = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WXGATE_')))
  const server = await startGatewayProcess({
    command: (port) => ({ cmd: [bin, 'serve'], cwd: folder, env: { ...env, WXGATE_PORT: String(port), WXGATE_DB: join(folder, 'wxgate.db') } }),
  })
  try {
    const status = async (key: string) => (await fetch(`${server.base}/api/channels`, { headers: { authorization: `Bearer ${key}` } })).status
    expect(await status(literal)).toBe(200)
  } finally {
    expect(await server.stop('SIGTERM')).toBe(0)
  }
}, 60_000)
