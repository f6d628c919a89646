/**
 * @module The PostgreSQL schema (issue 14, SPEC §8): the same tables, columns, indexes and uniqueness as the
 * SQLite schema (src/store/sqlite/schema.ts, where each column is explained), in PostgreSQL's types: times in
 * milliseconds are bigint (JavaScript numbers), flags boolean, row sequences bigserial. The parity test
 * (test/store/schema-parity.test.ts) fails when the two disagree; migrations: migrations-pg/ (`npm run
 * db:generate:pg`). Two files because drizzle has no dialect-agnostic schema (PROTOCOL §9.6). The repositories
 * over it: *.repo.ts here (store.ts).
 */
import { sql } from 'drizzle-orm'
import { bigint, bigserial, boolean, doublePrecision, index, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core'

export const channels = pgTable('channels', {
  id: text('id').primaryKey(),
  appId: text('app_id').notNull(),
  appSecret: text('app_secret').notNull(),
  token: text('token').notNull(),
  aesKey: text('aes_key'),
  replies: text('replies'),
  name: text('name'),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
})

export const apiKeys = pgTable('api_keys', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  keyHash: text('key_hash').notNull(),
  prefix: text('prefix').notNull(),
  scopes: text('scopes').notNull(),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  revokedAt: bigint('revoked_at', { mode: 'number' }),
  lastUsedAt: bigint('last_used_at', { mode: 'number' }),
}, (t) => [uniqueIndex('api_keys_hash_uq').on(t.keyHash)])

export const inboundMessages = pgTable('inbound_messages', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  channelId: text('channel_id').notNull(),
  dedupKey: text('dedup_key').notNull(),
  msgType: text('msg_type').notNull(),
  event: text('event'),
  fromUser: text('from_user').notNull(),
  createTime: bigint('create_time', { mode: 'number' }).notNull(),
  body: text('body').notNull(),
  reply: text('reply').notNull(),
  handledBy: text('handled_by').notNull(),
  claimed: boolean('claimed').notNull().default(false),
  receivedAt: bigint('received_at', { mode: 'number' }).notNull(),
}, (t) => [
  uniqueIndex('inbound_channel_dedup_uq').on(t.channelId, t.dedupKey),
  index('inbound_received_at_idx').on(t.receivedAt),
  index('inbound_channel_from_idx').on(t.channelId, t.fromUser, t.id),
])

export const channelTokens = pgTable('channel_tokens', {
  channelId: text('channel_id').primaryKey().references(() => channels.id, { onDelete: 'cascade' }),
  accessToken: text('access_token'),
  expiresAt: bigint('expires_at', { mode: 'number' }),
  refreshedAt: bigint('refreshed_at', { mode: 'number' }),
  day: text('day').notNull(),
  refreshesToday: bigint('refreshes_today', { mode: 'number' }).notNull().default(0),
  forceRefreshesToday: bigint('force_refreshes_today', { mode: 'number' }).notNull().default(0),
  lastForceAt: bigint('last_force_at', { mode: 'number' }),
  quotaUntil: bigint('quota_until', { mode: 'number' }),
  apiQuotas: text('api_quotas'),
  lastError: text('last_error'),
})

export const bindCodes = pgTable('bind_codes', {
  code: text('code').primaryKey(),
  channelId: text('channel_id').notNull().references(() => channels.id, { onDelete: 'cascade' }),
  subject: text('subject').notNull(),
  label: text('label'),
  status: text('status').notNull(),
  qrTicket: text('qr_ticket').notNull(),
  qrUrl: text('qr_url').notNull(),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  expiresAt: bigint('expires_at', { mode: 'number' }).notNull(),
  openid: text('openid'),
  boundAt: bigint('bound_at', { mode: 'number' }),
}, (t) => [index('bind_codes_expires_at_idx').on(t.expiresAt)])

