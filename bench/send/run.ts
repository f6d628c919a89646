/**
 * Sending benchmark: how fast wxgate accepts `POST /api/send`, and how evenly the outbox drains to WeChat.
 *
 *   npx bun bench/send/run.ts [--accept-seconds=10] [--warmup=2] [--connections=64] [--accept-rate=1]
 *                             [--drain=600] [--rate=20] [--concurrency=8] [--latency=20]
 *                             [--ceiling] [--ceiling-messages=5000] [--ceiling-rate=1000] [--ceiling-concurrency=32]
 *                             [--skip-accept] [--skip-drain] [--rebuild] [--keep] [--profile=DIR]
 *
 * Every phase uses the compiled `dist/wxgate serve` (built when missing, or with --rebuild) with a fresh
 * SQLite database in a temporary folder, and the sandbox WeChat API in its own process
 * (bench/send/sandbox-server.ts: demo account, latency on every answer, pre-registered followers).
 *
 * 1. accept: autocannon under Node (bench/send/load.mjs, its own process) POSTs /api/send with one recipient
 *    each for --accept-seconds after --warmup, on --connections connections. The gateway runs with
 *    WXGATE_SEND_RATE=--accept-rate (default 1 message/s) so the outbox hardly sends and the accept path is
 *    what is measured (the outbox still runs a pass after every accept, as in production). Afterwards the
 *    gateway is stopped with SIGTERM and `messages` is counted: it must equal the 2xx answers.
 * 2. drain: a fresh gateway with WXGATE_SEND_RATE=--rate and WXGATE_SEND_CONCURRENCY=--concurrency, sandbox
 *    latency --latency ms; --drain messages to followers the sandbox knows are accepted up front (requests
 *    of up to 1000 openids), then the run waits until the sandbox has delivered them all. Measured from the
 *    sandbox's delivery timestamps: messages/s after the first second vs the rate, the largest gap between
 *    consecutive deliveries after the first second. Checked: every message `sent` in SQLite, and each
 *    client_msg_id (= messageId) delivered exactly once.
 * 3. ceiling (--ceiling): the same drain with a high rate and concurrency, to show where the outbox tops out.
 *
 * --bin=PATH measures another wxgate binary instead of dist/wxgate (never rebuilt), e.g. an older commit's build.
 *
 * --postgres: every gateway stores in PostgreSQL instead (WXGATE_DB=postgres://…: a throwaway cluster on
 * loopback from Debian's postgresql programs, test/support/postgres.ts, one database per gateway).
 *
 * --profile=DIR runs the gateway from source (`bun --cpu-prof src/main.ts serve`) instead of the binary and
 * leaves one .cpuprofile per gateway in DIR (figures from such a run are not benchmark results).
 *
 * Targets: accept >= 3,000 requests/s at 64 connections; drain >= 95% of the rate after the first second,
 * no gap > 3/rate s after the first second. Misses are reported (PASS/FAIL), not failed. Exit code 1 on a
 * crash (a process died, build failed, the drain stalled), any non-2xx or malformed answer, or a count
 * mismatch. The last line is `json: {…}`.
 */
import { Database } from 'bun:sqlite'
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { Subprocess } from 'bun'
import { alive, createProcs, Crash, freePort, machineCpu, procCpu, stopProcess, tail } from '../lib/procs'
import { DEMO_ACCOUNT, DEMO_TEMPLATES } from '../../src/sandbox'
import { startPostgres, type TestPostgres } from '../../test/support/postgres'

const ROOT = resolve(import.meta.dir, '../..')
const HERE = import.meta.dir
/** The binary measured: dist/wxgate, or --bin=PATH (another build, e.g. an older commit's, for a comparison on the same box). */
let BIN = join(ROOT, 'dist', 'wxgate')
const HOST = '127.0.0.1'
const ADMIN = 'bench-admin-token-0123456789abcdef'
const SEND_PATH = '/cgi-bin/message/template/send'
const TARGET_ACCEPT_RPS = 3000
const TARGET_CONNECTIONS = 64
const TARGET_RATE_SHARE = 0.95
const TARGET_GAP_INTERVALS = 3
const BATCH = 1000

