/**
 * @module The SQLite schema (drizzle-orm). Migrations in `migrations/` are generated from this file by
 * drizzle-kit (`npm run db:generate`) and never edited after release.
 * Times are integer milliseconds since the epoch; the API renders them as ISO-8601.
 */
import { sql } from 'drizzle-orm'
import { index, integer, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

/** One WeChat Official Account. Secrets are stored as given: the database file is the trust boundary. */
export const channels = sqliteTable('channels', {
  id: text('id').primaryKey(),
  appId: text('app_id').notNull(),
  appSecret: text('app_secret').notNull(),
  token: text('token').notNull(),
  aesKey: text('aes_key'),
  /** JSON object of reply texts ({ bound?, alreadyUsed?, expired? }); null means the Chinese defaults. */
  replies: text('replies'),
  /** The account's display name (e.g. 某某科技服务号), shown on the bind page; null when not given. */
  name: text('name'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
})

/** API keys: only a SHA-256 of the key is stored; the key itself is shown once at creation. */
export const apiKeys = sqliteTable('api_keys', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  keyHash: text('key_hash').notNull(),
  /** The first characters of the key, so a person can tell keys apart in a list. */
  prefix: text('prefix').notNull(),
  /** Comma-separated scopes: send, bindcode, read, token, admin. */
  scopes: text('scopes').notNull(),
  createdAt: integer('created_at').notNull(),
  revokedAt: integer('revoked_at'),
  lastUsedAt: integer('last_used_at'),
}, (t) => [uniqueIndex('api_keys_hash_uq').on(t.keyHash)])

/**
 * Every inbound callback that passed the checks: its dedup key (unique per channel) and the reply
 * body of the first attempt, committed in the same transaction as the message's effects.
 */
export const inboundMessages = sqliteTable('inbound_messages', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  channelId: text('channel_id').notNull(),
  dedupKey: text('dedup_key').notNull(),
  msgType: text('msg_type').notNull(),
  event: text('event'),
  fromUser: text('from_user').notNull(),
  createTime: integer('create_time').notNull(),
  /** The plaintext XML as received (after decryption); pruned with the row after 72 h. */
  body: text('body').notNull(),
  /** The plaintext reply body: 'success' or passive-reply XML. */
  reply: text('reply').notNull(),
  /** Which dispatch rule handled it ('unhandled' when none matched). */
  handledBy: text('handled_by').notNull(),
  /**
   * A rule claimed it (HandlerContext.claim: its QR scene was one of our bind codes, the delivery report of
   * one of our messages), so its own event out is left out or shortened (inbound-events.ts callbackEventType).
   */
  claimed: integer('claimed', { mode: 'boolean' }).notNull().default(false),
  receivedAt: integer('received_at').notNull(),
}, (t) => [
  uniqueIndex('inbound_channel_dedup_uq').on(t.channelId, t.dedupKey),
  index('inbound_received_at_idx').on(t.receivedAt),
  // GET /api/inbound?openid=: one user's history, newest first.
  index('inbound_channel_from_idx').on(t.channelId, t.fromUser, t.id),
])


/**
 * The access token of each channel and the counters that keep wxgate inside WeChat's limits.
 * Counters are per Asia/Shanghai day (`day`), reset when the day changes.
 */
export const channelTokens = sqliteTable('channel_tokens', {
  channelId: text('channel_id').primaryKey().references(() => channels.id, { onDelete: 'cascade' }),
  accessToken: text('access_token'),
  expiresAt: integer('expires_at'),
  refreshedAt: integer('refreshed_at'),
  day: text('day').notNull(),
  refreshesToday: integer('refreshes_today').notNull().default(0),
  forceRefreshesToday: integer('force_refreshes_today').notNull().default(0),
  lastForceAt: integer('last_force_at'),
  /**
   * While set and in the future, stable_token's own daily quota is used up (45009): no token calls are
   * made. Quotas of the other APIs are in `apiQuotas`.
   */
  quotaUntil: integer('quota_until'),
  /**
   * JSON { "<api>": untilMs } (api like "message/template/send", "qrcode/create"): a 45009 from one WeChat
   * API stops the use of that API only, until 00:00 Asia/Shanghai or clear-quota. Null when none.
   */
  apiQuotas: text('api_quotas'),
  /** JSON { errcode, errmsg, hint?, at } of the last failed refresh; cleared by a successful one. */
  lastError: text('last_error'),
})

/**
 * One-time bind codes: the code is the scene of a temporary QR code. `pending` until one user's scan
 * consumes it with a conditional UPDATE (pending and unexpired → bound); `cancelled` by the API.
 * "Expired" is not stored: it is a pending code whose `expires_at` has passed.
 */
