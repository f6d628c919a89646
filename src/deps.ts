/**
 * @module Composition root: builds the database, clock, random source, logger and services from the
 * settings. Tests pass overrides (a fixed clock, extra dispatch rules, a memory logger).
 */
import type { Config } from './config'
import { createApiKeyService } from './domain/apikey.service'
import { createCallbackService, type CallbackEvents } from './domain/callback.service'
import { createBindService, type SimulateScan } from './domain/bind.service'
import { createChannelService } from './domain/channel.service'
import { createConsoleSessionService } from './domain/console-session.service'
import { createDispatcher, type Rule } from './domain/dispatch'
import { createEventsService } from './domain/events.service'
import { createInboundService } from './domain/inbound.service'
import { createMediaService } from './domain/media.service'
import { bindRules } from './domain/handlers/bind.rules'
import { deliveryRules } from './domain/handlers/delivery.rules'
import { createOutbox } from './domain/outbox'
import { createSendService } from './domain/send.service'
import { createTemplatesService } from './domain/templates.service'
import { createTokenService } from './domain/token.service'
import type { CustomerMessage } from './domain/customer-message'
import { createReplyHook } from './domain/reply-hook'
import { createUsersService } from './domain/users.service'
import { createWebhookWorker, type WebhookWorker } from './domain/webhook-worker'
import { createWebhooksService } from './domain/webhooks.service'
import { systemClock, type Clock } from './lib/clock'
import { createLogger, type Logger } from './lib/log'
import { systemRandom, type Random } from './lib/random'
import { createScheduler } from './lib/scheduler'
import type { Db } from './store/contract'
import { isPostgresUrl, openStore } from './store/open'
import { postgresSecrets } from './store/postgres/errors'
import { openDb, type SqliteDb } from './store/sqlite/db'
import { migrate } from './store/sqlite/migrate'
import { createWeChatClient, type FetchLike } from './wechat-api/client'
import { createMetrics, type WebhookDepth } from './metrics'
import { createRateWindow } from './lib/rate-window'
import { VERSION } from './version'

export interface DepsOverrides {
  clock?: Clock
  random?: Random
  log?: Logger
  /** The database, opened by the caller (a SQLite one is migrated here unless `migrated`; PostgreSQL by the caller, under its lock). */
  db?: Db
  /** The caller applied the migrations already (openDeps: openStore did): they are not checked a second time. */
  migrated?: boolean
  /** Dispatch rules in order (specific first); later features append theirs here. */
  rules?: Rule[]
  callbackDeadlineMs?: number
  callbackEvents?: CallbackEvents
  /** The fetch the WeChat client uses (tests: the default, against the sandbox on loopback). */
  fetch?: FetchLike
  wechatTimeoutMs?: number
  /** The fetch the webhook worker POSTs with (default: the global fetch). */
  webhookFetch?: typeof fetch
  webhookTimeoutMs?: number
  /** Tests: say when callbacks are in a burst (default: more than BURST_CALLBACKS_PER_SECOND of them). */
  webhookBusy?: () => boolean
  /** This instance's id among those of one database (default: random; tests with a fixed Random give each instance its own). */
  instanceId?: string
  /** Demo only: the bind page gets a "simulate scan" button that calls this (the sandbox sends the scan). */
  simulateScan?: SimulateScan
}