// ---- options ----------------------------------------------------------------------------------------
const { values: opt } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    'accept-seconds': { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    'accept-rate': { type: 'string', default: '1' },
    drain: { type: 'string', default: '600' },
    rate: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '8' },
    latency: { type: 'string', default: '20' },
    ceiling: { type: 'boolean', default: false },
    'ceiling-messages': { type: 'string', default: '5000' },
    'ceiling-rate': { type: 'string', default: '1000' },
    'ceiling-concurrency': { type: 'string', default: '32' },
    'skip-accept': { type: 'boolean', default: false },
    'skip-drain': { type: 'boolean', default: false },
    rebuild: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    profile: { type: 'string' },
    postgres: { type: 'boolean', default: false },
    bin: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})
if (opt.help) {
  console.log('usage: npx bun bench/send/run.ts [--accept-seconds=10] [--warmup=2] [--connections=64] [--accept-rate=1] [--drain=600] [--rate=20]')
  console.log('         [--concurrency=8] [--latency=20] [--ceiling] [--ceiling-messages=5000] [--ceiling-rate=1000] [--ceiling-concurrency=32]')
  console.log('         [--skip-accept] [--skip-drain] [--rebuild] [--keep] [--profile=DIR]')
  process.exit(0)
}
const num = (name: keyof typeof opt, check: (x: number) => boolean, what: string): number => {
  const x = Number(opt[name])
  if (!check(x)) {
    console.error(`run.ts: --${name} must be ${what}`)
    process.exit(2)
  }
  return x
}
const posInt = (x: number) => Number.isInteger(x) && x >= 1
const acceptSeconds = num('accept-seconds', (x) => x > 0, '> 0')
const warmup = num('warmup', (x) => x >= 0, '>= 0')
const connections = num('connections', posInt, 'a positive integer')
const acceptRate = num('accept-rate', posInt, 'a positive integer')
const drainMessages = num('drain', posInt, 'a positive integer')
const rate = num('rate', posInt, 'a positive integer')
const concurrency = num('concurrency', posInt, 'a positive integer')
const latency = num('latency', (x) => x >= 0, '>= 0')
const ceilingMessages = num('ceiling-messages', posInt, 'a positive integer')
const ceilingRate = num('ceiling-rate', posInt, 'a positive integer')
const ceilingConcurrency = num('ceiling-concurrency', posInt, 'a positive integer')
const profileDir = opt.profile ? resolve(opt.profile) : undefined
if (opt.bin) BIN = resolve(opt.bin)

// ---- processes ----------------------------------------------------------------------------------------
const { spawn, run, setTmp, tmp: tmpDir } = createProcs({ root: ROOT, keep: !!opt.keep })

// ---- CPU (Linux /proc) --------------------------------------------------------------------------------
interface CpuSnap { wall: number; gateway?: number; sandbox?: number; machine?: { busy: number; total: number } }
const cpuSnap = (gateway: Subprocess, sandbox: Subprocess): CpuSnap => ({ wall: performance.now(), gateway: procCpu(gateway.pid), sandbox: procCpu(sandbox.pid), machine: machineCpu() })
const cpuDelta = (a: CpuSnap, b: CpuSnap) => {
  const s = (b.wall - a.wall) / 1000
  const d = (x?: number, y?: number) => (x === undefined || y === undefined ? undefined : (y - x) / s)
  return {
    wallSec: s,
    gatewayCores: d(a.gateway, b.gateway),
    sandboxCores: d(a.sandbox, b.sandbox),
    machineBusy: a.machine && b.machine && b.machine.total > a.machine.total ? (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total) : undefined,
  }
}

// ---- the two servers ------------------------------------------------------------------------------------
interface SandboxProc { proc: Subprocess; url: string; statsUrl: string }

const startSandbox = async (name: string, o: { latency: number; users: number; userPrefix: string }): Promise<SandboxProc> => {
  const proc = spawn([process.execPath, join(HERE, 'sandbox-server.ts'), `--latency=${o.latency}`, `--users=${o.users}`, `--user-prefix=${o.userPrefix}`], { stdout: 'pipe' })
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader()
  let text = ''
  const until = Date.now() + 20_000
  while (!text.includes('\n')) {
    if (Date.now() > until) throw new Crash(`sandbox (${name}) printed nothing within 20 s`)
    const { value, done } = await reader.read()
    if (done) throw new Crash(`sandbox (${name}) exited before it was ready (code ${proc.exitCode ?? proc.signalCode})`)
    text += new TextDecoder().decode(value)
  }
  reader.releaseLock()
  const info = JSON.parse(text.split('\n')[0]!) as { url: string; statsUrl: string }
  return { proc, ...info }
}

