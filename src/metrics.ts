/**
 * @module Prometheus metrics (prom-client), one registry per app instance (createDeps): tests run several
 * servers in one process, and nothing goes to prom-client's global registry.
 *
 * Labels are bounded: route patterns, never raw paths ('other' for unknown ones); known channels only
 * ('(unknown)' for an id nobody configured: anyone can call /wechat/anything); known message types
 * ('other' beyond them); WeChat endpoint paths without their query (which carries the access token).
 *
 * The callback path is hot (benchmarked: bench/callback): its counters and its duration histogram count
 * into plain numbers bound once per label set — a request costs a map lookup, `n++` and a bucket search,
 * with no allocation — and reach the registry when scraped: counters through prom-client's `collect`
 * hook, the histogram as a registry entry of its own giving the same shape as prom-client's. A
 * prom-client increment or observation builds its label hash and objects on every call (~0.15-0.2 µs
 * each, and garbage); with them the callback bench lost ~4% of its throughput.
 * Gauges of the database (outbox depth, token expiry) are computed when scraped, not kept up to date.
 */
import type { LabelValues, Metric, Registry } from 'prom-client'
import { MESSAGE_TYPES } from './wechat/messages'

/**
 * prom-client is imported on the first scrape, not at start: with what it loads (node:http, zlib) it is ~12 MB of
 * an idle gateway's memory and a few ms of its start (bench/startup). Until then every metric counts into the
 * plain cells below, which reach the registry when it is built and at each scrape after.
 */
type Prom = typeof import('prom-client')

/** Seconds; WeChat gives up on a callback after 5 s and we answer `success` at 4.5 s. */
export const CALLBACK_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 4.5, 5]
/** Seconds; the client times out at 5 s by default. */
export const WECHAT_API_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Seconds; a webhook POST times out at 10 s. */
export const WEBHOOK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE (test/http/metrics.test.ts checks they agree), known before it is loaded. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export type CallbackOutcome = 'handled' | 'duplicate' | 'waited' | 'deadline' | 'rejected' | 'failed'
export type MessageResult = 'sent' | 'failed' | 'retry' | 'paused'

export interface OutboxDepth { channelId: string; depth: number; oldestCreatedAt: number | null }
export interface TokenExpiry { channelId: string; expiresAt: number | null }
export interface WebhookDepth { endpointId: string; depth: number; oldestCreatedAt: number | null }

export interface MetricsSources {
  /** Is this id a configured channel? */
  knownChannel: (id: string) => boolean
  /** Every configured channel (their outbox gauges show 0 rather than nothing). */
  channelIds: () => string[]
  /** Queued + sending per channel, with the oldest one's creation time (ms); one query per scrape. */
  outboxDepth: () => Promise<OutboxDepth[]> | OutboxDepth[]
  /** The stored access token's expiry (ms) per channel that has a token row. */
  tokenExpiries: () => Promise<TokenExpiry[]> | TokenExpiry[]
  /** Every webhook endpoint id (their queue gauges show 0 rather than nothing). */
  webhookEndpointIds?: () => Promise<string[]> | string[]
  /** Webhook deliveries not finished (pending + in flight) per endpoint, with the oldest one's creation time (ms). */
  webhookDepth?: () => Promise<WebhookDepth[]> | WebhookDepth[]
  now: () => number
  version: string
}

const UNKNOWN_CHANNEL = '(unknown)'
const MSG_TYPES: ReadonlySet<string> = new Set([...MESSAGE_TYPES, 'event'])
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

interface Inc { inc(): void }
interface Observe { observe(value: number): void }

/** A counter child for hot paths: counts in a plain number until the next scrape. */
class CounterCell<L extends string> implements Inc {
  n = 0
  flushed = 0
  constructor(readonly labels: LabelValues<L>) {}
  inc(): void { this.n++ }
}

interface Family { register(prom: Prom, registers: Registry[]): void }

