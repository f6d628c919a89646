/**
 * Console benchmark (issue 16): "every page answers in under 300 ms with 10,000 messages and 1,000 bindings
 * stored" — a benchmark, not a timed test.
 *
 *   npx bun bench/console/run.ts [--bin=PATH] [--runs=20] [--messages=10000] [--bindings=1000] [--rebuild] [--keep]
 *
 * 1. A fresh SQLite database in a temp folder: `dist/wxgate migrate` makes the schema, `wxgate apikey create` two
 *    keys (crm: send; dashboard: read), `wxgate webhook add` one endpoint; then bench/console/seed.ts writes a week
 *    of traffic into the real tables in one transaction (--messages messages with their attempts, --bindings
 *    bindings, the send requests of the last day, the inbound log, the webhook history, a stored access token).
 * 2. `dist/wxgate serve` on it (a clean env: no WXGATE_* of the caller, run in the temp folder so no .env is read;
 *    WXGATE_LOG_LEVEL=warn; the env channel is the sandbox's demo account, WXGATE_WECHAT_API the sandbox WeChat in
 *    its own process, bench/send/sandbox-server.ts, so nothing leaves loopback and every call a page makes to
 *    WeChat is counted). Checked before timing: GET /api/messages and /api/bindings answer 200 with items, and
 *    walking their cursors finds exactly --messages and --bindings rows.
 * 3. Sign in once (POST /console/login with WXGATE_ADMIN_TOKEN → 303 + cookie). For each entry of PAGES: one
 *    warm-up GET (a 404 there: "not built", skipped), then --runs sequential GETs with the cookie on one keep-alive
 *    connection, each timed with performance.now() around fetch + reading the whole body. Then the API
 *    equivalents (API, Bearer admin token) the same way, to tell the page's own cost from the store's.
 *
 * Verdict per page: PASS when the MAX of the runs is < 300 ms (the figure is "every page answers", so the slowest
 * answer counts; p90 is printed too). A missed target is reported, not failed; exit 1 on a crash (a process died,
 * a page answered neither 200 nor 404, the seeded rows are not what the API sees). The last line is `json: {…}`.
 */
