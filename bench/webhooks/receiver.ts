/**
 * The webhook receiver for bench/webhooks and bench/callback --webhook: a bare `Bun.serve` in its own process
 * that answers 204 at once and only counts, so that it is never the bottleneck. It does not verify signatures
 * (the tests do that with the standardwebhooks package); it reads the body and the webhook-id header.
 *
 *   bun bench/webhooks/receiver.ts --port=PORT [--host=127.0.0.1] [--hang]
 *
 * --hang: deliveries are never answered (a dead endpoint): the worker keeps at most 4 in flight and backs off,
 * so a callback run against it measures the cost of writing the events alone, without the deliveries.
 *
 * --reply: a reply hook (SPEC §7) that answers {"reply":{"type":"text","content":"ok"}} at once.
 *
 * GET /stats → { deliveries, unique, firstAt, lastAt, latencyMs: { p50, p90, p99, max } }: latency is the
 * arrival time minus the event's `timestamp` (set when the callback's transaction wrote the event), so it
 * covers the queue and the worker, not only the HTTP request. POST /reset clears. Prints `listening on …`.
 */
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, hang: { type: 'boolean', default: false }, reply: { type: 'boolean', default: false } },
  strict: true,
})

let deliveries = 0
let ids = new Set<string>()
let latencies: number[] = []
let firstAt: number | undefined
let lastAt: number | undefined

// The event timestamp sits near the start of the body: a bounded regex, not a full JSON.parse per delivery.
const TS = /"timestamp":"([^"]+)"/

const quantile = (sorted: number[], q: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!

const server = Bun.serve({
  hostname: values.host,
  port: Number(values.port),
  async fetch(request) {
    const url = new URL(request.url)
    if (request.method === 'POST' && url.pathname === '/webhook') {
      if (values.hang) await new Promise((resolve) => request.signal.addEventListener('abort', resolve))
      const body = await request.text()
      const now = Date.now()
      deliveries++
      ids.add(request.headers.get('webhook-id') ?? '')
      firstAt ??= now
      lastAt = now
      const ts = TS.exec(body)?.[1]
      if (ts !== undefined) latencies.push(now - Date.parse(ts))
      // --reply: a reply hook answering at once (SPEC §7).
      if (values.reply) return Response.json({ reply: { type: 'text', content: 'ok' } })
      return new Response(null, { status: 204 })
    }
    if (url.pathname === '/stats') {
      const sorted = [...latencies].sort((a, b) => a - b)
      return Response.json({
        deliveries, unique: ids.size, firstAt: firstAt ?? null, lastAt: lastAt ?? null,
        latencyMs: { p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? null },
      })
    }
    if (request.method === 'POST' && url.pathname === '/reset') {
      deliveries = 0
      ids = new Set()
      latencies = []
      firstAt = lastAt = undefined
      return new Response(null, { status: 204 })
    }
    if (url.pathname === '/healthz') return new Response('ok')
    return new Response('not found', { status: 404 })
  },
})

process.stdout.write(`listening on http://${values.host}:${server.port}\n`)

const stop = () => {
  void server.stop(true).finally(() => process.exit(0))
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