interface Gateway { proc: Subprocess; base: string; db: string; log: string }

// ---- the store: a SQLite file per gateway, or (--postgres) a database per gateway in one throwaway cluster ----
let pg: TestPostgres | undefined
let dbs = 0
const newDb = async (dir: string): Promise<string> => {
  if (!opt.postgres) return join(dir, 'wxgate.db')
  if (!pg) {
    pg = await startPostgres({ maxConnections: 100 })
    const cluster = pg
    process.once('exit', () => { void cluster.stop() })
  }
  const name = `bench_${++dbs}`
  const admin = new Bun.SQL(pg.url.replace(/\/wxgate_test$/, '/postgres'))
  try { await admin.unsafe(`CREATE DATABASE ${name}`) } finally { await admin.close() }
  return pg.url.replace(/\/wxgate_test$/, `/${name}`)
}
/** The rows of a query on a stopped gateway's database (counts cast to int, so they are numbers on both). */
const dbAll = async <T>(db: string, text: string): Promise<T[]> => {
  if (db.startsWith('postgres')) {
    const sql = new Bun.SQL(db)
    try { return (await sql.unsafe(text.replace(/COUNT\(\*\)/g, 'COUNT(*)::int'))) as T[] } finally { await sql.close() }
  }
  const d = new Database(db, { readonly: true })
  try { return d.query(text).all() as T[] } finally { d.close() }
}

const startGateway = async (name: string, o: { rate: number; concurrency: number; sandboxUrl: string }): Promise<Gateway> => {
  const dir = join(tmpDir(), name)
  mkdirSync(dir, { recursive: true })
  const db = await newDb(dir)
  const log = join(dir, 'wxgate.log')
  const port = await freePort(HOST)
  // Its own settings only (no WXGATE_* of the caller), run in the temp folder so no .env is read.
  const env: Record<string, string | undefined> = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WXGATE_')))
  Object.assign(env, {
    WXGATE_DB: db,
    WXGATE_HOST: HOST,
    WXGATE_PORT: String(port),
    WXGATE_LOG_LEVEL: 'warn',
    WXGATE_ADMIN_TOKEN: ADMIN,
    WXGATE_WECHAT_API: o.sandboxUrl,
    WXGATE_CHANNEL: 'default',
    WXGATE_APPID: DEMO_ACCOUNT.appId,
    WXGATE_APPSECRET: DEMO_ACCOUNT.appSecret,
    WXGATE_TOKEN: 'benchtoken2026',
    WXGATE_SEND_RATE: String(o.rate),
    WXGATE_SEND_CONCURRENCY: String(o.concurrency),
  })
  const cmd = profileDir
    ? [process.execPath, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`, join(ROOT, 'src', 'main.ts'), 'serve']
    : [BIN, 'serve']
  const proc = spawn(cmd, { cwd: dir, env, log })
  const base = `http://${HOST}:${port}`
  const until = Date.now() + 20_000
  for (;;) {
    if (!alive(proc)) throw new Crash(`wxgate (${name}) exited before it was ready (code ${proc.exitCode ?? proc.signalCode})\n${tail(log)}\n${tail(`${log}.err`)}`)
    if (Date.now() > until) throw new Crash(`wxgate (${name}) did not answer /healthz within 20 s\n${tail(`${log}.err`)}`)
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) })
      await r.arrayBuffer()
      if (r.status === 200) break
    } catch {
      // not listening yet
    }
    await Bun.sleep(50)
  }
  return { proc, base, db, log }
}

/** SIGTERM (graceful: wxgate finishes calls in flight and closes the database); a non-zero exit is a crash. */
const stopGateway = async (name: string, g: Gateway) => {
  const code = await stopProcess(g.proc, 15_000)
  if (code !== 0) throw new Crash(`wxgate (${name}) did not stop cleanly (exit ${code ?? g.proc.signalCode})\n${tail(g.log)}\n${tail(`${g.log}.err`)}`)
}