export const bindCodes = sqliteTable('bind_codes', {
  code: text('code').primaryKey(),
  channelId: text('channel_id').notNull().references(() => channels.id, { onDelete: 'cascade' }),
  subject: text('subject').notNull(),
  label: text('label'),
  /** pending | bound | cancelled */
  status: text('status').notNull(),
  qrTicket: text('qr_ticket').notNull(),
  qrUrl: text('qr_url').notNull(),
  createdAt: integer('created_at').notNull(),
  expiresAt: integer('expires_at').notNull(),
  openid: text('openid'),
  boundAt: integer('bound_at'),
}, (t) => [index('bind_codes_expires_at_idx').on(t.expiresAt)])

/**
 * Who is who: one OpenID of a channel belongs to at most one subject (the team's user id); a subject may
 * have several OpenIDs. `seq` orders the list and carries pagination; `id` is the opaque public id.
 */
export const bindings = sqliteTable('bindings', {
  seq: integer('seq').primaryKey({ autoIncrement: true }),
  id: text('id').notNull(),
  channelId: text('channel_id').notNull().references(() => channels.id, { onDelete: 'cascade' }),
  openid: text('openid').notNull(),
  subject: text('subject').notNull(),
  /** active | unsubscribed */
  status: text('status').notNull(),
  /** The code that made (or last moved) this binding. */
  code: text('code'),
  boundAt: integer('bound_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
}, (t) => [
  uniqueIndex('bindings_id_uq').on(t.id),
  uniqueIndex('bindings_channel_openid_uq').on(t.channelId, t.openid),
  index('bindings_channel_subject_idx').on(t.channelId, t.subject),
])

/**
 * One `POST /api/send` call: its idempotency key (unique per API key) with a hash of the body and the
 * answer given, so that a repeat within 24 h gets the same answer and stores nothing new.
 */
export const sendRequests = sqliteTable('send_requests', {
  id: text('id').primaryKey(),
  /** Who asked: the API key id ('admin' for WXGATE_ADMIN_TOKEN). Idempotency keys are scoped to it. */
  apiKeyId: text('api_key_id').notNull(),
  idempotencyKey: text('idempotency_key'),
  /** SHA-256 of the canonical request body. */
  bodyHash: text('body_hash').notNull(),
  /** The JSON answer of the first call (without live statuses). */
  answer: text('answer').notNull(),
  createdAt: integer('created_at').notNull(),
}, (t) => [
  uniqueIndex('send_requests_key_uq').on(t.apiKeyId, t.idempotencyKey),
  index('send_requests_created_at_idx').on(t.createdAt),
])

/**
 * The outbox: one row per recipient, written before `POST /api/send` answers (accepted means stored).
 * queued → sending → sent → delivered | failed; failed also straight from queued/sending. `seq` is the
 * order in which due messages are picked.
 */
export const messages = sqliteTable('messages', {
  seq: integer('seq').primaryKey({ autoIncrement: true }),
  id: text('id').notNull(),
  requestId: text('request_id').notNull(),
  channelId: text('channel_id').notNull().references(() => channels.id, { onDelete: 'cascade' }),
  openid: text('openid').notNull(),
  subject: text('subject'),
  /** The template ('' for a customer-service message: the column predates them, kept NOT NULL rather than rebuilding the table). */
  templateId: text('template_id').notNull(),
  /**
   * What is sent (SPEC §7): 'template' (message/template/send) or a customer-service msgtype (text, image,
   * voice, video, music, news, mpnews, msgmenu, miniprogrampage: message/custom/send).
   */
  type: text('type').notNull().default('template'),
  /**
   * JSON of the WeChat body without touser and client_msg_id: a template's { template_id, url?, miniprogram?,
   * data }, a customer-service message's { msgtype, <msgtype>: { … } }.
   */
  payload: text('payload').notNull(),
  /** A customer-service message's template to send instead when the user's window is closed: JSON { template_id, url?, miniprogram?, data }. */
  fallback: text('fallback'),
  /** 'template' when the fallback was sent instead of the customer-service message (the window was closed). */
  sentAs: text('sent_as'),
  /** queued | sending | sent | delivered | failed */
  status: text('status').notNull(),
  attempts: integer('attempts').notNull().default(0),
  errcode: integer('errcode'),
  error: text('error'),
  /** WeChat's msgid (64-bit, as text); TEMPLATESENDJOBFINISH carries it as MsgID. */
  wechatMsgId: text('wechat_msg_id'),
  /** When a queued message is due (ms). */
  nextAttemptAt: integer('next_attempt_at').notNull(),
  createdAt: integer('created_at').notNull(),
  sentAt: integer('sent_at'),
  finishedAt: integer('finished_at'),
  /** When the current (or last) WeChat call for the message started: set at each claim (ms). */
  lastCallAt: integer('last_call_at'),
  /**
   * When the first call whose answer was lost started (a timeout, a network error after sending, HTTP 5xx,
   * a crash or stop mid-call): it may have reached WeChat, whose client_msg_id dedup lasts 10 minutes
   * only. Null while every call got a clear answer. See outbox.ts, the 9-minute rule.
   */
  uncertainSince: integer('uncertain_since'),
  /**
   * While `sending`: the instance that claimed it (Deps.instanceId) and until when its claim holds (ms). On a
   * shared database (SPEC §8) a claim whose lease lapsed (its instance died) is taken over by another.
   */
  leaseOwner: text('lease_owner'),
  leaseUntil: integer('lease_until'),
}, (t) => [
  uniqueIndex('messages_id_uq').on(t.id),
  // Per (status, channel) depth and oldest row for /metrics (count and min(seq) from the index alone).
  index('messages_due_idx').on(t.status, t.channelId, t.seq),
  // The outbox's due scan: a channel's queued rows by due time, so that rows not yet due cost nothing
  // (the scan stops at the first row due later than now) and no sort is needed (ties in seq order).
  index('messages_queued_due_idx').on(t.channelId, t.nextAttemptAt, t.seq).where(sql`status = 'queued'`),
  // The same for customer-service messages only: while the template quota (45009) pauses templates, they
  // still go, and the scan never walks the paused templates' backlog to find them.
  index('messages_queued_custom_due_idx').on(t.channelId, t.nextAttemptAt, t.seq).where(sql`status = 'queued' AND type <> 'template'`),
  index('messages_wechat_msg_idx').on(t.channelId, t.wechatMsgId),
  index('messages_subject_idx').on(t.channelId, t.subject),
  index('messages_created_at_idx').on(t.createdAt),
  index('messages_request_idx').on(t.requestId),
  // A user's customer-service window (SPEC §7): the messages sent to one OpenID since the window opened.
  index('messages_openid_idx').on(t.channelId, t.openid, t.seq),
])

/** Every call made to WeChat for a message, for the record (what was tried, when, and what came back). */
export const messageAttempts = sqliteTable('message_attempts', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  messageId: text('message_id').notNull(),
  at: integer('at').notNull(),
  durationMs: integer('duration_ms').notNull(),
  /** ok | transient | token | quota | permanent */
  outcome: text('outcome').notNull(),
  errcode: integer('errcode'),
  error: text('error'),
}, (t) => [index('message_attempts_message_idx').on(t.messageId)])