export const bindings = pgTable('bindings', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  id: text('id').notNull(),
  channelId: text('channel_id').notNull().references(() => channels.id, { onDelete: 'cascade' }),
  openid: text('openid').notNull(),
  subject: text('subject').notNull(),
  status: text('status').notNull(),
  code: text('code'),
  boundAt: bigint('bound_at', { mode: 'number' }).notNull(),
  updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
}, (t) => [
  uniqueIndex('bindings_id_uq').on(t.id),
  uniqueIndex('bindings_channel_openid_uq').on(t.channelId, t.openid),
  index('bindings_channel_subject_idx').on(t.channelId, t.subject),
])

export const sendRequests = pgTable('send_requests', {
  id: text('id').primaryKey(),
  apiKeyId: text('api_key_id').notNull(),
  idempotencyKey: text('idempotency_key'),
  bodyHash: text('body_hash').notNull(),
  answer: text('answer').notNull(),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
}, (t) => [
  uniqueIndex('send_requests_key_uq').on(t.apiKeyId, t.idempotencyKey),
  index('send_requests_created_at_idx').on(t.createdAt),
])

export const messages = pgTable('messages', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  id: text('id').notNull(),
  requestId: text('request_id').notNull(),
  channelId: text('channel_id').notNull().references(() => channels.id, { onDelete: 'cascade' }),
  openid: text('openid').notNull(),
  subject: text('subject'),
  templateId: text('template_id').notNull(),
  type: text('type').notNull().default('template'),
  payload: text('payload').notNull(),
  fallback: text('fallback'),
  sentAs: text('sent_as'),
  status: text('status').notNull(),
  attempts: bigint('attempts', { mode: 'number' }).notNull().default(0),
  errcode: bigint('errcode', { mode: 'number' }),
  error: text('error'),
  wechatMsgId: text('wechat_msg_id'),
  nextAttemptAt: bigint('next_attempt_at', { mode: 'number' }).notNull(),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  sentAt: bigint('sent_at', { mode: 'number' }),
  finishedAt: bigint('finished_at', { mode: 'number' }),
  lastCallAt: bigint('last_call_at', { mode: 'number' }),
  uncertainSince: bigint('uncertain_since', { mode: 'number' }),
  leaseOwner: text('lease_owner'),
  leaseUntil: bigint('lease_until', { mode: 'number' }),
}, (t) => [
  uniqueIndex('messages_id_uq').on(t.id),
  index('messages_due_idx').on(t.status, t.channelId, t.seq),
  index('messages_queued_due_idx').on(t.channelId, t.nextAttemptAt, t.seq).where(sql`status = 'queued'`),
  index('messages_queued_custom_due_idx').on(t.channelId, t.nextAttemptAt, t.seq).where(sql`status = 'queued' AND type <> 'template'`),
  index('messages_wechat_msg_idx').on(t.channelId, t.wechatMsgId),
  index('messages_subject_idx').on(t.channelId, t.subject),
  index('messages_created_at_idx').on(t.createdAt),
  index('messages_request_idx').on(t.requestId),
  index('messages_openid_idx').on(t.channelId, t.openid, t.seq),
])

export const messageAttempts = pgTable('message_attempts', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  messageId: text('message_id').notNull(),
  at: bigint('at', { mode: 'number' }).notNull(),
  durationMs: bigint('duration_ms', { mode: 'number' }).notNull(),
  outcome: text('outcome').notNull(),
  errcode: bigint('errcode', { mode: 'number' }),
  error: text('error'),
}, (t) => [index('message_attempts_message_idx').on(t.messageId)])

export const webhookEndpoints = pgTable('webhook_endpoints', {
  id: text('id').primaryKey(),
  url: text('url').notNull(),
  events: text('events').notNull(),
  channelId: text('channel_id').references(() => channels.id, { onDelete: 'cascade' }),
  description: text('description'),
  secret: text('secret').notNull(),
  previousSecret: text('previous_secret'),
  previousSecretUntil: bigint('previous_secret_until', { mode: 'number' }),
  disabled: boolean('disabled').notNull().default(false),
  disabledReason: text('disabled_reason'),
  failingSince: bigint('failing_since', { mode: 'number' }),
  reply: boolean('reply').notNull().default(false),
  lateReply: text('late_reply').notNull().default('send'),
  feedCursor: bigint('feed_cursor', { mode: 'number' }).notNull().default(0),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  updatedAt: bigint('updated_at', { mode: 'number' }).notNull(),
})

