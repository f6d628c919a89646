// Shared by the load drivers of bench/callback and bench/send (Node, never inside the Bun process measured):
// one measured phase of autocannon load that ends by draining, with exact latency percentiles and CPU
// accounting from /proc.
//
// Unlike a plain autocannon duration run, a phase ends gracefully: when its time is up every connection
// stops sending and waits for the answer to the request it has in flight. autocannon's own stop destroys
// the sockets with requests in flight, which the server may still process (a stored row with no counted
// response); draining keeps "rows in the database == 2xx counted" exact.
//
// Latency percentiles are computed from every response's own hrtime duration (autocannon's histogram
// rounds to whole milliseconds).

import autocannon from 'autocannon'
import { execSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

/**
 * The command line of a load driver: the options every driver takes (--url, --connections, --duration,
 * --warmup, --server-pid, --timeout) plus its own (`extra`, parseArgs options; `required` among them).
 * A missing or bad value exits 2 with one line naming it.
 */
export const loadArgs = (extra = {}, required = []) => {
  const { values: args } = parseArgs({
    options: {
      url: { type: 'string' },
      connections: { type: 'string', default: '64' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      'server-pid': { type: 'string' },
      timeout: { type: 'string', default: '10' },
      ...extra,
    },
    strict: true,
  })
  const die = (msg) => {
    process.stderr.write(`load.mjs: ${msg}\n`)
    process.exit(2)
  }
  for (const name of ['url', ...required]) if (!args[name]) die(`--${name} is required`)
  const connections = Number(args.connections)
  const duration = Number(args.duration)
  const warmup = Number(args.warmup)
  if (!Number.isInteger(connections) || connections < 1) die('--connections must be a positive integer')
  if (!(duration > 0)) die('--duration must be > 0')
  if (!(warmup >= 0)) die('--warmup must be >= 0')
  return {
    args, url: args.url, connections, duration, warmup,
    timeoutSec: Number(args.timeout),
    serverPid: args['server-pid'] ? Number(args['server-pid']) : undefined,
  }
}

// ---- CPU accounting (Linux /proc; silently absent elsewhere) ----------------------------------------
let clkTck = 100
try { clkTck = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100 } catch { /* default */ }

/** utime + stime of a process (all its threads), in seconds. */
const procCpu = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // After "pid (comm) ", field 3 (state) is index 0; utime is field 14 → index 11, stime 15 → 12.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
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

const cpuSnapshot = (serverPid) => ({
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

const percentile = (sorted, p) => {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

const round = (x, d = 3) => (x === null || x === undefined ? x : Math.round(x * 10 ** d) / 10 ** d)

/**
 * One phase of `seconds`: POSTs `nextBody()` on every request, counts a 2xx whose body passes `verifyBody`
 * as good (the first failing body is kept as `mismatchSample`), and reports req/s, exact percentiles,
 * 2xx per whole second of the phase, and CPU of this process, the server (`serverPid`) and the machine.
 */
export const runPhase = ({ url, connections, seconds, timeoutSec, headers, nextBody, verifyBody, serverPid }) => new Promise((resolve, reject) => {
  const clients = []
  const latencies = []
  const statusCodes = {}
  const perSecond = []
  let ok2xx = 0
  let non2xx = 0
  let tLast = 0
  let sample
  const cpu0 = cpuSnapshot(serverPid)
  const t0 = cpu0.wall
  let cpu1

  const instance = autocannon({
    url,
    connections,
    // autocannon's own timer must never fire (it would cut requests in flight): the drain below ends the phase.
    duration: seconds + 3600,
    timeout: timeoutSec,
    method: 'POST',
    headers,
    setupClient: (client) => { clients.push(client) },
    verifyBody: (body) => {
      if (verifyBody(body)) return true
      if (sample === undefined) sample = body.slice(0, 500)
      return false
    },
    requests: [{
      setupRequest: (req) => {
        req.body = nextBody()
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

  // Time is up: every connection ends after the answer to the request it has in flight (_doRequest
  // destroys a client once reqsMade >= responseMax); autocannon finishes when all are done.
  setTimeout(() => {
    cpu1 = cpuSnapshot(serverPid)
    for (const c of clients) c.responseMax = Math.max(1, c.reqsMade)
  }, seconds * 1000)
  // A server that stops answering: autocannon's per-request timeout still fires, but do not hang forever.
  const hardStop = setTimeout(() => { instance.stop() }, (seconds + timeoutSec + 30) * 1000)
})