/** The key of a label set (for the cold paths' children, kept by their values). */
const keyOf = (labelNames: readonly string[], labels: Readonly<Record<string, string | number>>) => labelNames.map((k) => String(labels[k] ?? '')).join('\u0000')

/** A counter whose children are CounterCells, added to its prom-client Counter when scraped. */
const cellCounter = <L extends string>(config: { name: string; help: string; labelNames?: readonly L[] }) => {
  const cells: CounterCell<L>[] = []
  const keyed = new Map<string, CounterCell<L>>()
  /** Bind once and keep: each call makes a new child. */
  const bind = (labels: LabelValues<L>): CounterCell<L> => {
    const c = new CounterCell<L>(labels)
    cells.push(c)
    return c
  }
  return {
    bind,
    /** For cold paths: adds to the child of these labels. */
    inc: (labels: LabelValues<L>, n = 1): void => {
      const key = keyOf(config.labelNames ?? [], labels as Record<string, string>)
      let c = keyed.get(key)
      if (!c) keyed.set(key, (c = bind(labels)))
      c.n += n
    },
    register: (prom: Prom, registers: Registry[]) => {
      new prom.Counter<L>({
        ...config,
        labelNames: config.labelNames ?? [],
        registers,
        collect() {
          for (const c of cells) {
            if (c.n === c.flushed) continue
            this.inc(c.labels, c.n - c.flushed)
            c.flushed = c.n
          }
        },
      })
    },
  }
}

/** A histogram child for hot paths: counts per bucket (the last one past every bound), sum and count. */
class HistogramCell implements Observe {
  readonly counts: Float64Array
  sum = 0
  count = 0
  constructor(readonly labels: Readonly<Record<string, string>>, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1)
  }
  observe(value: number): void {
    const b = this.bounds
    let i = 0
    while (i < b.length && value > b[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }
}

/**
 * A histogram whose children are HistogramCells, registered as a metric of its own: the registry only
 * asks a metric for `get()` (and `reset()`), answered here in the shape prom-client's Histogram gives
 * (`le` first, cumulative buckets, then _sum and _count), so the text is the same.
 */
const cellHistogram = <L extends string>(config: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[] }) => {
  const bounds = [...config.buckets].sort((a, b) => a - b)
  const cells: HistogramCell[] = []
  const keyed = new Map<string, HistogramCell>()
  const { name, help } = config
  const metric = {
    name, help, type: 'histogram', aggregator: 'sum', labelNames: config.labelNames,
    get: async () => ({
      name, help, type: 'histogram', aggregator: 'sum',
      values: cells.flatMap((c) => {
        let acc = 0
        const out: { labels: Record<string, string | number>; value: number; metricName: string }[] = bounds.map((le, i) => {
          acc += c.counts[i]!
          return { labels: { le, ...c.labels }, value: acc, metricName: `${name}_bucket` }
        })
        out.push({ labels: { le: '+Inf', ...c.labels }, value: c.count, metricName: `${name}_bucket` })
        out.push({ labels: { ...c.labels }, value: c.sum, metricName: `${name}_sum` })
        out.push({ labels: { ...c.labels }, value: c.count, metricName: `${name}_count` })
        return out
      }),
    }),
    reset: () => {
      for (const c of cells) { c.counts.fill(0); c.sum = 0; c.count = 0 }
    },
  }
  /** Bind once and keep: each call makes a new child. */
  const bind = (labels: Record<L, string>): HistogramCell => {
    const c = new HistogramCell(labels, bounds)
    cells.push(c)
    return c
  }
  return {
    bind,
    /** For cold paths: observes into the child of these labels. */
    observe: (labels: Record<L, string>, value: number): void => {
      const key = keyOf(config.labelNames, labels)
      let c = keyed.get(key)
      if (!c) keyed.set(key, (c = bind(labels)))
      c.observe(value)
    },
    register: (_prom: Prom, registers: Registry[]) => {
      for (const r of registers) r.registerMetric(metric as unknown as Metric)
    },
  }
}

