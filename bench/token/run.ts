/**
 * bench/token: 10,000 concurrent token reads through GET /api/channels/:id/access-token on a cold
 * start, against the sandbox WeChat in its own process. Prints requests/s and how many stable_token
 * calls reached "WeChat" (target: 1).
 *   npx bun bench/token/run.ts [--requests=10000]
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { DEMO_ACCOUNT } from '../../src/sandbox'

const root = join(import.meta.dir, '..', '..')
const requests = Number(process.argv.find((a) => a.startsWith('--requests='))?.split('=')[1] ?? 10_000)
const bin = join(root, 'dist', 'wxgate')
if (!existsSync(bin)) spawnSync('npx', ['bun', 'run', 'build'], { cwd: root, stdio: 'inherit' })

const dir = mkdtempSync(join(tmpdir(), 'wxgate-bench-token-'))
const sandbox = spawn(process.execPath, [join(import.meta.dir, 'sandbox-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'] })
const sandboxUrl = await new Promise<string>((resolve) => createInterface({ input: sandbox.stdout! }).once('line', resolve))
const port = 20000 + Math.floor(Math.random() * 20000)
const admin = 'bench-admin-token-0123456789abcdef'
const gateway = spawn(bin, ['serve'], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, WXGATE_DB: join(dir, 'bench.db'), WXGATE_PORT: String(port), WXGATE_LOG_LEVEL: 'warn', WXGATE_ADMIN_TOKEN: admin, WXGATE_WECHAT_API: sandboxUrl, WXGATE_APPID: DEMO_ACCOUNT.appId, WXGATE_APPSECRET: DEMO_ACCOUNT.appSecret, WXGATE_TOKEN: 'benchtoken' },
})
const base = `http://127.0.0.1:${port}`
for (let i = 0; i < 100; i++) {
  if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) break
  await Bun.sleep(100)
}

const t0 = performance.now()
const results = await Promise.all(Array.from({ length: requests }, () =>
  fetch(`${base}/api/channels/default/access-token`, { headers: { authorization: `Bearer ${admin}` } })
    .then(async (r) => (r.ok ? ((await r.json()) as { accessToken: string }).accessToken : `HTTP ${r.status}`), (e) => `error ${e}`)))
const seconds = (performance.now() - t0) / 1000
const calls = ((await (await fetch(`${sandboxUrl}/_sandbox/received?path=/cgi-bin/stable_token`)).json()) as { calls: unknown[] }).calls.length
const distinct = new Set(results)
const ok = results.filter((r) => !r.startsWith('HTTP') && !r.startsWith('error')).length

console.log(`bench/token: ${requests} concurrent GET /api/channels/default/access-token on a cold start (bun ${Bun.version})`)
console.log(`  ${ok} ok, ${requests - ok} failed, ${distinct.size} distinct answer(s)`)
console.log(`  ${(requests / seconds).toFixed(0)} requests/s (${seconds.toFixed(2)} s for all)`)
console.log(`  stable_token calls: ${calls} (target 1) — ${calls === 1 ? 'PASS' : 'FAIL'}`)
gateway.kill('SIGTERM')
sandbox.kill('SIGTERM')
await Bun.sleep(300)
rmSync(dir, { recursive: true, force: true })
process.exit(calls === 1 && ok === requests ? 0 : 1)
