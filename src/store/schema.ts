/**
 * @module The SQLite schema (drizzle-orm). Migrations in `migrations/` are generated from this file by
 * drizzle-kit (`npm run db:generate`) and never edited after release.
 * Times are integer milliseconds since the epoch; the API renders them as ISO-8601.
 */
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

/** One WeChat Official Account. Secrets are stored as given: the database file is the trust boundary. */
export const channels = sqliteTable('channels', {
  id: text('id').primaryKey(),
  appId: text('app_id').notNull(),
  appSecret: text('app_secret').notNull(),
  token: text('token').notNull(),
  aesKey: text('aes_key'),
  /** JSON object of reply texts ({ bound?, alreadyUsed?, expired? }); null means the Chinese defaults. */
  replies: text('replies'),
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
  receivedAt: integer('received_at').notNull(),
}, (t) => [
  uniqueIndex('inbound_channel_dedup_uq').on(t.channelId, t.dedupKey),
  index('inbound_received_at_idx').on(t.receivedAt),
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
  /** While set and in the future, the channel's daily quota is used up (45009): no calls are made. */
  quotaUntil: integer('quota_until'),
  /** JSON { errcode, errmsg, at } of the last failed refresh; cleared by a successful one. */
  lastError: text('last_error'),
})
