/**
 * Webhook delivery benchmark: events produced by real callbacks, delivered by wxgate's worker to a loopback
 * receiver, counted per second.
 *
 *   npx bun bench/webhooks/run.ts [--duration=5] [--connections=16] [--drain-timeout=300] [--rebuild] [--keep]
 *
 * - builds dist/wxgate if it is missing (or with --rebuild) and starts it (`serve`, fresh database in a temp
 *   folder, an admin token); starts bench/webhooks/receiver.ts (Bun.serve in its own process, 204 at once);
 * - registers one endpoint subscribed to `*` at the receiver through POST /api/webhooks;
 * - drives POST /wechat with bench/callback/load.mjs (autocannon under Node, unique MsgIds: every 2xx is one
 *   message.received event) for --duration seconds, then waits until the receiver has seen every event;
 * - prints callbacks/s while the load ran, deliveries/s (unique events over first → last arrival), how many
 *   had arrived when the load stopped, delivery latency (arrival − the event's timestamp) and PASS/FAIL
 *   against the target (≥ 1,000 deliveries/s);
 * - after stopping wxgate, checks that webhook_events holds one row per 2xx callback and every delivery is
 *   `delivered`.
 *
 * Exit code: 0 when the run completed (a missed target is reported, not failed); 1 on a crash, a non-2xx
 * callback, events not all delivered before --drain-timeout, or a row count that does not match.
 */
import { Database } from 'bun:sqlite'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { Subprocess } from 'bun'
import { createProcs, Crash, freePort, stopProcess, tail } from '../lib/procs'

const ROOT = resolve(import.meta.dir, '../..')
const BIN = join(ROOT, 'dist', 'wxgate')
const LOAD = join(ROOT, 'bench', 'callback', 'load.mjs')
const RECEIVER = join(import.meta.dir, 'receiver.ts')
const HOST = '127.0.0.1'
const TOKEN = 'benchtoken2026'
const ADMIN = 'bench-admin-token-0123456789abcdef'
const TARGET_PER_SEC = 1000

const { values: opt } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    'drain-timeout': { type: 'string', default: '300' },
    rebuild: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})
if (opt.help) {
  console.log('usage: npx bun bench/webhooks/run.ts [--duration=SECONDS] [--connections=N] [--drain-timeout=SECONDS] [--rebuild] [--keep]')
  process.exit(0)
}
const duration = Number(opt.duration)
const connections = Number(opt.connections)
const drainTimeout = Number(opt['drain-timeout'])
if (!(duration > 0) || !(drainTimeout > 0) || !Number.isInteger(connections) || connections < 1) {
  console.error('run.ts: --duration and --drain-timeout must be > 0, --connections a positive integer')
  process.exit(2)
}

interface Phase {
  elapsedSec: number
  rps: number
  status2xx: number
  non2xx: number
  statusCodes: Record<string, number>
  latencyMs: { p50: number | null; p99: number | null }
}
interface Stats {
  deliveries: number
  unique: number
  firstAt: number | null
  lastAt: number | null
  latencyMs: { p50: number | null; p90: number | null; p99: number | null; max: number | null }
}

const { spawn, run, setTmp } = createProcs({ root: ROOT, keep: !!opt.keep })

export const waitReady = async (name: string, url: string, p: Subprocess, logs: string[], timeoutMs = 20_000) => {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (p.exitCode !== null || p.signalCode !== null) throw new Crash(`${name} exited before it was ready\n${logs.map((l) => tail(l)).join('\n')}`)
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await r.arrayBuffer()
      if (r.status === 200) return
    } catch {
      // not listening yet
    }
    await Bun.sleep(50)
  }
  throw new Crash(`${name} did not answer 200 on ${url} within ${timeoutMs / 1000} s\n${logs.map((l) => tail(l)).join('\n')}`)
}

const sign = (token: string, timestamp: string, nonce: string) => createHash('sha1').update([token, timestamp, nonce].sort().join('')).digest('hex')
const fmt = (x: number | null | undefined, d = 0) => (x === null || x === undefined ? '-' : x.toFixed(d))