/**
 * Webhook endpoints (SPEC §6): where events go. `events` is a JSON array of patterns (a type, `prefix.*`
 * or `*`); `channelId` null means every channel. During a secret rotation `previousSecret` still signs
 * until `previousSecretUntil` (24 h). `failingSince` is the start of the current run of failures (null
 * after a success): 5 days of it disable the endpoint with `disabledReason`.
 */
export const webhookEndpoints = sqliteTable('webhook_endpoints', {
  id: text('id').primaryKey(),
  url: text('url').notNull(),
  events: text('events').notNull(),
  channelId: text('channel_id').references(() => channels.id, { onDelete: 'cascade' }),
  description: text('description'),
  secret: text('secret').notNull(),
  previousSecret: text('previous_secret'),
  previousSecretUntil: integer('previous_secret_until'),
  disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
  disabledReason: text('disabled_reason'),
  failingSince: integer('failing_since'),
  /** A reply hook (SPEC §7): called before WeChat is answered, at most one per channel. */
  reply: integer('reply', { mode: 'boolean' }).notNull().default(false),
  /** A reply hook's answer that comes after the budget (within 30 s): 'send' as a customer-service message, or 'drop'. */
  lateReply: text('late_reply').notNull().default('send'),
  /**
   * The inbound feed (webhook-feed.ts): every inbound_messages row with an id up to this one has been dealt
   * with for this endpoint (delivered, or turned into a webhook_events row with a pending delivery). Set to
   * the newest inbound id when the endpoint is created or enabled again: no history is replayed.
   */
  feedCursor: integer('feed_cursor').notNull().default(0),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
})

/**
 * Events, one row per happening, written in the transaction of what caused it (a callback, an outbox
 * result, a token change). `body` is the JSON body exactly as it is sent ({ type, timestamp, data }), fixed
 * at creation so every attempt signs the same bytes. `id` is the `webhook-id`.
 */
export const webhookEvents = sqliteTable('webhook_events', {
  seq: integer('seq').primaryKey({ autoIncrement: true }),
  id: text('id').notNull(),
  type: text('type').notNull(),
  channelId: text('channel_id'),
  body: text('body').notNull(),
  createdAt: integer('created_at').notNull(),
}, (t) => [
  uniqueIndex('webhook_events_id_uq').on(t.id),
  index('webhook_events_created_at_idx').on(t.createdAt),
])