import { Database } from 'bun:sqlite'
import { existsSync, mkdtempSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { Subprocess } from 'bun'
import { alive, createProcs, Crash, freePort, procCpu, stopProcess, tail } from '../lib/procs'
import { DEMO_ACCOUNT, DEMO_TEMPLATES } from '../../src/sandbox'
import { seed, type Seeded } from './seed'

const ROOT = resolve(import.meta.dir, '../..')
const HOST = '127.0.0.1'
const ADMIN = 'bench-admin-token-0123456789abcdef'
const CHANNEL = 'default'
const TARGET_MS = 300

/**
 * What a page's path may depend on: the seeded samples, and `lastPageOf(path)`: the last page of a list, found as a
 * person would, by following its "next page" links (`rel="next"`) from `path`; undefined when it has none.
 */
interface PathCtx { seeded: Seeded; endpointId: string; lastPageOf: (path: string) => Promise<string | undefined> }
interface Entry { name: string; path: string | ((c: PathCtx) => string | undefined | Promise<string | undefined>) }

/**
 * The console pages timed, in order. Add a page here; a path that answers 404 is reported "not built" (so this
 * list may run ahead of the console: the channels page was not built when it was written).
 */
const PAGES: Entry[] = [
  { name: 'overview', path: '/console' },
  { name: 'bindings (first 100)', path: '/console/bindings' },
  { name: 'bindings ?q=<subject>', path: (c) => `/console/bindings?q=${encodeURIComponent(c.seeded.sample.subject)}` },
  { name: 'bindings ?q=<openid>', path: (c) => `/console/bindings?q=${encodeURIComponent(c.seeded.sample.openid)}` },
  { name: 'bindings, last page', path: (c) => c.lastPageOf('/console/bindings') },
  { name: 'keys', path: '/console/keys' },
  { name: 'messages', path: '/console/messages' },
  { name: 'messages ?status=failed', path: '/console/messages?status=failed' },
  { name: 'messages ?status=queued', path: '/console/messages?status=queued' },
  { name: 'messages ?subject=', path: (c) => `/console/messages?subject=${encodeURIComponent(c.seeded.sample.subject)}` },
  { name: 'messages ?template=', path: `/console/messages?template=${DEMO_TEMPLATES[1]}` },
  { name: 'messages ?template=<none sent>', path: '/console/messages?template=TPL_NEVER_SENT' },
  { name: 'messages, last page', path: (c) => c.lastPageOf('/console/messages') },
  { name: 'message (failed, attempts)', path: (c) => `/console/messages/${c.seeded.sample.failedMessageId}` },
  { name: 'message (delivered, 2 tries)', path: (c) => `/console/messages/${c.seeded.sample.deliveredMessageId}` },
  { name: 'inbound', path: '/console/inbound' },
  { name: 'inbound ?openid= (a user)', path: (c) => `/console/inbound?openid=${encodeURIComponent(c.seeded.sample.openid)}` },
  { name: 'inbound, last page', path: (c) => c.lastPageOf('/console/inbound') },
  { name: 'webhooks', path: '/console/webhooks' },
  { name: 'webhook (its deliveries)', path: (c) => `/console/webhooks/${encodeURIComponent(c.endpointId)}` },
  { name: 'channels', path: '/console/channels' },
]

/** The API equivalents (Bearer admin token), for comparison: what the store and JSON cost without the HTML. */
const API: Entry[] = [
  { name: '/healthz (the HTTP floor)', path: '/healthz' },
  { name: 'api messages ?limit=50', path: '/api/messages?limit=50' },
  { name: 'api messages ?limit=200', path: '/api/messages?limit=200' },
  { name: 'api messages ?status=failed', path: '/api/messages?limit=50&status=failed' },
  { name: 'api message :id', path: (c) => `/api/messages/${c.seeded.sample.failedMessageId}` },
  { name: 'api bindings ?limit=100', path: '/api/bindings?limit=100' },
  { name: 'api bindings ?subject=', path: (c) => `/api/bindings?subject=${encodeURIComponent(c.seeded.sample.subject)}` },
  { name: 'api bindings ?openid=', path: (c) => `/api/bindings?openid=${encodeURIComponent(c.seeded.sample.openid)}` },
  { name: 'api inbound ?limit=50', path: '/api/inbound?limit=50' },
  { name: 'api webhooks', path: '/api/webhooks' },
  { name: 'api channels', path: '/api/channels' },
]

const { values: opt } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    runs: { type: 'string', default: '20' },
    messages: { type: 'string', default: '10000' },
    bindings: { type: 'string', default: '1000' },
    bin: { type: 'string' },
    rebuild: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})
if (opt.help) {
  console.log('usage: npx bun bench/console/run.ts [--bin=PATH] [--runs=20] [--messages=10000] [--bindings=1000] [--rebuild] [--keep]')
  process.exit(0)
}
const posInt = (name: 'runs' | 'messages' | 'bindings', min: number) => {
  const x = Number(opt[name])
  if (!Number.isInteger(x) || x < min) {
    console.error(`run.ts: --${name} must be a whole number >= ${min}`)
    process.exit(2)
  }
  return x
}
const runs = posInt('runs', 1)
const nMessages = posInt('messages', 100)
const nBindings = posInt('bindings', 10)
const BIN = opt.bin ? resolve(opt.bin) : join(ROOT, 'dist', 'wxgate')

const { spawn, run, setTmp, tmp } = createProcs({ root: ROOT, keep: !!opt.keep })

// ---- figures -----------------------------------------------------------------------------------------------
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b)
const median = (xs: number[]) => { const v = sorted(xs); return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2 }
/** Nearest rank: the smallest value with at least p of the runs at or below it. */
const pctl = (xs: number[], p: number) => sorted(xs)[Math.max(0, Math.ceil(p * xs.length) - 1)]!
const fmt = (x: number | undefined, d = 1) => (x === undefined ? '-' : x.toFixed(d))

interface Timed { ms: number; status: number; bytes: number; body: string; headers: Headers }
const timedGet = async (url: string, headers: Record<string, string>): Promise<Timed> => {
  const t0 = performance.now()
  const r = await fetch(url, { headers, redirect: 'manual' })
  const body = await r.text()
  return { ms: performance.now() - t0, status: r.status, bytes: Buffer.byteLength(body), body, headers: r.headers }
}

