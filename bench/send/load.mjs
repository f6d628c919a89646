// Load driver for the accept phase of bench/send/run.ts. Runs under Node (never inside the Bun process it
// measures).
//
//   node bench/send/load.mjs --url=http://127.0.0.1:PORT/api/send --token=ADMIN_TOKEN \
//     --connections=64 --duration=10 --warmup=2 [--server-pid=PID]
//
// Sends `POST /api/send` with one recipient per request: a JSON body with the demo template and an openid
// unique to each request of this process (warm-up included). A 2xx must be a 202 whose body names exactly
// one recipient; anything else counts as a mismatch. Prints one JSON summary line on stdout; diagnostics
// go to stderr.
//
// As in bench/callback/load.mjs, a phase ends gracefully: when its time is up every connection waits for
// the answer to the request it has in flight and stops (autocannon's own stop destroys sockets with
// requests in flight, which the server may still store). So "rows in the database == 2xx counted" is
// exact. Latency percentiles are computed here from every response's own hrtime duration.

import autocannon from 'autocannon'
import { execSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    'server-pid': { type: 'string' },
    timeout: { type: 'string', default: '10' },
    template: { type: 'string', default: 'TPL_DEMO_ORDER_PAID' },
  },
  strict: true,
})

const die = (msg) => {
  process.stderr.write(`load.mjs: ${msg}\n`)
  process.exit(2)
}

if (!args.url) die('--url is required')
if (!args.token) die('--token is required')
const url = args.url
const connections = Number(args.connections)
const duration = Number(args.duration)
const warmup = Number(args.warmup)
const timeoutSec = Number(args.timeout)
if (!Number.isInteger(connections) || connections < 1) die('--connections must be a positive integer')
if (!(duration > 0)) die('--duration must be > 0')
if (!(warmup >= 0)) die('--warmup must be >= 0')
const serverPid = args['server-pid'] ? Number(args['server-pid']) : undefined

let sent = 0
const runId = Date.now().toString(36)
const bodyHead = '{"channel":"default","openids":["o_accept_' + runId + '_'
const bodyTail = `"],"templateId":${JSON.stringify(args.template)},"data":{"thing1":"订单已支付","amount2":"¥100.00","time3":"2026年11月24日 15:01"}}`

// ---- CPU accounting (Linux /proc; silently absent elsewhere) ----------------------------------------
let clkTck = 100
try { clkTck = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100 } catch { /* default */ }

const procCpu = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / clkTck
  } catch {
    return undefined
  }
}

const machineCpu = () => {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
    const n = line.trim().split(/\s+/).slice(1).map(Number)
    const idle = (n[3] ?? 0) + (n[4] ?? 0)
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0)
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

/** A 202 answer naming exactly one recipient (cheap check: no JSON.parse of every body). */
const acceptedBody = (body) => body.startsWith('{"id":"req_') && body.includes('"recipients":[{"messageId":"msg_') && !body.includes('},{"messageId"')

const runPhase = (seconds) => new Promise((resolve, reject) => {
  const clients = []
  const latencies = []
  const statusCodes = {}
  let ok2xx = 0
  let non2xx = 0
  let tLast = 0
  let sample
  // 2xx answers per whole second of the phase: shows whether the accept rate holds as the table grows.
  const perSecond = []
  const cpu0 = cpuSnapshot()
  const t0 = cpu0.wall
  let cpu1

  const instance = autocannon({
    url,
    connections,
    duration: seconds + 3600,
    timeout: timeoutSec,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${args.token}` },
    setupClient: (client) => { clients.push(client) },
    verifyBody: (body) => {
      if (acceptedBody(body)) return true
      if (sample === undefined) sample = body.slice(0, 500)
      return false
    },
    requests: [{
      setupRequest: (req) => {
        req.body = bodyHead + String(sent++) + bodyTail
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
      perSecond,
      ...(sample !== undefined ? { mismatchSample: sample } : {}),
      cpu: cpu1 ? Object.fromEntries(Object.entries(cpuDelta(cpu0, cpu1)).map(([k, v]) => [k, round(v)])) : undefined,
    })
  })

  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    tLast = performance.now()
    statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1
    if (statusCode >= 200 && statusCode < 300) {
      ok2xx++
      const s = Math.floor((tLast - t0) / 1000)
      while (perSecond.length <= s) perSecond.push(0)
      perSecond[s]++
    } else non2xx++
    latencies.push(responseTime)
  })

  setTimeout(() => {
    cpu1 = cpuSnapshot()
    for (const c of clients) c.responseMax = Math.max(1, c.reqsMade)
  }, seconds * 1000)
  const hardStop = setTimeout(() => { instance.stop() }, (seconds + timeoutSec + 30) * 1000)
})

try {
  const warm = warmup > 0 ? await runPhase(warmup) : undefined
  const measured = await runPhase(duration)
  process.stdout.write(JSON.stringify({ url, connections, warmup: warm, measured, requestsBuilt: sent }) + '\n')
  process.exit(0)
} catch (e) {
  process.stderr.write(`load.mjs: ${e?.stack ?? e}\n`)
  process.exit(1)
}