const main = async (): Promise<number> => {
  if (!Bun.which('node')) throw new Crash('node is not on PATH: the load generator (autocannon) runs under Node')
  if (opt.rebuild || !existsSync(BIN)) {
    console.error(`run.ts: building ${BIN} (bun run build)`)
    if ((await spawn([process.execPath, 'run', 'build'], { cwd: ROOT }).exited) !== 0) throw new Crash('bun run build failed')
  }
  const tmp = mkdtempSync(join(tmpdir(), 'wxgate-bench-webhooks-'))
  setTmp(tmp)
  const dbPath = join(tmp, 'bench.db')
  const wxPort = await freePort(HOST)
  let rxPort = await freePort(HOST)
  while (rxPort === wxPort) rxPort = await freePort(HOST)

  const env: Record<string, string | undefined> = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WXGATE_')))
  Object.assign(env, {
    WXGATE_DB: dbPath, WXGATE_HOST: HOST, WXGATE_PORT: String(wxPort), WXGATE_LOG_LEVEL: 'warn', WXGATE_ADMIN_TOKEN: ADMIN,
    WXGATE_CHANNEL: 'default', WXGATE_APPID: 'wxbench0000000000', WXGATE_APPSECRET: 'bench-app-secret-not-real', WXGATE_TOKEN: TOKEN,
  })
  const wxLog = join(tmp, 'wxgate.log')
  const rxLog = join(tmp, 'receiver.log')
  const wx = spawn([BIN, 'serve'], { cwd: tmp, env, log: wxLog })
  const rx = spawn([process.execPath, RECEIVER, `--port=${rxPort}`, `--host=${HOST}`], { log: rxLog })
  const base = `http://${HOST}:${wxPort}`
  const rxBase = `http://${HOST}:${rxPort}`
  await Promise.all([
    waitReady('wxgate', `${base}/healthz`, wx, [wxLog, `${wxLog}.err`]),
    waitReady('receiver', `${rxBase}/healthz`, rx, [rxLog, `${rxLog}.err`]),
  ])

  const created = await fetch(`${base}/api/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `${rxBase}/webhook`, events: ['*'], description: 'bench' }),
  })
  if (created.status !== 201) throw new Crash(`POST /api/webhooks answered ${created.status}: ${await created.text()}`)
  await created.arrayBuffer()

  const timestamp = String(Math.floor(Date.now() / 1000))
  const nonce = 'bench' + Math.random().toString(36).slice(2, 10)
  const url = `${base}/wechat?signature=${sign(TOKEN, timestamp, nonce)}&timestamp=${timestamp}&nonce=${nonce}&openid=o_bench`
  console.error(`run.ts: ${duration} s of callbacks, ${connections} connections, then waiting for every delivery`)
  const loadStart = Date.now()
  const lp = spawn(['node', LOAD, `--url=${url}`, `--connections=${connections}`, `--duration=${duration}`, '--warmup=0',
    `--create-time=${timestamp}`, `--server-pid=${wx.pid}`], { stdout: 'pipe' })
  const out = await new Response(lp.stdout as ReadableStream<Uint8Array>).text()
  if ((await lp.exited) !== 0) throw new Crash('the load generator failed')
  const loadEnd = Date.now()
  const load = (JSON.parse(out.trim().split('\n').pop() ?? '') as { measured: Phase }).measured
  const stats = async () => (await (await fetch(`${rxBase}/stats`)).json()) as Stats
  const atLoadEnd = await stats()

  // Drain: until every event has arrived, or no progress for 30 s, or the timeout.
  let s = atLoadEnd
  let lastProgress = Date.now()
  const until = Date.now() + drainTimeout * 1000
  while (s.unique < load.status2xx && Date.now() < until && Date.now() - lastProgress < 30_000) {
    await Bun.sleep(250)
    const next = await stats()
    if (next.unique > s.unique) lastProgress = Date.now()
    s = next
  }
  const drained = s.unique >= load.status2xx

  const wxExit = await stopProcess(wx)
  await stopProcess(rx)
  if (wxExit !== 0) throw new Crash(`wxgate did not stop cleanly (exit ${wxExit})\n${tail(wxLog)}\n${tail(`${wxLog}.err`)}`)
  const db = new Database(dbPath, { readonly: true })
  const events = (db.query('SELECT COUNT(*) AS n FROM webhook_events').get() as { n: number }).n
  const byStatus = db.query('SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status').all() as { status: string; n: number }[]
  db.close()

  const spanSec = s.firstAt !== null && s.lastAt !== null ? Math.max(0.001, (s.lastAt - s.firstAt) / 1000) : NaN
  const perSec = s.unique / spanSec
  const ok = perSec >= TARGET_PER_SEC
  const nodeVersion = Bun.spawnSync(['node', '--version']).stdout.toString().trim()
  console.log('')
  console.log(`wxgate webhook delivery benchmark: ${duration} s of callbacks at ${connections} connections, one endpoint subscribed to *`)
  console.log(`bun ${Bun.version}, node ${nodeVersion}, ${cpus().length} CPUs, ${new Date().toISOString()}`)
  console.log('')
  console.log(`callbacks:  ${load.status2xx} answered 2xx (${load.non2xx} other) at ${fmt(load.rps)}/s, p50 ${fmt(load.latencyMs.p50, 2)} ms, p99 ${fmt(load.latencyMs.p99, 2)} ms`)
  console.log(`delivered:  ${s.unique} unique events (${s.deliveries - s.unique} repeats) in ${fmt(spanSec, 2)} s from first to last arrival; ${atLoadEnd.unique} had arrived when the load stopped (${fmt((loadEnd - loadStart) / 1000, 1)} s)`)
  console.log(`latency:    event written → received: p50 ${fmt(s.latencyMs.p50)} ms, p90 ${fmt(s.latencyMs.p90)} ms, p99 ${fmt(s.latencyMs.p99)} ms, max ${fmt(s.latencyMs.max)} ms`)
  console.log(`throughput: ${fmt(perSec)} deliveries/s   target >= ${TARGET_PER_SEC}/s   ${ok ? 'PASS' : 'FAIL'}`)
  const rowsOk = events === load.status2xx && byStatus.every((r) => r.status === 'delivered')
  console.log(`rows: webhook_events ${events} (2xx callbacks ${load.status2xx}); deliveries ${JSON.stringify(Object.fromEntries(byStatus.map((r) => [r.status, r.n])))}   ${rowsOk ? 'OK' : 'MISMATCH'}`)
  console.log('')
  console.log('json: ' + JSON.stringify({ date: new Date().toISOString(), bun: Bun.version, connections, duration, callbacks: load, atLoadEnd, receiver: s, perSec, events, deliveries: byStatus }))
  if (!drained) console.log(`FAIL: ${load.status2xx - s.unique} events never arrived (drain stopped)`)
  if (load.non2xx > 0) console.log(`FAIL: ${load.non2xx} non-2xx callbacks ${JSON.stringify(load.statusCodes)}`)
  return drained && rowsOk && load.non2xx === 0 ? 0 : 1
}

await run(main)