interface Result {
  name: string
  path?: string
  built: boolean
  note?: string
  status?: number
  bytes?: number
  /** The warm-up request (the first of this path). */
  firstMs?: number
  ms?: number[]
  medianMs?: number
  p90Ms?: number
  maxMs?: number
  /** The gateway's CPU time (utime + stime, /proc) per request over the timed runs. */
  serverCpuMs?: number
  pass?: boolean
}

const main = async (): Promise<number> => {
  if (opt.bin && !existsSync(BIN)) throw new Crash(`--bin: ${BIN} does not exist`)
  if (!opt.bin && (opt.rebuild || !existsSync(BIN))) {
    console.error(`run.ts: building ${BIN} (bun run build)`)
    const b = spawn([process.execPath, 'run', 'build'], { cwd: ROOT })
    if ((await b.exited) !== 0) throw new Crash('bun run build failed')
  }
  setTmp(mkdtempSync(join(tmpdir(), 'wxgate-bench-console-')))
  const dir = tmp()
  const dbPath = join(dir, 'wxgate.db')

  // ---- the sandbox WeChat (its own process) ---------------------------------------------------------------------
  const sb = spawn([process.execPath, join(ROOT, 'bench', 'send', 'sandbox-server.ts'), '--latency=20', '--users=0'], { stdout: 'pipe' })
  const reader = (sb.stdout as ReadableStream<Uint8Array>).getReader()
  let line = ''
  while (!line.includes('\n')) {
    const { value, done } = await reader.read()
    if (done) throw new Crash(`the sandbox exited before it was ready (code ${sb.exitCode ?? sb.signalCode})`)
    line += new TextDecoder().decode(value)
  }
  reader.releaseLock()
  const sandboxUrl = (JSON.parse(line.split('\n')[0]!) as { url: string }).url
  const sandboxCalls = async () => ((await (await fetch(`${sandboxUrl}/_sandbox/received`)).json()) as { calls: { path: string }[] }).calls

  // ---- the database: schema by the binary, keys and the endpoint by its CLI, rows by seed.ts ---------------------
  const port = await freePort(HOST)
  const deadPort = await freePort(HOST) // the webhook endpoint's URL: loopback, nothing listens (no delivery is pending)
  const env: Record<string, string | undefined> = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WXGATE_')))
  Object.assign(env, {
    WXGATE_DB: dbPath, WXGATE_HOST: HOST, WXGATE_PORT: String(port), WXGATE_LOG_LEVEL: 'warn', WXGATE_ADMIN_TOKEN: ADMIN,
    WXGATE_WECHAT_API: sandboxUrl, WXGATE_CHANNEL: CHANNEL, WXGATE_APPID: DEMO_ACCOUNT.appId, WXGATE_APPSECRET: DEMO_ACCOUNT.appSecret,
    WXGATE_TOKEN: 'benchtoken2026', WXGATE_CHANNEL_NAME: '某某科技服务号',
  })
  const cli = (...args: string[]) => {
    const r = Bun.spawnSync([BIN, ...args], { cwd: dir, env, stdout: 'pipe', stderr: 'pipe' })
    if (r.exitCode !== 0) throw new Crash(`wxgate ${args.join(' ')}: exit ${r.exitCode}\n${r.stderr.toString()}`)
    return r.stdout.toString()
  }
  cli('migrate')
  cli('apikey', 'create', '--name', 'crm', '--scopes', 'send')
  cli('apikey', 'create', '--name', 'ops-dashboard', '--scopes', 'read')
  cli('webhook', 'add', '--url', `http://${HOST}:${deadPort}/wxgate-events`, '--events', 'message.*,binding.*', '--description', 'CRM')
  const db = new Database(dbPath)
  const senderKeyId = (db.query("SELECT id FROM api_keys WHERE name = 'crm'").get() as { id: string }).id
  const endpointId = (db.query('SELECT id FROM webhook_endpoints').get() as { id: string }).id
  const seeded = seed(db, {
    channelId: CHANNEL, appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'benchtoken2026',
    senderKeyId, endpointId, messages: nMessages, bindings: nBindings, now: Date.now(),
  })
  // The endpoint's feed starts after the seeded inbound rows (as if it had read them): no history is replayed.
  db.run('UPDATE webhook_endpoints SET feed_cursor = (SELECT coalesce(max(id), 0) FROM inbound_messages)')
  const count = (table: string) => (db.query(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n
  const statusMix = () => Object.fromEntries((db.query('SELECT status, COUNT(*) AS n FROM messages GROUP BY status ORDER BY status').all() as { status: string; n: number }[]).map((r) => [r.status, r.n]))
  const before = { messages: count('messages'), attempts: count('message_attempts'), bindings: count('bindings'), inbound: count('inbound_messages'), webhookEvents: count('webhook_events'), byStatus: statusMix() }
  db.close()
  console.error(`run.ts: seeded in ${seeded.ms.toFixed(0)} ms: ${JSON.stringify(before)}`)
  if (before.messages !== nMessages || before.bindings !== nBindings) throw new Crash(`seeded ${before.messages} messages and ${before.bindings} bindings, expected ${nMessages} and ${nBindings}`)

  // ---- the gateway ------------------------------------------------------------------------------------------------
  const log = join(dir, 'wxgate.log')
  const gw: Subprocess = spawn([BIN, 'serve'], { cwd: dir, env, log })
  const base = `http://${HOST}:${port}`
  const until = Date.now() + 20_000
  for (;;) {
    if (!alive(gw)) throw new Crash(`wxgate exited before it was ready (code ${gw.exitCode ?? gw.signalCode})\n${tail(log)}\n${tail(`${log}.err`)}`)
    if (Date.now() > until) throw new Crash(`wxgate did not answer /healthz within 20 s\n${tail(`${log}.err`)}`)
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) })
      await r.arrayBuffer()
      if (r.status === 200) break
    } catch { /* not listening yet */ }
    await Bun.sleep(50)
  }
  await Bun.sleep(1000) // the start-up prune pass and the first outbox pass are over
  const bearer = { authorization: `Bearer ${ADMIN}` }

  // ---- sign in: the first requests of this gateway (the Elysia app is built on the first one that needs it) --------
  const t0 = performance.now()
  const login = await fetch(`${base}/console/login`, { method: 'POST', body: new URLSearchParams({ key: ADMIN, next: '/console' }), redirect: 'manual' })
  await login.arrayBuffer()
  const coldLoginMs = performance.now() - t0
  const cookie = /wxgate_console=([^;]+)/.exec(login.headers.get('set-cookie') ?? '')?.[1]
  if (login.status !== 303 || !cookie) throw new Crash(`POST /console/login: HTTP ${login.status}, ${cookie ? 'a' : 'no'} session cookie`)
  const session = { cookie: `wxgate_console=${cookie}` }
  const coldOverview = await timedGet(`${base}/console`, session)
  if (coldOverview.status !== 200) throw new Crash(`GET /console after sign-in: HTTP ${coldOverview.status}`)

  // ---- the rows are valid for the app: the API sees them all ------------------------------------------------------
  const walk = async (path: string) => {
    let n = 0
    let cursor: string | undefined
    for (;;) {
      const r = await fetch(`${base}${path}?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: bearer })
      if (r.status !== 200) throw new Crash(`GET ${path}: HTTP ${r.status}: ${(await r.text()).slice(0, 300)}`)
      const page = (await r.json()) as { items: unknown[]; nextCursor?: string }
      n += page.items.length
      if (!page.nextCursor) return n
      cursor = page.nextCursor
    }
  }
  for (const path of ['/api/messages?limit=5', '/api/bindings?limit=5']) {
    const r = await fetch(`${base}${path}`, { headers: bearer })
    const j = (await r.json()) as { items?: unknown[] }
    if (r.status !== 200 || !j.items?.length) throw new Crash(`GET ${path}: HTTP ${r.status}, ${j.items?.length ?? 0} items`)
  }
  const apiCounts = { messages: await walk('/api/messages'), bindings: await walk('/api/bindings') }
  if (apiCounts.messages !== nMessages || apiCounts.bindings !== nBindings) throw new Crash(`the API lists ${apiCounts.messages} messages and ${apiCounts.bindings} bindings, expected ${nMessages} and ${nBindings}`)
  const oneMessage = await fetch(`${base}/api/messages/${seeded.sample.failedMessageId}`, { headers: bearer })
  await oneMessage.arrayBuffer()

  const lastPages = new Map<string, { path?: string; hops: number }>()
  const ctx: PathCtx = {
    seeded,
    endpointId,
    lastPageOf: async (start) => {
      let path = start
      let hops = 0
      for (; hops < 10_000; hops++) {
        const r = await timedGet(`${base}${path}`, session)
        const next = r.status === 200 ? /<a href="([^"]+)" rel="next">/.exec(r.body)?.[1]?.replaceAll('&amp;', '&') : undefined
        if (!next) break
        path = next
      }
      lastPages.set(start, { ...(hops > 0 ? { path } : {}), hops })
      return hops > 0 ? path : undefined
    },
  }

  const callsBefore = (await sandboxCalls()).length
  const measure = async (entries: Entry[], headers: Record<string, string>, isPage: boolean): Promise<Result[]> => {
    const out: Result[] = []
    for (const e of entries) {
      const path = typeof e.path === 'string' ? e.path : await e.path(ctx)
      if (!path) { out.push({ name: e.name, built: false, note: 'no path (no next-page link: one page only, or the list is not built)' }); continue }
      const warm = await timedGet(`${base}${path}`, headers)
      if (warm.status === 404) { out.push({ name: e.name, path, built: false, note: 'not built (404)' }); continue }
      if (warm.status !== 200) throw new Crash(`GET ${path}: HTTP ${warm.status} at the warm-up${warm.status === 303 ? ` (to ${warm.headers.get('location')})` : ''}: ${warm.body.slice(0, 300)}`)
      if (isPage && !warm.body.includes('</html>')) throw new Crash(`GET ${path}: not a whole HTML page (${warm.bytes} bytes)`)
      const ms: number[] = []
      const cpu0 = procCpu(gw.pid)
      for (let i = 0; i < runs; i++) {
        const r = await timedGet(`${base}${path}`, headers)
        if (r.status !== 200) throw new Crash(`GET ${path}: HTTP ${r.status} at run ${i + 1}`)
        ms.push(r.ms)
      }
      const cpu1 = procCpu(gw.pid)
      const maxMs = Math.max(...ms)
      out.push({
        name: e.name, path, built: true, status: warm.status, bytes: warm.bytes, firstMs: warm.ms, ms, medianMs: median(ms), p90Ms: pctl(ms, 0.9), maxMs,
        ...(cpu0 !== undefined && cpu1 !== undefined ? { serverCpuMs: ((cpu1 - cpu0) * 1000) / runs } : {}),
        ...(isPage ? { pass: maxMs < TARGET_MS } : {}),
      })
    }
    return out
  }
  const pages = await measure(PAGES, session, true)
  const api = await measure(API, bearer, false)
  const callsDuring = (await sandboxCalls()).slice(callsBefore).map((c) => c.path)
  if (!alive(gw)) throw new Crash(`wxgate exited during the run\n${tail(`${log}.err`)}`)
  const code = await stopProcess(gw, 15_000)
  if (code !== 0) throw new Crash(`wxgate did not stop cleanly (exit ${code ?? gw.signalCode})\n${tail(`${log}.err`)}`)
  await stopProcess(sb, 5_000)

  // Nothing was sent or pruned while the pages were timed: the same rows and statuses as seeded.
  const db2 = new Database(dbPath, { readonly: true })
  const after = { messages: (db2.query('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n, bindings: (db2.query('SELECT COUNT(*) AS n FROM bindings').get() as { n: number }).n,
    byStatus: Object.fromEntries((db2.query('SELECT status, COUNT(*) AS n FROM messages GROUP BY status ORDER BY status').all() as { status: string; n: number }[]).map((r) => [r.status, r.n])) }
  db2.close()
  const unchanged = after.messages === before.messages && after.bindings === before.bindings && JSON.stringify(after.byStatus) === JSON.stringify(before.byStatus)

  // ---- report -----------------------------------------------------------------------------------------------------
  const commit = Bun.spawnSync(['git', 'rev-parse', '--short', 'HEAD'], { cwd: ROOT }).stdout.toString().trim() || '-'
  const row = (cells: string[], w: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[0]!) : c.padStart(w[i]!))).join('  ')
  const w = [30, 7, 8, 8, 8, 8, 8, 5]
  const printTable = (rs: Result[], verdict: boolean) => {
    console.log(row(['page', 'KiB', 'first', 'median', 'p90', 'max', 'cpu/req', ''], w))
    for (const r of rs) {
      if (!r.built) { console.log(`${r.name.padEnd(w[0]!)}  ${r.path ?? ''}  ${r.note}`); continue }
      console.log(row([r.name, fmt(r.bytes! / 1024), fmt(r.firstMs), fmt(r.medianMs), fmt(r.p90Ms), fmt(r.maxMs), fmt(r.serverCpuMs), verdict ? (r.pass ? 'PASS' : 'FAIL') : ''], w))
    }
  }
  console.log('')
  console.log(`wxgate console benchmark: ${BIN} (bench tree at ${commit}), bun ${Bun.version}, ${cpus().length} CPUs, ${new Date().toISOString()}`)
  console.log(`stored: ${before.messages} messages ${JSON.stringify(before.byStatus)}, ${before.attempts} attempts, ${before.bindings} bindings (${seeded.subjects} subjects), ` +
    `${seeded.sendRequests} send requests, ${before.inbound} inbound, ${before.webhookEvents} webhook events; the API lists ${apiCounts.messages} messages, ${apiCounts.bindings} bindings`)
  console.log(`${runs} sequential GETs per page after one warm-up ("first"), one keep-alive connection; ms from fetch to the whole body read;`)
  console.log(`  cpu/req = the gateway's CPU ms per timed request (/proc utime + stime, counted in clock ticks of 10 ms on Linux: coarse at a few runs)`)
  console.log(`the gateway's first requests: POST /console/login ${fmt(coldLoginMs)} ms (builds the app), then GET /console ${fmt(coldOverview.ms)} ms`)
  console.log('')
  printTable(pages, true)
  console.log('')
  console.log('for comparison, the API (Bearer admin token):')
  printTable(api, false)
  console.log('')
  const built = pages.filter((r) => r.built)
  const missed = built.filter((r) => !r.pass)
  console.log(`WeChat calls made while timing: ${callsDuring.length}${callsDuring.length ? ` (${[...new Set(callsDuring)].join(', ')})` : ''}`)
  console.log(`rows after the run: ${after.messages} messages, ${after.bindings} bindings, statuses ${unchanged ? 'as seeded' : `CHANGED ${JSON.stringify(after.byStatus)}`}`)
  for (const [start, l] of lastPages) console.log(`last page of ${start}: ${l.path ?? '(no next link)'}, after ${l.hops} "next" link(s)`)
  console.log(`pages built: ${built.length} of ${pages.length}${pages.some((r) => !r.built) ? ` (not: ${pages.filter((r) => !r.built).map((r) => r.name).join(', ')})` : ''}`)
  console.log(`every built page's slowest answer < ${TARGET_MS} ms: ${missed.length === 0 ? 'PASS' : `FAIL (${missed.map((r) => `${r.name} ${fmt(r.maxMs)} ms`).join(', ')})`}`)
  console.log('')
  console.log('json: ' + JSON.stringify({
    date: new Date().toISOString(), bin: BIN, benchCommit: commit, bun: Bun.version, cpus: cpus().length, runs, targetMs: TARGET_MS,
    stored: { ...before, sendRequests: seeded.sendRequests, subjects: seeded.subjects }, apiCounts, seedMs: seeded.ms, coldLoginMs, coldOverviewMs: coldOverview.ms,
    pages: pages.map(({ ms: _ms, ...r }) => ({ ...r, ms: _ms?.map((x) => Math.round(x * 100) / 100) })),
    api: api.map(({ ms: _ms, ...r }) => ({ ...r, ms: _ms?.map((x) => Math.round(x * 100) / 100) })),
    wechatCalls: callsDuring, rowsUnchanged: unchanged, pass: missed.length === 0,
  }))
  return unchanged ? 0 : 1
}

await run(main)