export const createDeps = (config: Config, o: DepsOverrides = {}) => {
  const clock = o.clock ?? systemClock
  const random = o.random ?? systemRandom
  const log = o.log ?? createLogger({ level: config.WXGATE_LOG_LEVEL })
  for (const s of [config.WXGATE_ADMIN_TOKEN, config.WXGATE_APPSECRET, config.WXGATE_TOKEN, config.WXGATE_AES_KEY, config.WXGATE_WEBHOOK_SECRET]) log.addSecret(s)

  if (isPostgresUrl(config.WXGATE_DB)) for (const s of postgresSecrets(config.WXGATE_DB)) log.addSecret(s)
  if (!o.db && isPostgresUrl(config.WXGATE_DB)) throw new Error('WXGATE_DB is a PostgreSQL URL: open it with openDeps (it connects and migrates first)')
  const db: Db = o.db ?? openDb(config.WXGATE_DB)
  if (db.kind === 'sqlite' && !o.migrated) migrate((db as SqliteDb).sqlite, undefined, clock.now())
  const read = db.read
  /**
   * This process among the instances of one database (SPEC §8): the owner of its leases and claims (token
   * flights, outbox messages, webhook deliveries and feeds). New at each start: a restarted instance's
   * earlier claims lapse like a dead one's.
   */
  const instanceId = o.instanceId ?? config.WXGATE_INSTANCE ?? `i_${Buffer.from(random.bytes(6)).toString('hex')}`

  const channels = createChannelService({ db, clock, log, allowEmptyToken: config.WXGATE_ALLOW_EMPTY_TOKEN })
  const channelIds = () => channels.list().map((c) => c.id)
  // Webhook deliveries not finished, per endpoint (the metrics' gauges, the console): pending rows from the
  // database, the ones in flight from the worker (they are `delivering` there), and each active endpoint's feed
  // backlog (the inbound rows after its cursor, webhook-feed.ts).
  const webhookDepth = async (): Promise<WebhookDepth[]> => {
    const by = new Map((await read.webhooks.pendingDepth()).map((r) => [r.endpointId, { ...r }]))
    const feedLag = await Promise.all((await read.webhooks.activeEndpoints()).filter((e) => !e.reply).map(async (e) => {
      const lag = await read.inbound.lagAfter(e.feedCursor)
      return { endpointId: e.id, depth: lag.depth, oldestCreatedAt: lag.oldestReceivedAt }
    }))
    for (const f of [...webhookWorker.inFlight(), ...feedLag]) {
      const e = by.get(f.endpointId)
      if (!e) by.set(f.endpointId, f)
      else { e.depth += f.depth; e.oldestCreatedAt = e.oldestCreatedAt === null ? f.oldestCreatedAt : Math.min(e.oldestCreatedAt, f.oldestCreatedAt ?? Infinity) }
    }
    return [...by.values()]
  }
  // One registry per instance (tests run several servers in one process). Gauges read the database when scraped.
  const metrics = createMetrics({
    version: VERSION,
    knownChannel: (id) => channels.get(id) !== undefined,
    channelIds,
    outboxDepth: () => read.messages.outboxDepth(),
    tokenExpiries: () => read.tokens.expiries(),
    webhookEndpointIds: async () => (await read.webhooks.allEndpoints()).map((e) => e.id),
    webhookDepth: () => webhookDepth(),
    now: () => clock.now(),
  })
  const apiKeys = createApiKeyService({ db, clock, random, adminToken: config.WXGATE_ADMIN_TOKEN })
  const consoleSessions = createConsoleSessionService({ db, clock, random, apiKeys })
  // Events out (SPEC §6): written inside the transactions of what causes them, delivered after the commit.
  const events = createEventsService({ db, clock, random })
  const webhooks = createWebhooksService({ db, clock, random, log, events, channelExists: (id) => channels.get(id) !== undefined })
  const webhookWorker: WebhookWorker = createWebhookWorker({
    db, clock, random, log, events, instanceId,
    userAgent: `wxgate/${VERSION}`,
    fetch: o.webhookFetch,
    timeoutMs: o.webhookTimeoutMs,
    onResult: metrics.webhookResult,
    onDisabled: metrics.webhookDisabled,
    // Inside the result's transaction: a failed reload leaves the cache stale, read again at its next use.
    invalidateEndpoints: () => { void events.invalidate().catch(() => undefined) },
    onFeed: (kick) => { feedKick = kick },
    // Callbacks first: a burst of WeChat callbacks (far more than a small team's account ever gets).
    busy: o.webhookBusy ?? (() => callbackRate.above(BURST_CALLBACKS_PER_SECOND)),
  })
  let feedKick = (): void => undefined
  const callbackRate = createRateWindow(clock)
  const replyHook = createReplyHook({ clock, userAgent: `wxgate/${VERSION}`, fetch: o.webhookFetch })
  // Wired to the send service below (created after the callbacks).
  let lateReplySend: (channel: string, openid: string, message: { type: string; [k: string]: unknown }) => Promise<unknown> =
    () => Promise.reject(new Error('customer-service messages are not available yet'))
  // Built-in rules first (they pass what is not theirs), then the caller's.
  const dispatcher = createDispatcher([...bindRules({ random }), ...deliveryRules(), ...(o.rules ?? [])])
  const callbacks = createCallbackService({
    db, clock, random, log, channels, dispatcher,
    maxAgeSeconds: config.WXGATE_CALLBACK_MAX_AGE,
    allowEmptyToken: config.WXGATE_ALLOW_EMPTY_TOKEN,
    deadlineMs: o.callbackDeadlineMs,
    eventsOut: events,
    replyHooks: { hookFor: events.replyHookFor, call: replyHook.call },
    replyTimeoutMs: config.WXGATE_REPLY_TIMEOUT_MS,
    // The customer-service send (SPEC §7) carries a reply hook's late answer to the user.
    lateReply: (channel, openid, message) => lateReplySend(channel, openid, message),
    feedFloor: () => read.webhooks.feedFloor(),
    retentionMs: config.WXGATE_INBOUND_RETENTION_DAYS * 86_400_000,
    events: {
      onDuplicate: (id) => { metrics.callbackEvents.onDuplicate(id); o.callbackEvents?.onDuplicate?.(id) },
      onHandlerFailure: (id) => { metrics.callbackEvents.onHandlerFailure(id); o.callbackEvents?.onHandlerFailure?.(id) },
      // A committed inbound row is an event for the webhook feed.
      onHandled: (id, m) => { callbackRate.hit(); feedKick(); o.callbackEvents?.onHandled?.(id, m) },
    },
  })
  const scheduler = createScheduler(log.child({ module: 'scheduler' }))
  const wechat = createWeChatClient({ baseUrl: config.WXGATE_WECHAT_API, fetch: o.fetch, timeoutMs: o.wechatTimeoutMs, log, onCall: metrics.wechatCall })
  const tokens = createTokenService({ db, clock, random, log, instanceId, client: wechat, channels, onRefresh: metrics.tokenRefresh, events })
  const bind = createBindService({
    db, clock, random, log, channels, tokens, wechat,
    defaultChannel: config.WXGATE_CHANNEL,
    qrImageBase: qrImageBaseFor(config.WXGATE_WECHAT_API),
    defaultTtlSeconds: config.WXGATE_BIND_TTL,
    events,
  })

  // The customer-service window (SPEC §7): GET /api/users/:openid, and the outbox's check before a fallback.
  const users = createUsersService({ db, clock, channels, defaultChannel: config.WXGATE_CHANNEL })
  const outbox = createOutbox({
    db, clock, random, log, tokens, wechat, instanceId,
    window: users.windowOf,
    channelIds,
    options: { ratePerSecond: config.WXGATE_SEND_RATE, concurrency: config.WXGATE_SEND_CONCURRENCY, maxAgeMs: config.WXGATE_SEND_MAX_AGE * 1000 },
    onResult: metrics.messageResult,
    events,
  })
  const inbound = createInboundService({ db, clock })
  const media = createMediaService({ db, clock, log, channels, tokens, wechat, defaultChannel: config.WXGATE_CHANNEL })
  const templates = createTemplatesService({ clock, log, channels, tokens, wechat })
  const send = createSendService({ db, clock, random, log, channels, outbox, templates, defaultChannel: config.WXGATE_CHANNEL, retentionMs: config.WXGATE_MESSAGE_RETENTION_DAYS * 86_400_000, events, inbound })
  // A reply hook's late answer (SPEC §7) goes through the outbox as a customer-service message.
  lateReplySend = (channel, openid, message) => send.sendCustomer({ channel, openid, message: message as CustomerMessage })

  /**
   * The caches read before anything is served (channels, endpoints, stored tokens): await before serving.
   * Loading the channels registers their secrets with the logger (and each later reload those of channels
   * the CLI added or changed), so stored channels are masked too, not only those given in the environment.
   * On SQLite the store answers at once, so the channels are loaded before createDeps returns.
   */
  const ready = (async () => {
    await channels.load()
    await events.load()
    await tokens.load()
  })()
  ready.catch(() => undefined)

  return { ready, config, clock, random, log, db, instanceId, metrics, webhookDepth, channels, apiKeys, consoleSessions, events, webhooks, webhookWorker, dispatcher, callbacks, scheduler, wechat, tokens, bind, outbox, templates, send, inbound, users, media, simulateScan: o.simulateScan }
}
export type Deps = ReturnType<typeof createDeps>