export const createMetrics = (src: MetricsSources) => {
  const httpRequests = cellCounter({ name: 'wxgate_http_requests_total', help: 'HTTP requests answered, by route pattern (other: no route), method and status', labelNames: ['route', 'method', 'status'] as const })

  const callbackDuration = cellHistogram({ name: 'wxgate_callback_duration_seconds', help: 'Time to answer a WeChat callback POST, from arrival to answer', labelNames: ['channel'] as const, buckets: CALLBACK_BUCKETS })
  const callbacks = cellCounter({ name: 'wxgate_callbacks_total', help: 'WeChat callback POSTs by channel, message type and outcome (handled, duplicate, waited, deadline, rejected, failed)', labelNames: ['channel', 'msg_type', 'outcome'] as const })
  const callbackDuplicates = cellCounter({ name: 'wxgate_callback_duplicates_total', help: 'Callbacks WeChat sent again for a message already handled or being handled', labelNames: ['channel'] as const })
  const callbackFailures = cellCounter({ name: 'wxgate_callback_handler_failures_total', help: 'Callback handlings that failed and rolled back (answered 500: WeChat retries)', labelNames: ['channel'] as const })

  const messages = cellCounter({ name: 'wxgate_messages_total', help: 'Template message send results recorded by the outbox (sent, failed, retry, paused), with the WeChat errcode', labelNames: ['channel', 'status', 'errcode'] as const })
  const webhookDeliveries = cellCounter({ name: 'wxgate_webhook_deliveries_total', help: 'Webhook POSTs by endpoint and outcome (delivered; retry: failed, tried again later; failed: for good)', labelNames: ['endpoint', 'outcome'] as const })
  const webhookDuration = cellHistogram({ name: 'wxgate_webhook_delivery_duration_seconds', help: 'Webhook POSTs, from sending to the answer read (timeouts at 10 s), by endpoint', labelNames: ['endpoint'] as const, buckets: WEBHOOK_BUCKETS })
  const webhookDisabled = cellCounter({ name: 'wxgate_webhook_endpoints_disabled_total', help: 'Webhook endpoints disabled by the worker, by reason (410: the receiver answered 410 Gone; failing: every delivery failed for 5 days)', labelNames: ['endpoint', 'reason'] as const })
  const tokenRefreshes = cellCounter({ name: 'wxgate_token_refreshes_total', help: 'Access tokens fetched from WeChat, by mode (normal, forced)', labelNames: ['channel', 'mode'] as const })
  const apiDuration = cellHistogram({ name: 'wxgate_wechat_api_duration_seconds', help: 'WeChat API calls, by endpoint path', labelNames: ['endpoint'] as const, buckets: WECHAT_API_BUCKETS })
  const apiErrors = cellCounter({ name: 'wxgate_wechat_api_errors_total', help: 'Failed WeChat API calls, by endpoint and errcode (http_5xx, http_4xx, timeout, network, bad_answer when WeChat gave none)', labelNames: ['endpoint', 'errcode'] as const })
  const startedAt = Math.round((Date.now() - performance.now()) / 1000)

  /** The registry, built on the first scrape, its metrics in the order of the text. */
  const build = async () => {
    const prom: Prom = await import('prom-client')
    const { Counter, Gauge } = prom
    const registry = new prom.Registry()
    const registers = [registry]
    const add = (f: Family) => f.register(prom, registers)
    add(httpRequests)
    add(callbackDuration)
    add(callbacks)
    add(callbackDuplicates)
    add(callbackFailures)
    add(messages)
    const outboxDepth = new Gauge({ name: 'wxgate_outbox_depth', help: 'Messages queued or being sent', labelNames: ['channel'] as const, registers })
    const outboxOldest = new Gauge({ name: 'wxgate_outbox_oldest_age_seconds', help: 'Age of the oldest message queued or being sent (0: none)', labelNames: ['channel'] as const, registers })
    add(webhookDeliveries)
    add(webhookDuration)
    add(webhookDisabled)
    const webhookDepth = new Gauge({ name: 'wxgate_webhook_queue_depth', help: 'Webhook deliveries pending or in flight, by endpoint', labelNames: ['endpoint'] as const, registers })
    const webhookOldest = new Gauge({ name: 'wxgate_webhook_queue_oldest_age_seconds', help: 'Age of the oldest webhook delivery pending or in flight (0: none), by endpoint', labelNames: ['endpoint'] as const, registers })
    const tokenExpiry = new Gauge({ name: 'wxgate_token_expiry_seconds', help: 'Seconds until the stored access token expires (0: none or expired)', labelNames: ['channel'] as const, registers })
    add(tokenRefreshes)
    add(apiDuration)
    add(apiErrors)
    // Process metrics: prom-client's collectDefaultMetrics runs under Bun but half of it is wrong there (event
    // loop lag never sampled, V8 heap spaces all 0, "heap" = VmData); these few are read from Bun directly.
    const cpu = new Counter({ name: 'wxgate_process_cpu_seconds_total', help: 'User and system CPU time of the process', registers })
    const rss = new Gauge({ name: 'wxgate_process_resident_memory_bytes', help: 'Resident memory of the process', registers })
    const heap = new Gauge({ name: 'wxgate_process_heap_used_bytes', help: 'JavaScript heap in use', registers })
    new Gauge({ name: 'wxgate_process_start_time_seconds', help: 'When the process started (Unix time)', registers }).set(startedAt)
    new Gauge({ name: 'wxgate_build_info', help: 'Always 1; the version in a label', labelNames: ['version'] as const, registers })
      .labels(src.version).set(1)
    return { registry, outboxDepth, outboxOldest, webhookDepth, webhookOldest, tokenExpiry, cpu, rss, heap }
  }
  let built: ReturnType<typeof build> | undefined

  // ---- bound label children -----------------------------------------------------------------------------
  interface ChannelCells {
    duration: Observe
    outcomes: Map<string, Map<CallbackOutcome, Inc>>
    duplicates: Inc
    failures: Inc
    label: string
  }
  const cellsFor = (label: string): ChannelCells => ({
    duration: callbackDuration.bind({ channel: label }),
    outcomes: new Map(),
    duplicates: callbackDuplicates.bind({ channel: label }),
    failures: callbackFailures.bind({ channel: label }),
    label,
  })
  const channelCells = new Map<string, ChannelCells>()
  let unknownCells: ChannelCells | undefined
  /** A known channel's cells are kept (there are few); an unknown id shares one set and is not remembered. */
  const cellsOf = (channelId: string): ChannelCells => {
    const c = channelCells.get(channelId)
    if (c) return c
    if (!src.knownChannel(channelId)) return (unknownCells ??= cellsFor(UNKNOWN_CHANNEL))
    const made = cellsFor(channelId)
    channelCells.set(channelId, made)
    return made
  }
  const outcomeCell = (cells: ChannelCells, msgType: string, outcome: CallbackOutcome): Inc => {
    const type = MSG_TYPES.has(msgType) ? msgType : msgType === '' ? '' : 'other'
    let byOutcome = cells.outcomes.get(type)
    if (!byOutcome) cells.outcomes.set(type, (byOutcome = new Map()))
    let cell = byOutcome.get(outcome)
    if (!cell) byOutcome.set(outcome, (cell = callbacks.bind({ channel: cells.label, msg_type: type, outcome })))
    return cell
  }

  const routeCounters = new Map<string, (status: number) => void>()
  /** A counter for one route pattern and method, bound once; call it with each answer's status. */
  const httpCounter = (route: string, method: string): ((status: number) => void) => {
    const m = METHODS.has(method) ? method : 'other'
    const key = `${m} ${route}`
    let f = routeCounters.get(key)
    if (!f) {
      const byStatus = new Map<number, Inc>()
      f = (status) => {
        let cell = byStatus.get(status)
        if (!cell) byStatus.set(status, (cell = httpRequests.bind({ route, method: m, status: String(status) })))
        cell.inc()
      }
      routeCounters.set(key, f)
    }
    return f
  }

  return {
    contentType: METRICS_CONTENT_TYPE,
    httpCounter,
    /** One callback POST answered (or refused): its duration and outcome. msgType '' when not parsed. */
    callback: (channelId: string, seconds: number, msgType: string, outcome: CallbackOutcome): void => {
      const cells = cellsOf(channelId)
      cells.duration.observe(seconds)
      outcomeCell(cells, msgType, outcome).inc()
    },
    /** For the callback service (createDeps chains them with the caller's). */
    callbackEvents: {
      onDuplicate: (channelId: string) => cellsOf(channelId).duplicates.inc(),
      onHandlerFailure: (channelId: string) => cellsOf(channelId).failures.inc(),
    },
    messageResult: (channelId: string, status: MessageResult, errcode: number | null): void => {
      messages.inc({ channel: channelId, status, errcode: errcode === null ? '' : String(errcode) })
    },
    tokenRefresh: (channelId: string, mode: 'normal' | 'forced'): void => {
      tokenRefreshes.inc({ channel: channelId, mode })
    },
    /** One webhook POST's result and duration. */
    webhookResult: (endpointId: string, outcome: 'delivered' | 'retry' | 'failed', seconds: number): void => {
      webhookDeliveries.inc({ endpoint: endpointId, outcome })
      webhookDuration.observe({ endpoint: endpointId }, seconds)
    },
    webhookDisabled: (endpointId: string, reason: '410' | 'failing'): void => {
      webhookDisabled.inc({ endpoint: endpointId, reason })
    },
    /** A WeChat API call ended: `error` is undefined on success, else the errcode or the failure kind. */
    wechatCall: (endpoint: string, seconds: number, error: string | undefined): void => {
      apiDuration.observe({ endpoint }, seconds)
      if (error !== undefined) apiErrors.inc({ endpoint, errcode: error })
    },
    /** The text exposition (format 0.0.4), with the scrape-time gauges read first. */
    render: async (): Promise<string> => {
      // Read first (the database may answer asynchronously), then reset and set the gauges in one go, so
      // that two scrapes at once never interleave their resets and sets.
      const [outbox, webhookIds, webhooks, expiries] = await Promise.all([src.outboxDepth(), src.webhookEndpointIds?.() ?? [], src.webhookDepth?.() ?? [], src.tokenExpiries()])
      const now = src.now()
      const { registry, outboxDepth, outboxOldest, webhookDepth, webhookOldest, tokenExpiry, cpu, rss, heap } = await (built ??= build())
      outboxDepth.reset()
      outboxOldest.reset()
      for (const id of src.channelIds()) {
        outboxDepth.labels(id).set(0)
        outboxOldest.labels(id).set(0)
      }
      for (const r of outbox) {
        outboxDepth.labels(r.channelId).set(r.depth)
        outboxOldest.labels(r.channelId).set(r.oldestCreatedAt === null ? 0 : Math.max(0, (now - r.oldestCreatedAt) / 1000))
      }
      webhookDepth.reset()
      webhookOldest.reset()
      for (const id of webhookIds) {
        webhookDepth.labels(id).set(0)
        webhookOldest.labels(id).set(0)
      }
      for (const r of webhooks) {
        webhookDepth.labels(r.endpointId).set(r.depth)
        webhookOldest.labels(r.endpointId).set(r.oldestCreatedAt === null ? 0 : Math.max(0, (now - r.oldestCreatedAt) / 1000))
      }
      tokenExpiry.reset()
      for (const t of expiries) tokenExpiry.labels(t.channelId).set(t.expiresAt === null ? 0 : Math.max(0, (t.expiresAt - now) / 1000))
      const usage = process.cpuUsage()
      cpu.reset()
      cpu.inc((usage.user + usage.system) / 1e6)
      const mem = process.memoryUsage()
      rss.set(mem.rss)
      heap.set(mem.heapUsed)
      return registry.metrics()
    },
  }
}
export type Metrics = ReturnType<typeof createMetrics>