export const webhookEvents = pgTable('webhook_events', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  id: text('id').notNull(),
  type: text('type').notNull(),
  channelId: text('channel_id'),
  body: text('body').notNull(),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
}, (t) => [
  uniqueIndex('webhook_events_id_uq').on(t.id),
  index('webhook_events_created_at_idx').on(t.createdAt),
])

export const webhookDeliveries = pgTable('webhook_deliveries', {
  seq: bigserial('seq', { mode: 'number' }).primaryKey(),
  id: text('id').notNull(),
  eventId: text('event_id').notNull(),
  endpointId: text('endpoint_id').notNull().references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
  status: text('status').notNull(),
  attempts: bigint('attempts', { mode: 'number' }).notNull().default(0),
  nextAttemptAt: bigint('next_attempt_at', { mode: 'number' }).notNull(),
  leaseUntil: bigint('lease_until', { mode: 'number' }),
  leaseOwner: text('lease_owner'),
  lastStatusCode: bigint('last_status_code', { mode: 'number' }),
  lastError: text('last_error'),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  deliveredAt: bigint('delivered_at', { mode: 'number' }),
  finishedAt: bigint('finished_at', { mode: 'number' }),
}, (t) => [
  uniqueIndex('webhook_deliveries_id_uq').on(t.id),
  index('webhook_deliveries_endpoint_due_idx').on(t.endpointId, t.nextAttemptAt, t.seq).where(sql`status = 'pending'`),
  index('webhook_deliveries_endpoint_idx').on(t.endpointId, t.seq),
  index('webhook_deliveries_event_idx').on(t.eventId),
  index('webhook_deliveries_finished_at_idx').on(t.finishedAt),
])

export const mediaUploads = pgTable('media_uploads', {
  channelId: text('channel_id').notNull().references(() => channels.id, { onDelete: 'cascade' }),
  type: text('type').notNull(),
  sha256: text('sha256').notNull(),
  mediaId: text('media_id').notNull(),
  bytes: bigint('bytes', { mode: 'number' }).notNull(),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  expiresAt: bigint('expires_at', { mode: 'number' }).notNull(),
}, (t) => [
  uniqueIndex('media_uploads_uq').on(t.channelId, t.type, t.sha256),
  index('media_uploads_expires_idx').on(t.expiresAt),
])

/** Named leases shared by the instances (see the SQLite schema). */
export const leases = pgTable('leases', {
  name: text('name').primaryKey(),
  owner: text('owner').notNull(),
  until: bigint('until', { mode: 'number' }).notNull(),
})

/** Token buckets shared by the instances (see the SQLite schema). */
export const rateBuckets = pgTable('rate_buckets', {
  name: text('name').primaryKey(),
  tokens: doublePrecision('tokens').notNull(),
  refilledAt: bigint('refilled_at', { mode: 'number' }).notNull(),
})

/** Console sessions (see the SQLite schema): the token's SHA-256, its key, its CSRF token, times in ms. */
export const consoleSessions = pgTable('console_sessions', {
  id: text('id').primaryKey(),
  keyId: text('key_id').notNull(),
  csrf: text('csrf').notNull(),
  createdAt: bigint('created_at', { mode: 'number' }).notNull(),
  lastSeenAt: bigint('last_seen_at', { mode: 'number' }).notNull(),
}, (t) => [
  index('console_sessions_last_seen_idx').on(t.lastSeenAt),
  index('console_sessions_key_idx').on(t.keyId),
])

/**
 * Columns the PostgreSQL migrations add that are deliberately not in this schema (so that it stays equal
 * to SQLite's, and drizzle's inserts leave them to their defaults): inbound_messages.tx_id, the webhook
 * feed's cursor (migrations-pg/0001_feed_xid.sql, inbound.repo.ts).
 */
export const postgresOnlyColumns: Readonly<Record<string, readonly string[]>> = { inbound_messages: ['tx_id'] }
