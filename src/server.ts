/**
 * @module Starts the HTTP server on the configured address with the background jobs, and stops it
 * gracefully: stop accepting, let requests and open transactions finish, close the database.
 */
import type { ApiHandler } from './app'
import { upsertEnvChannel, type Deps } from './deps'
import { MEDIA_BODY_LIMIT } from './domain/media.service'
import { callbackHandlers } from './http/callback.handlers'
import { clientOf, type PeerSource } from './http/client-ip'
import { createRequestObserver } from './http/observe'
import { shownDb } from './store/open'
import { VERSION } from './version'

/** How long requests and WeChat calls in flight get to finish on stop before the calls are aborted. */
const STOP_GRACE_MS = 3000
/** After the abort: for the outbox to record, then for connections to close (then they are closed). */
const STOP_ABORT_MS = 1500

export interface RunningServer {
  url: string
  port: number
  stop(): Promise<void>
}

export const startServer = async (deps: Deps, opts: { hostname?: string; port?: number } = {}): Promise<RunningServer> => {
  await deps.ready
  await upsertEnvChannel(deps)
  // WXGATE_WEBHOOK_URL + WXGATE_WEBHOOK_SECRET: one endpoint for every event (config.ts requires both).
  if (deps.config.WXGATE_WEBHOOK_URL && deps.config.WXGATE_WEBHOOK_SECRET) await deps.webhooks.upsertEnv(deps.config.WXGATE_WEBHOOK_URL, deps.config.WXGATE_WEBHOOK_SECRET)
  // Dedup rows are kept 72 h (WeChat retries within seconds; the margin covers clock trouble).
  deps.scheduler.every('prune-inbound', 3600_000, () => deps.callbacks.prune(), { runNow: true })
  deps.scheduler.every('prune-bindcodes', 3600_000, () => deps.bind.prune(), { runNow: true })
  // Tokens are refreshed in their last 300 s; a 10 s pass is fine-grained enough for that window.
  deps.scheduler.every('refresh-tokens', 10_000, () => deps.tokens.tick(), { runNow: true })
  // Finished messages are kept WXGATE_MESSAGE_RETENTION_DAYS; idempotency keys 24 h.
  deps.scheduler.every('prune-messages', 3600_000, () => deps.send.prune(), { runNow: true })
  // Delivered and failed webhook deliveries (and their events) are kept 7 days.
  deps.scheduler.every('prune-webhooks', 3600_000, () => deps.webhookWorker.prune(), { runNow: true })
  // Console sessions idle for 12 h (each also ends at its next request once idle that long).
  deps.scheduler.every('prune-console-sessions', 3600_000, () => deps.consoleSessions.prune(), { runNow: true })
  // Upload rows whose media id WeChat has forgotten (3 days).
  deps.scheduler.every('prune-media', 3600_000, () => deps.media.prune(), { runNow: true })
  const hostname = opts.hostname ?? deps.config.WXGATE_HOST
  const port = opts.port ?? deps.config.WXGATE_PORT
  // WeChat's callbacks and the health probes are served by Bun's native router, straight to handlers
  // without a framework: WeChat's path is the hot one, and skipping the framework's per-request work roughly
  // halves its cost. Everything else goes to the Elysia app (which also mounts and documents the same routes),
  // built on the first request that needs it: a start serves WeChat without building the API, its OpenAPI
  // and its pages first (~25 ms and several MB of a start; bench/startup). Requests that arrive meanwhile wait.
  // Both are counted (wxgate_http_requests_total) and logged by the observer, with the real client address.
  const client = clientOf(deps.config.WXGATE_TRUST_PROXY)
  const cb = callbackHandlers({ callbacks: deps.callbacks, defaultChannel: deps.config.WXGATE_CHANNEL, log: deps.log, now: deps.clock.now, metrics: deps.metrics, clientOf: client })
  let api: Promise<ApiHandler> | undefined
  let apiRoutes: ApiHandler['routes'] | undefined
  const loadApi = (): Promise<ApiHandler> => (api ??= import('./app').then(({ createApiHandler }) => {
    const handler = createApiHandler(deps)
    apiRoutes = handler.routes
    return handler
  }, (e: unknown) => {
    api = undefined // tried again by the next request
    deps.log.error('the API could not be loaded', { error: e })
    throw e
  }))
  const observer = createRequestObserver({ metrics: deps.metrics, log: deps.log, clientOf: client, routes: () => apiRoutes })
  type NativeRequest = Request & { params?: { channelId?: string } }
  const native = (route: string, method: string, handle: (request: NativeRequest, server: PeerSource) => Promise<Response>) => {
    const observed = observer.bound(route, method)
    return (request: NativeRequest, server: PeerSource) => {
      const started = performance.now()
      return handle(request, server).then((res) => observed(res, request, server, started))
    }
  }
  const callbacks = (route: string) => ({
    GET: native(route, 'GET', (request, server) => cb.get({ params: request.params, request, server })),
    POST: native(route, 'POST', (request, server) => cb.post({ params: request.params, request, server })),
  })
  // The same answers as health.routes.ts gives in the app (its OpenAPI documents them).
  const health = {
    '/healthz': { GET: native('/healthz', 'GET', async () => Response.json({ status: 'ok' })) },
    '/readyz': {
      GET: native('/readyz', 'GET', async () => ((await deps.db.ping()) ? Response.json({ status: 'ok' }) : Response.json({ status: 'unavailable' }, { status: 503 }))),
    },
  }
  const server = Bun.serve({
    hostname,
    port,
    // A hard stop for bodies without a declared length; declared ones are judged by their own limits
    // first (64 KiB for callbacks, API_BODY_LIMIT for the API, MEDIA_BODY_LIMIT for POST /api/media) and
    // answered in their own shape. A media upload streams through its own counting reader (media.routes.ts).
    maxRequestBodySize: Math.max(8 * 1024 * 1024, MEDIA_BODY_LIMIT),
    routes: { '/wechat': callbacks('/wechat'), '/wechat/:channelId': callbacks('/wechat/:channelId'), ...health },
    fetch: (request, server) => observer.around(request, server, async (r) => (await loadApi()).fetch(r)),
  })
  const url = `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${server.port}`
  // Said as soon as the port answers (a health check that sees it up finds this line in the journal).
  deps.log.info('wxgate listening', { url, version: VERSION, db: shownDb(deps.config.WXGATE_DB), instance: deps.instanceId })
  // Once the port is ours (a second process on the same port, e.g. one started by mistake with the same
  // WXGATE_INSTANCE, fails above and takes back no claim of the running one):
  // the outbox resumes what was accepted and not finished (and what a crash caught mid-call) at once;
  try {
    await deps.outbox.start()
    // webhook deliveries a crash or stop caught mid-POST are pending again, then sent with the same webhook-id.
    await deps.webhookWorker.start()
  } catch (e) {
    await server.stop(true)
    throw e
  }

  let stopping: Promise<void> | undefined
  /**
   * Stop within 10 s however WeChat behaves: stop accepting; give requests and WeChat calls in flight a
   * grace to finish (waiting ?wait=true requests are answered at once with their current statuses); then
   * abort the WeChat calls still open (sends, token refreshes, an /access-token waiting on one): their
   * messages resume at the next start under the 9-minute rule; then close what connections remain.
   */
  const stop = () => (stopping ??= (async () => {
    deps.log.info('shutting down: finishing requests in flight')
    deps.scheduler.stop()
    const closing = server.stop(false).then(() => true)
    // Webhook POSTs in flight are aborted at once: they are sent again at the next start (same webhook-id).
    const webhooksStopped = deps.webhookWorker.stop()
    const drained = Promise.all([deps.outbox.stop(), webhooksStopped]).then(() => true)
    const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, Bun.sleep(ms).then(() => false as const)])
    if (!(await within(Promise.all([closing, drained]), STOP_GRACE_MS))) {
      deps.log.warn('WeChat calls still open after the grace: aborting them', { graceMs: STOP_GRACE_MS })
      deps.wechat.abortAll()
      await within(drained, STOP_ABORT_MS)
      if (!(await within(closing, STOP_ABORT_MS))) await server.stop(true)
    }
    // Wait for the write queue to drain: every accepted callback commits or rolls back.
    await deps.db.tx(() => undefined).catch(() => undefined)
    await deps.db.close()
    deps.log.info('stopped')
  })())
  return { url, port: server.port ?? port, stop }
}

/**
 * SIGTERM/SIGINT: graceful stop, exit 0; a hard exit after 10 s if something hangs. Given the server while it
 * starts (the Promise of startServer): the port answers before the workers have started, and a signal in that
 * moment stops it gracefully too (once it has started) instead of killing the process.
 */
export const exitOnSignals = (server: RunningServer | Promise<RunningServer>) => {
  const onSignal = (sig: string) => {
    const hard = setTimeout(() => process.exit(1), 9_500)
    hard.unref?.()
    void Promise.resolve(server).then((s) => s.stop()).then(() => process.exit(0), () => process.exit(1))
    void sig
  }
  process.once('SIGTERM', () => onSignal('SIGTERM'))
  process.once('SIGINT', () => onSignal('SIGINT'))
}