const getJson = async <T>(url: string): Promise<T> => {
  const r = await fetch(url)
  if (!r.ok) throw new Crash(`GET ${url}: HTTP ${r.status}`)
  return (await r.json()) as T
}

// ---- phase 1: accept --------------------------------------------------------------------------------------
interface LoadPhase {
  seconds: number
  elapsedSec: number
  responses: number
  rps: number
  latencyMs: { p50: number | null; p90: number | null; p99: number | null; max: number | null }
  status2xx: number
  non2xx: number
  statusCodes: Record<string, number>
  errors: number
  timeouts: number
  mismatches: number
  mismatchSample?: string
  /** 2xx answers in each whole second of the phase (the last entry covers the drain of the connections). */
  perSecond: number[]
  cpu?: { wallSec: number; loadgenCores: number; serverCores?: number; machineBusy?: number }
}
interface LoadResult { connections: number; warmup?: LoadPhase; measured: LoadPhase; requestsBuilt: number }

const runAccept = async () => {
  console.error(`run.ts: accept: ${warmup} s warm-up, then ${acceptSeconds} s measured, ${connections} connections, WXGATE_SEND_RATE=${acceptRate}`)
  const sb = await startSandbox('accept', { latency, users: 0, userPrefix: 'o_none_' })
  const gw = await startGateway('accept', { rate: acceptRate, concurrency: 8, sandboxUrl: sb.url })
  const p = spawn(['node', join(HERE, 'load.mjs'), `--url=${gw.base}/api/send`, `--token=${ADMIN}`, `--connections=${connections}`,
    `--duration=${acceptSeconds}`, `--warmup=${warmup}`, `--server-pid=${gw.proc.pid}`, `--template=${DEMO_TEMPLATES[0]}`], { stdout: 'pipe' })
  const out = await new Response(p.stdout as ReadableStream<Uint8Array>).text()
  const code = await p.exited
  if (!alive(gw.proc)) throw new Crash(`wxgate exited during the accept run (code ${gw.proc.exitCode ?? gw.proc.signalCode})\n${tail(`${gw.log}.err`)}`)
  if (code !== 0) throw new Crash(`load generator exited with code ${code}`)
  let load: LoadResult
  try {
    load = JSON.parse(out.trim().split('\n').pop() ?? '') as LoadResult
  } catch {
    throw new Crash(`load generator printed no JSON summary:\n${out}`)
  }
  await stopGateway('accept', gw)
  await stopProcess(sb.proc, 15_000)
  const rows = (await dbAll<{ n: number }>(gw.db, 'SELECT COUNT(*) AS n FROM messages'))[0]!.n
  const requests = (await dbAll<{ n: number }>(gw.db, 'SELECT COUNT(*) AS n FROM send_requests'))[0]!.n
  const byStatus = Object.fromEntries((await dbAll<{ status: string; n: number }>(gw.db, 'SELECT status, COUNT(*) AS n FROM messages GROUP BY status')).map((r) => [r.status, r.n]))
  const twoxx = (load.warmup?.status2xx ?? 0) + load.measured.status2xx
  return { load, rows, requests, byStatus, twoxx, ok: rows === twoxx && requests === twoxx }
}

// ---- phase 2/3: drain -------------------------------------------------------------------------------------
interface Delivered { touser: string; client_msg_id?: string; at: number }

