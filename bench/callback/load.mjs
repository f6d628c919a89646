// Load driver for bench/callback/run.ts. Runs under Node (never inside the Bun process it measures).
//
//   node bench/callback/load.mjs --url=http://127.0.0.1:PORT/wechat?signature=…&timestamp=T&nonce=N&openid=o \
//     --connections=64 --duration=10 --warmup=2 --create-time=T [--server-pid=PID]
//
// Sends POST requests with a WeChat text-message XML body whose MsgId is unique for every request of
// this process (warm-up included), so that each one is a dedup miss and does the full work. Prints one
// JSON summary line on stdout; diagnostics go to stderr.
//
// Unlike a plain autocannon duration run, a phase ends gracefully: when its time is up every
// connection stops sending and waits for the answer to the request it has in flight. autocannon's own
// stop destroys the sockets with requests in flight, which the server may still process (a dedup row
// with no counted response); draining keeps "rows in the database == 2xx counted" exact.
//
// Latency percentiles are computed here from every response's own hrtime duration (autocannon's
// histogram rounds to whole milliseconds).

import autocannon from 'autocannon'
import { execSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    'create-time': { type: 'string' },
    'server-pid': { type: 'string' },
    timeout: { type: 'string', default: '10' },
  },
  strict: true,
})

const die = (msg) => {
  process.stderr.write(`load.mjs: ${msg}\n`)
  process.exit(2)
}

if (!args.url) die('--url is required')
const url = args.url
const connections = Number(args.connections)
const duration = Number(args.duration)
const warmup = Number(args.warmup)
const timeoutSec = Number(args.timeout)
if (!Number.isInteger(connections) || connections < 1) die('--connections must be a positive integer')
if (!(duration > 0)) die('--duration must be > 0')
if (!(warmup >= 0)) die('--warmup must be >= 0')
const createTime = args['create-time'] ?? String(Math.floor(Date.now() / 1000))
const serverPid = args['server-pid'] ? Number(args['server-pid']) : undefined

// MsgId: a decimal integer below 2^53 (so plain Number arithmetic stays exact) and far below 2^63.
// (seconds mod 10^6) * 10^9 + counter: unique within a run for fewer than 10^9 requests.
const msgIdBase = (Math.floor(Date.now() / 1000) % 1_000_000) * 1_000_000_000
let sent = 0
const bodyHead =
  '<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o_bench]]></FromUserName>' +
  `<CreateTime>${createTime}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>`
const bodyTail = '</MsgId></xml>'

// ---- CPU accounting (Linux /proc; silently absent elsewhere) ----------------------------------------
let clkTck = 100
try { clkTck = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100 } catch { /* default */ }

/** utime + stime of a process (all its threads), in seconds. */
const procCpu = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // After "pid (comm) ", field 3 (state) is index 0; utime is field 14 → index 11, stime 15 → 12.
    return (Number(fields[11]) + Number(fields[12])) / clkTck
  } catch {
    return undefined
  }
}

/** Busy and total jiffies of the whole machine. */
const machineCpu = () => {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
    const n = line.trim().split(/\s+/).slice(1).map(Number)
    const idle = (n[3] ?? 0) + (n[4] ?? 0) // idle + iowait
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0) // user..steal (guest is inside user)
    return { busy: total - idle, total }
  } catch {
    return undefined
  }
}

const cpuSnapshot = () => ({
  server: serverPid ? procCpu(serverPid) : undefined,
  self: process.cpuUsage(),
  machine: machineCpu(),
  wall: performance.now(),
})

const cpuDelta = (a, b) => {
  const wallSec = (b.wall - a.wall) / 1000
  const self = ((b.self.user - a.self.user) + (b.self.system - a.self.system)) / 1e6
  const out = { wallSec, loadgenCores: self / wallSec }
  if (a.server !== undefined && b.server !== undefined) out.serverCores = (b.server - a.server) / wallSec
  if (a.machine && b.machine && b.machine.total > a.machine.total) {
    out.machineBusy = (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)
  }
  return out
}

// ---- one phase ----------------------------------------------------------------------------------------
const percentile = (sorted, p) => {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

const round = (x, d = 3) => (x === null || x === undefined ? x : Math.round(x * 10 ** d) / 10 ** d)

const runPhase = (seconds) => new Promise((resolve, reject) => {
  const clients = []
  const latencies = []
  const statusCodes = {}
  let ok2xx = 0
  let non2xx = 0
  let tLast = 0
  const cpu0 = cpuSnapshot()
  const t0 = cpu0.wall
  let cpu1

  const instance = autocannon({
    url,
    connections,
    // autocannon's own timer must never fire (it would cut requests in flight): the drain below ends the phase.
    duration: seconds + 3600,
    timeout: timeoutSec,
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8' },
    setupClient: (client) => { clients.push(client) },
    verifyBody: (body) => body === 'success',
    requests: [{
      setupRequest: (req) => {
        req.body = bodyHead + String(msgIdBase + sent++) + bodyTail
        return req
      },
    }],
  }, (err, result) => {
    clearTimeout(hardStop)
    if (err) return reject(err)
    const elapsedSec = ((tLast || performance.now()) - t0) / 1000
    latencies.sort((a, b) => a - b)
    const total = ok2xx + non2xx
    resolve({
      seconds,
      elapsedSec: round(elapsedSec),
      responses: total,
      rps: round(total / elapsedSec, 1),
      latencyMs: {
        p50: round(percentile(latencies, 50)),
        p90: round(percentile(latencies, 90)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies[latencies.length - 1] ?? null),
      },
      status2xx: ok2xx,
      non2xx,
      statusCodes,
      errors: result.errors,
      timeouts: result.timeouts,
      mismatches: result.mismatches,
      cpu: cpu1 ? Object.fromEntries(Object.entries(cpuDelta(cpu0, cpu1)).map(([k, v]) => [k, round(v)])) : undefined,
    })
  })

  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    tLast = performance.now()
    statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1
    if (statusCode >= 200 && statusCode < 300) ok2xx++
    else non2xx++
    latencies.push(responseTime)
  })

  // Time is up: every connection ends after the answer to the request it has in flight (_doRequest
  // destroys a client once reqsMade >= responseMax); autocannon finishes when all are done.
  setTimeout(() => {
    cpu1 = cpuSnapshot()
    for (const c of clients) c.responseMax = Math.max(1, c.reqsMade)
  }, seconds * 1000)
  // A server that stops answering: autocannon's per-request timeout still fires, but do not hang forever.
  const hardStop = setTimeout(() => { instance.stop() }, (seconds + timeoutSec + 30) * 1000)
})

try {
  const warm = warmup > 0 ? await runPhase(warmup) : undefined
  const measured = await runPhase(duration)
  process.stdout.write(JSON.stringify({
    url: url.replace(/signature=[^&]*/, 'signature=…'),
    connections,
    warmup: warm,
    measured,
    requestsBuilt: sent,
  }) + '\n')
  process.exit(0)
} catch (e) {
  process.stderr.write(`load.mjs: ${e?.stack ?? e}\n`)
  process.exit(1)
}