/**
 * createDeps on the store WXGATE_DB names, opened and migrated first (openStore: SQLite or PostgreSQL), with
 * its caches loaded (deps.ready). What every command and the server start from.
 */
export const openDeps = async (config: Config, o: DepsOverrides = {}): Promise<Deps> => {
  const log = o.log ?? createLogger({ level: config.WXGATE_LOG_LEVEL })
  const { db, applied } = o.db ? { db: o.db, applied: [] } : await openStore(config.WXGATE_DB, { log, now: (o.clock ?? systemClock).now() })
  // Of instances started together on an empty database, one applies the migrations (under the lock) and says so.
  if (applied.length) log.info('migrations applied', { migrations: applied })
  const deps = createDeps(config, { ...o, log, db, migrated: o.migrated ?? !o.db })
  try {
    await deps.ready
  } catch (e) {
    await db.close().catch(() => undefined)
    throw e
  }
  return deps
}

/**
 * Where QR images are shown: WeChat serves showqrcode on mp.weixin.qq.com, not on the API host. With any
 * other API base (the sandbox, or a forward proxy) the same base is used: the sandbox serves showqrcode.
 */
/**
 * Callbacks per second above which the webhook worker yields to them (webhook-worker.ts BUSY_RATE): a small
 * team's account gets a few per second at its busiest; a burst that saturates the gateway, thousands.
 */
export const BURST_CALLBACKS_PER_SECOND = 1000

export const qrImageBaseFor = (apiBase: string): string =>
  new URL(apiBase).hostname === 'api.weixin.qq.com' ? 'https://mp.weixin.qq.com' : apiBase

/** Upserts the channel the environment defines (WXGATE_CHANNEL + WXGATE_APPID/APPSECRET/TOKEN/AES_KEY/CHANNEL_NAME). */
export const upsertEnvChannel = async (deps: Deps): Promise<void> => {
  const c = deps.config
  if (!c.WXGATE_APPID || !c.WXGATE_APPSECRET) return
  // Without WXGATE_CHANNEL_NAME the stored name (set through the API or the CLI) is kept.
  await deps.channels.upsert({ id: c.WXGATE_CHANNEL, appId: c.WXGATE_APPID, appSecret: c.WXGATE_APPSECRET, token: c.WXGATE_TOKEN ?? '', aesKey: c.WXGATE_AES_KEY ?? null, ...(c.WXGATE_CHANNEL_NAME ? { name: c.WXGATE_CHANNEL_NAME } : {}) })
}