const runDrain = async (name: string, o: { messages: number; rate: number; concurrency: number; latency: number }) => {
  console.error(`run.ts: ${name}: ${o.messages} messages, WXGATE_SEND_RATE=${o.rate}, WXGATE_SEND_CONCURRENCY=${o.concurrency}, sandbox latency ${o.latency} ms`)
  const prefix = `o_${name}_`
  const sb = await startSandbox(name, { latency: o.latency, users: o.messages, userPrefix: prefix })
  const gw = await startGateway(name, { rate: o.rate, concurrency: o.concurrency, sandboxUrl: sb.url })
  const problems: string[] = []

  // Accept everything up front, in requests of up to 1000 recipients. The outbox starts at the first one.
  const cpu0 = cpuSnap(gw.proc, sb.proc)
  const t0 = Date.now()
  const acceptedIds: string[] = []
  for (let i = 0; i < o.messages; i += BATCH) {
    const openids = Array.from({ length: Math.min(BATCH, o.messages - i) }, (_, k) => `${prefix}${i + k}`)
    const r = await fetch(`${gw.base}/api/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ channel: 'default', openids, templateId: DEMO_TEMPLATES[0], data: { thing1: '订单已支付', amount2: '¥100.00', time3: '2026年11月24日 15:01' } }),
    })
    const text = await r.text()
    if (r.status !== 202) throw new Crash(`${name}: POST /api/send answered ${r.status}: ${text.slice(0, 500)}`)
    const a = JSON.parse(text) as { recipients: { messageId: string; status: string }[] }
    if (a.recipients.length !== openids.length || a.recipients.some((x) => x.status !== 'queued')) {
      throw new Crash(`${name}: POST /api/send: ${a.recipients.length} recipients for ${openids.length} openids, or some not queued`)
    }
    for (const x of a.recipients) acceptedIds.push(x.messageId)
  }
  const acceptMs = Date.now() - t0

  // Wait until the sandbox has delivered them all (progress from the side server: no lists serialised).
  const expectSec = o.messages / o.rate
  const deadline = Date.now() + (expectSec * 3 + 60) * 1000
  let last = { delivered: 0, sendCalls: 0 }
  let lastProgress = Date.now()
  let cpu1: CpuSnap | undefined
  let stalled = false
  for (;;) {
    if (!alive(gw.proc)) throw new Crash(`wxgate (${name}) exited during the drain (code ${gw.proc.exitCode ?? gw.proc.signalCode})\n${tail(`${gw.log}.err`)}`)
    if (!alive(sb.proc)) throw new Crash(`sandbox (${name}) exited during the drain`)
    const s = await getJson<{ delivered: number; sendCalls: number }>(sb.statsUrl)
    if (s.delivered >= o.messages) {
      cpu1 = cpuSnap(gw.proc, sb.proc)
      last = s
      break
    }
    if (s.delivered !== last.delivered || s.sendCalls !== last.sendCalls) lastProgress = Date.now()
    last = s
    if (Date.now() - lastProgress > 20_000 || Date.now() > deadline) {
      stalled = true
      problems.push(`drain stalled: ${s.delivered} of ${o.messages} delivered, ${s.sendCalls} send calls, no progress for ${((Date.now() - lastProgress) / 1000).toFixed(0)} s`)
      cpu1 = cpuSnap(gw.proc, sb.proc)
      break
    }
    await Bun.sleep(o.rate >= 200 ? 50 : 200)
  }

  const delivered = (await getJson<{ delivered: Delivered[] }>(`${sb.url}/_sandbox/delivered?appId=${DEMO_ACCOUNT.appId}`)).delivered
  const calls = (await getJson<{ calls: { body: { client_msg_id?: string } }[] }>(`${sb.url}/_sandbox/received?path=${encodeURIComponent(SEND_PATH)}`)).calls
  const tokenCalls = (await getJson<{ calls: unknown[] }>(`${sb.url}/_sandbox/received?path=${encodeURIComponent('/cgi-bin/stable_token')}`)).calls.length
  await stopGateway(name, gw)
  await stopProcess(sb.proc, 15_000)

  // Database: every message sent, and the ids the API handed out are the ids stored.
  const rows = await dbAll<{ id: string; status: string; attempts: number }>(gw.db, 'SELECT id, status, attempts FROM messages')
  const attemptRows = (await dbAll<{ n: number }>(gw.db, 'SELECT COUNT(*) AS n FROM message_attempts'))[0]!.n
  const byStatus: Record<string, number> = {}
  for (const r of rows) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1
  const sentRows = byStatus.sent ?? 0
  if (rows.length !== o.messages) problems.push(`messages table holds ${rows.length} rows, expected ${o.messages}`)
  if (sentRows !== o.messages) problems.push(`only ${sentRows} of ${o.messages} messages ended 'sent' (${JSON.stringify(byStatus)})`)
  const stored = new Set(rows.map((r) => r.id))
  if (acceptedIds.some((id) => !stored.has(id)) || new Set(acceptedIds).size !== o.messages) problems.push('the messageIds answered by POST /api/send are not the ids stored')

  // Sandbox: each client_msg_id delivered exactly once, and to the right follower.
  const perId = new Map<string, number>()
  for (const d of delivered) perId.set(d.client_msg_id ?? '(none)', (perId.get(d.client_msg_id ?? '(none)') ?? 0) + 1)
  const twice = [...perId.values()].filter((n) => n > 1).length
  const missing = acceptedIds.filter((id) => !perId.has(id)).length
  const unknown = [...perId.keys()].filter((id) => !stored.has(id)).length
  if (delivered.length !== o.messages || twice > 0 || missing > 0 || unknown > 0) {
    problems.push(`deliveries: ${delivered.length} for ${o.messages} messages; ${missing} never delivered, ${twice} delivered more than once, ${unknown} not ours`)
  }
  const callsPerId = new Map<string, number>()
  for (const c of calls) callsPerId.set(c.body.client_msg_id ?? '', (callsPerId.get(c.body.client_msg_id ?? '') ?? 0) + 1)
  const resent = [...callsPerId.values()].filter((n) => n > 1).length

  // Timing, from the sandbox's delivery timestamps (ms, taken when it answered).
  const at = delivered.map((d) => d.at).sort((a, b) => a - b)
  const first = at[0] ?? 0
  const lastAt = at.at(-1) ?? 0
  const spanSec = (lastAt - first) / 1000
  const overallRate = spanSec > 0 ? (at.length - 1) / spanSec : undefined
  const steady = at.filter((t) => t >= first + 1000)
  const steadySpan = (lastAt - (first + 1000)) / 1000
  const steadyRate = steady.length > 0 && steadySpan > 0 ? steady.length / steadySpan : undefined
  let maxGapMs = 0
  let maxGapAt = 0
  for (let i = 1; i < at.length; i++) {
    if (at[i]! < first + 1000) continue
    const g = at[i]! - at[i - 1]!
    if (g > maxGapMs) { maxGapMs = g; maxGapAt = (at[i - 1]! - first) / 1000 }
  }
  let maxWindow = 0
  for (let i = 0, j = 0; i < at.length; i++) {
    while (at[i]! - at[j]! >= 1000) j++
    maxWindow = Math.max(maxWindow, i - j + 1)
  }
  // Deliveries in each whole second counted from the first one (the last entry is a partial second).
  const perSecond: number[] = []
  for (const t of at) {
    const k = Math.floor((t - first) / 1000)
    while (perSecond.length <= k) perSecond.push(0)
    perSecond[k]!++
  }
  const cpu = cpu1 ? cpuDelta(cpu0, cpu1) : undefined
  return {
    name, messages: o.messages, rate: o.rate, concurrency: o.concurrency, latencyMs: o.latency,
    acceptMs, firstDeliveryAfterMs: first - t0, spanSec, overallRate, steadyRate, steadyCount: steady.length,
    rateShare: steadyRate !== undefined ? steadyRate / o.rate : undefined,
    maxGapMs, maxGapAtSec: maxGapAt, gapLimitMs: (TARGET_GAP_INTERVALS / o.rate) * 1000, maxIn1s: maxWindow, perSecond,
    delivered: delivered.length, sendCalls: calls.length, resentIds: resent, tokenCalls, attemptRows, byStatus,
    statsAtEnd: last, stalled, cpu, problems,
  }
}
type DrainResult = Awaited<ReturnType<typeof runDrain>>

// ---- formatting -------------------------------------------------------------------------------------------
const fmt = (x: number | null | undefined, d = 2) => (x === null || x === undefined ? '-' : x.toFixed(d))
const int = (x: number | undefined) => (x === undefined ? '-' : Math.round(x).toLocaleString('en-US'))
const pct = (x: number | undefined) => (x === undefined ? '-' : `${Math.round(x * 100)}%`)
const pad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s)
const row = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[0] ?? 0) : pad(c, widths[i] ?? 0))).join('  ')

// ---- main -------------------------------------------------------------------------------------------------
const main = async (): Promise<number> => {
  if (!opt['skip-accept']) {
    if (!Bun.which('node')) throw new Crash('node is not on PATH: the load generator (autocannon) runs under Node')
    if (!existsSync(join(ROOT, 'node_modules', 'autocannon'))) throw new Crash('autocannon is not installed: run `npm install` in the repository')
  }
  if (opt.bin && !existsSync(BIN)) throw new Crash(`--bin: ${BIN} does not exist`)
  if (!profileDir && !opt.bin && (opt.rebuild || !existsSync(BIN))) {
    console.error(`run.ts: building ${BIN} (bun run build)`)
    const b = spawn([process.execPath, 'run', 'build'], { cwd: ROOT })
    if ((await b.exited) !== 0) throw new Crash('bun run build failed')
  }
  if (profileDir) mkdirSync(profileDir, { recursive: true })
  setTmp(mkdtempSync(join(tmpdir(), 'wxgate-bench-send-')))
  let exitCode = 0
  const accept = opt['skip-accept'] ? undefined : await runAccept()
  const drain = opt['skip-drain'] ? undefined : await runDrain('drain', { messages: drainMessages, rate, concurrency, latency })
  const ceiling = opt.ceiling ? await runDrain('ceiling', { messages: ceilingMessages, rate: ceilingRate, concurrency: ceilingConcurrency, latency }) : undefined

  // ---- report ----------------------------------------------------------------------------------------
  const nodeVersion = Bun.which('node') ? Bun.spawnSync(['node', '--version']).stdout.toString().trim() : '-'
  let acVersion = '-'
  try { acVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8')) as { version: string }).version } catch { /* absent */ }
  console.log('')
  console.log(`wxgate send benchmark (store: ${opt.postgres ? 'PostgreSQL on loopback' : 'SQLite'})${profileDir ? ' (PROFILING RUN: gateway from source under --cpu-prof, not a result)' : ''}`)
  console.log(`bun ${Bun.version}, node ${nodeVersion}, autocannon ${acVersion}, ${cpus().length} CPUs, ${new Date().toISOString()}; binary ${BIN}`)
  const verdicts: boolean[] = []

  if (accept) {
    const m = accept.load.measured
    console.log('')
    console.log(`accept: POST /api/send, 1 recipient each, ${connections} connections, ${acceptSeconds} s measured after ${warmup} s warm-up;`)
    console.log(`        gateway WXGATE_SEND_RATE=${acceptRate} so the outbox hardly competes (it still runs a pass after each accept)`)
    const w = [8, 9, 8, 8, 8, 8, 7, 7, 11, 12, 9]
    console.log(row(['phase', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors', 'server CPU', 'loadgen CPU', 'machine'], w))
    for (const [n, r] of [['warm-up', accept.load.warmup], ['measured', m]] as const) {
      if (!r) continue
      console.log(row([n, int(r.rps), fmt(r.latencyMs.p50), fmt(r.latencyMs.p90), fmt(r.latencyMs.p99), fmt(r.latencyMs.max),
        String(r.non2xx), String(r.errors + r.mismatches), pct(r.cpu?.serverCores), pct(r.cpu?.loadgenCores), pct(r.cpu?.machineBusy)], w))
    }
    console.log(`accepted in each second of the measured phase: ${m.perSecond.slice(0, Math.ceil(acceptSeconds)).map((n) => n.toLocaleString('en-US')).join(', ')}`)
    const ok = m.rps >= TARGET_ACCEPT_RPS
    verdicts.push(ok)
    const note = connections === TARGET_CONNECTIONS ? '' : ` (the target is defined at ${TARGET_CONNECTIONS} connections; this run used ${connections})`
    console.log(`accepted/s: ${int(m.rps)}   target >= ${int(TARGET_ACCEPT_RPS)}   ${ok ? 'PASS' : 'FAIL'}${note}`)
    console.log(`rows in messages: ${accept.rows}, in send_requests: ${accept.requests}; 2xx answers: ${accept.twoxx} (warm-up ${accept.load.warmup?.status2xx ?? 0} + measured ${m.status2xx})   ${accept.ok ? 'OK' : 'MISMATCH'}`)
    console.log(`  message statuses after the phase: ${JSON.stringify(accept.byStatus)} (failed = the few the outbox sent at ${acceptRate}/s to users the sandbox does not know: 40003)`)
    const bad = [accept.load.warmup, m].reduce((n, r) => n + (r ? r.non2xx + r.errors + r.mismatches : 0), 0)
    if (bad > 0) {
      console.log(`FAIL: ${bad} non-2xx, socket errors or malformed answers (${JSON.stringify(m.statusCodes)}${m.mismatchSample ? `; e.g. ${m.mismatchSample}` : ''})`)
      exitCode = 1
    }
    if (!accept.ok) exitCode = 1
  }

  const drains = [drain, ceiling].filter((d): d is DrainResult => d !== undefined)
  if (drains.length > 0) {
    console.log('')
    console.log('drain: messages accepted up front (requests of up to 1000 openids), timed by the sandbox\'s delivery timestamps;')
    console.log('       "after 1 s" = deliveries later than 1 s after the first one (the token bucket starts full)')
    const w = [8, 8, 6, 5, 7, 9, 7, 9, 12, 8, 11, 9, 7, 10, 11, 11]
    console.log(row(['run', 'messages', 'rate', 'conc', 'latency', 'accept ms', 'span s', 'msg/s all', 'msg/s >1 s', 'of rate', 'max gap ms', 'gap limit', 'max/1 s', 'send calls', 'gateway CPU', 'sandbox CPU'], w))
    for (const d of drains) {
      console.log(row([d.name, String(d.messages), String(d.rate), String(d.concurrency), `${d.latencyMs} ms`, int(d.acceptMs), fmt(d.spanSec), fmt(d.overallRate, 1),
        fmt(d.steadyRate, 1), pct(d.rateShare), int(d.maxGapMs), int(d.gapLimitMs), String(d.maxIn1s), String(d.sendCalls), pct(d.cpu?.gatewayCores), pct(d.cpu?.sandboxCores)], w))
    }
    if (drain) {
      const rateOk = (drain.rateShare ?? 0) >= TARGET_RATE_SHARE
      const gapOk = drain.maxGapMs <= drain.gapLimitMs && drain.steadyCount > 0
      verdicts.push(rateOk, gapOk)
      console.log(`drain rate after 1 s: ${fmt(drain.steadyRate, 1)}/s of ${drain.rate}/s = ${pct(drain.rateShare)}   target >= ${TARGET_RATE_SHARE * 100}%   ${rateOk ? 'PASS' : 'FAIL'}`)
      console.log(`largest gap after 1 s: ${drain.maxGapMs} ms (at +${fmt(drain.maxGapAtSec)} s)   target <= ${TARGET_GAP_INTERVALS}/rate = ${int(drain.gapLimitMs)} ms   ${gapOk ? 'PASS' : 'FAIL'}`)
      if (drain.steadyCount === 0) console.log(`  (not measurable: everything was delivered within the first second, the token bucket's burst; use --drain well above 2 × rate)`)
    }
    if (ceiling) console.log(`ceiling: ${fmt(ceiling.steadyRate, 0)} msg/s after 1 s with rate ${ceiling.rate}/s, ${ceiling.concurrency} in flight, ${ceiling.latencyMs} ms latency (no target: where the outbox tops out)`)
    for (const d of drains) console.log(`${d.name}: deliveries in each second from the first (last one partial): ${d.perSecond.join(', ')}`)
    for (const d of drains) {
      const ok = d.problems.length === 0
      console.log(`${d.name}: ${d.byStatus.sent ?? 0}/${d.messages} sent in the database (${JSON.stringify(d.byStatus)}), ${d.delivered} delivered, each client_msg_id once: ${ok ? 'OK' : 'MISMATCH'}; ` +
        `${d.sendCalls} send calls (${d.resentIds} ids sent more than once), ${d.attemptRows} attempt rows, ${d.tokenCalls} stable_token call(s); first delivery ${int(d.firstDeliveryAfterMs)} ms after the first accept`)
      for (const p of d.problems) console.log(`  FAIL: ${p}`)
      if (!ok) exitCode = 1
    }
  }
  console.log(`overall: performance targets ${verdicts.every(Boolean) ? 'met' : 'MISSED'}; correctness ${exitCode === 0 ? 'OK' : 'FAILED'}`)
  console.log('')
  console.log('json: ' + JSON.stringify({
    date: new Date().toISOString(), bun: Bun.version, node: nodeVersion, cpus: cpus().length, profiling: Boolean(profileDir),
    options: { acceptSeconds, warmup, connections, acceptRate, drain: drainMessages, rate, concurrency, latency, ceiling: opt.ceiling, ceilingMessages, ceilingRate, ceilingConcurrency },
    accept: accept && { ...accept.load, rows: accept.rows, sendRequests: accept.requests, twoxx: accept.twoxx, byStatus: accept.byStatus },
    drain, ceiling,
  }))
  return exitCode
}

await run(main)