/**
 * The delivery queue (STYLE §15): one row per (event, endpoint), written with the event. pending →
 * delivering (claimed, with a lease) → delivered | failed, or back to pending with a later
 * `nextAttemptAt`. `attempts` counts the POSTs made.
 */
export const webhookDeliveries = sqliteTable('webhook_deliveries', {
  seq: integer('seq').primaryKey({ autoIncrement: true }),
  id: text('id').notNull(),
  eventId: text('event_id').notNull(),
  endpointId: text('endpoint_id').notNull().references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
  /** pending | delivering | delivered | failed */
  status: text('status').notNull(),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: integer('next_attempt_at').notNull(),
  /** While `delivering`: when the claim lapses (a crashed worker's rows are taken over after it). */
  leaseUntil: integer('lease_until'),
  /** While `delivering`: the instance that claimed it (Deps.instanceId); its result is recorded only while it still owns it. */
  leaseOwner: text('lease_owner'),
  lastStatusCode: integer('last_status_code'),
  lastError: text('last_error'),
  createdAt: integer('created_at').notNull(),
  deliveredAt: integer('delivered_at'),
  finishedAt: integer('finished_at'),
}, (t) => [
  uniqueIndex('webhook_deliveries_id_uq').on(t.id),
  // The worker's due scan, one endpoint at a time (the in-flight limit is per endpoint): a dead endpoint's
  // backlog is never walked to reach another endpoint's rows.
  index('webhook_deliveries_endpoint_due_idx').on(t.endpointId, t.nextAttemptAt, t.seq).where(sql`status = 'pending'`),
  index('webhook_deliveries_endpoint_idx').on(t.endpointId, t.seq),
  index('webhook_deliveries_event_idx').on(t.eventId),
  index('webhook_deliveries_finished_at_idx').on(t.finishedAt),
])

/**
 * Temporary media uploaded through POST /api/media (SPEC §7): the same file (by content hash) of the same
 * type on the same channel reuses its media id while it has more than an hour left (WeChat keeps it 3 days).
 */
export const mediaUploads = sqliteTable('media_uploads', {
  channelId: text('channel_id').notNull().references(() => channels.id, { onDelete: 'cascade' }),
  /** image | voice | video | thumb */
  type: text('type').notNull(),
  /** SHA-256 of the file, hex. */
  sha256: text('sha256').notNull(),
  mediaId: text('media_id').notNull(),
  bytes: integer('bytes').notNull(),
  createdAt: integer('created_at').notNull(),
  expiresAt: integer('expires_at').notNull(),
}, (t) => [
  uniqueIndex('media_uploads_uq').on(t.channelId, t.type, t.sha256),
  index('media_uploads_expires_idx').on(t.expiresAt),
])

/**
 * Named leases shared by the instances of one database (SPEC §8): `token:<channel>` (one stable_token flight
 * for all instances), `feed:<endpoint>` (one instance reads an endpoint's webhook feed). A lease is held by
 * `owner` until `until` (ms); a lapsed one may be taken by anyone.
 */
export const leases = sqliteTable('leases', {
  name: text('name').primaryKey(),
  owner: text('owner').notNull(),
  until: integer('until').notNull(),
})

/**
 * Token buckets shared by the instances (SPEC §8): `send:<channel>` holds the channel's send rate for all
 * instances together. `tokens` is what was left at `refilledAt` (ms).
 */
export const rateBuckets = sqliteTable('rate_buckets', {
  name: text('name').primaryKey(),
  tokens: real('tokens').notNull(),
  refilledAt: integer('refilled_at').notNull(),
})

/**
 * Console sessions (SPEC §9): the HttpOnly cookie carries a random token, the row only its SHA-256 (`id`, hex),
 * so a copy of the database opens no session. In the database, not in memory: several instances share one
 * (SPEC §8), and a sign-out or a revocation on one is in force on all. `keyId` is the API key the session was
 * opened with (`admin-token:<12 hex>` for WXGATE_ADMIN_TOKEN, which has no api_keys row: hence no foreign key);
 * its revocation deletes its sessions (key_id index). A session idle 12 h ends: `lastSeenAt` (ms) is
 * moved by each use, and the prune walks its index. `csrf`: the session's CSRF token, sent back with each change.
 */
export const consoleSessions = sqliteTable('console_sessions', {
  id: text('id').primaryKey(),
  keyId: text('key_id').notNull(),
  csrf: text('csrf').notNull(),
  createdAt: integer('created_at').notNull(),
  lastSeenAt: integer('last_seen_at').notNull(),
}, (t) => [
  index('console_sessions_last_seen_idx').on(t.lastSeenAt),
  index('console_sessions_key_idx').on(t.keyId),
])
