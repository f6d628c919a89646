/**
 * @module `wxgate migrate-to postgres://…` (SPEC §8): copies a SQLite database into an empty PostgreSQL one,
 * every table inside one PostgreSQL transaction, so that a team moves without losing a binding, a message or
 * its token. Both are migrated first (the same schema: test/store/schema-parity.test.ts). The SQLite side is
 * read in one read transaction (a consistent snapshot).
 *
 * - A target holding any row is refused (nothing is merged or overwritten).
 * - What was mid-flight continues on PostgreSQL: a `sending` message is queued again with its uncertainty kept
 *   (the 9-minute rule, as after a crash), a `delivering` webhook delivery is pending again.
 * - Leases and rate buckets are not copied: they belong to running instances. Console sessions are not copied
 *   either: after the move everyone signs in to the console again (NOT_COPIED).
 * - The webhook feed: PostgreSQL's feed cursor is the inserting transaction's id, not SQLite's row id, so the
 *   copied inbound rows all carry the copy's transaction id and every endpoint's cursor is set to it: nothing
 *   copied is delivered again as a new event. Message events that an endpoint had not received yet would be lost
 *   that way, so such a backlog is refused (let the SQLite gateway deliver it first) unless `skipUndelivered`.
 */
import { DrizzleQueryError, getTableName, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/bun-sql'
import type { PostgresDb } from './postgres/db'
import * as pgSchema from './postgres/schema'
import type { SqliteDb } from './sqlite/db'
import * as sqliteSchema from './sqlite/schema'
import { AppError } from '../lib/errors'

/** Parents before children (foreign keys), as both schemas declare them. */
const TABLES = ['channels', 'apiKeys', 'inboundMessages', 'channelTokens', 'bindCodes', 'bindings', 'sendRequests', 'messages',
  'messageAttempts', 'webhookEndpoints', 'webhookEvents', 'webhookDeliveries', 'mediaUploads'] as const
/**
 * The tables left behind (neither copied nor checked for rows in the target): leases and rate buckets belong to
 * the running instances; console sessions are sign-ins, opened again in a minute, and a cookie that outlived
 * the move of its database is one less thing to reason about. Every table of the schema is in one of the two
 * lists (test/store/migrate-to-tables.test.ts): a new table must be placed.
 */
export const NOT_COPIED = ['leases', 'rateBuckets', 'consoleSessions'] as const
export const COPIED: readonly string[] = TABLES
/** The bigserial columns, whose sequences continue after the copied rows. */
const SERIALS: Record<string, string> = { inbound_messages: 'id', bindings: 'seq', messages: 'seq', message_attempts: 'id', webhook_events: 'seq', webhook_deliveries: 'seq' }
/** Rows per INSERT: PostgreSQL takes at most 65,535 parameters per statement (the widest table has ~30 columns). */
const CHUNK = 1000

export class MigrateToError extends AppError {
  override name = 'MigrateToError'
  constructor(message: string) { super('migrate_to_refused', 409, message) }
}

export interface MigrateToResult { tables: { table: string; rows: number }[] }

type Row = Record<string, unknown>

export const copySqliteToPostgres = async (src: SqliteDb, dst: PostgresDb, o: { now: number; skipUndelivered?: boolean }): Promise<MigrateToResult> => {
  const pg = drizzle({ client: dst.sql, schema: pgSchema })

  // 1. The target must be empty.
  for (const key of TABLES) {
    const name = getTableName(pgSchema[key])
    const [r] = (await dst.sql.unsafe(`SELECT EXISTS (SELECT 1 FROM ${name}) AS any`)) as { any: boolean }[]
    if (r?.any) throw new MigrateToError(`the PostgreSQL database already holds data (table ${name} is not empty): migrate-to copies into an empty database only; create a new one (CREATE DATABASE …) and give its URL`)
  }

  // 2. One snapshot of the SQLite side (a read transaction: a gateway still writing does not tear it).
  const rows = new Map<string, Row[]>()
  src.sqlite.exec('BEGIN')
  try {
    for (const key of TABLES) rows.set(key, src.orm.select().from(sqliteSchema[key]).all() as Row[])
  } finally {
    src.sqlite.exec('COMMIT')
  }

  // 3. A gateway still running on the file: what it writes after the snapshot would be lost, and what it is
  // sending would be sent again from PostgreSQL (a customer-service message has no client_msg_id).
  const live = [...(rows.get('messages') ?? []).filter((m) => m.status === 'sending' && Number(m.leaseUntil ?? 0) > o.now),
    ...(rows.get('webhookDeliveries') ?? []).filter((d) => d.status === 'delivering' && Number(d.leaseUntil ?? 0) > o.now)]
  if (live.length) throw new MigrateToError(`wxgate seems to be running on this database (${live.length} messages or webhook deliveries are being sent right now): stop it first (systemctl stop wxgate), then run migrate-to again`)

  // 4. The feed backlog: inbound rows after an active endpoint's cursor were not all delivered yet.
  const newestInbound = Math.max(0, ...(rows.get('inboundMessages') ?? []).map((r) => Number(r.id)))
  const behind = (rows.get('webhookEndpoints') ?? []).filter((e) => !e.disabled && !e.reply && Number(e.feedCursor) < newestInbound)
  if (behind.length && !o.skipUndelivered) {
    const list = behind.map((e) => `${String(e.id)} (${(rows.get('inboundMessages') ?? []).filter((r) => Number(r.id) > Number(e.feedCursor)).length} messages after its cursor)`).join(', ')
    throw new MigrateToError(`webhook endpoints have message events not delivered yet: ${list}. Start wxgate on SQLite until they are delivered (wxgate_webhook_queue_depth in /metrics is 0), or pass --skip-undelivered to leave them out`)
  }

  // 5. Mid-flight work continues on PostgreSQL, as after a restart.
  for (const m of rows.get('messages') ?? []) {
    if (m.status === 'sending') Object.assign(m, { status: 'queued', nextAttemptAt: o.now, uncertainSince: m.uncertainSince ?? m.lastCallAt ?? o.now })
    Object.assign(m, { leaseOwner: null, leaseUntil: null })
  }
  for (const d of rows.get('webhookDeliveries') ?? []) {
    if (d.status === 'delivering') Object.assign(d, { status: 'pending' })
    Object.assign(d, { leaseOwner: null, leaseUntil: null })
  }

  // 6. Everything in one PostgreSQL transaction.
  const tables: MigrateToResult['tables'] = []
  await pg.transaction(async (t) => {
    for (const key of TABLES) {
      const list = rows.get(key) ?? []
      try {
        for (let i = 0; i < list.length; i += CHUNK) await t.insert(pgSchema[key]).values(list.slice(i, i + CHUNK) as never)
      } catch (e) {
        // drizzle's error lists the statement's parameters (AppSecrets, tokens, users' messages): only the
        // database's own message is shown; the transaction rolls back, so nothing is left half-copied.
        const inner = e instanceof DrizzleQueryError ? e.cause : e
        throw new MigrateToError(`copying ${getTableName(pgSchema[key])} failed, nothing was copied: ${(inner as Error)?.message ?? String(inner)}`)
      }
      tables.push({ table: getTableName(pgSchema[key]), rows: list.length })
    }
    for (const [table, column] of Object.entries(SERIALS)) {
      await t.execute(sql.raw(`SELECT setval(pg_get_serial_sequence('${table}', '${column}'), coalesce((SELECT max(${column}) FROM ${table}), 0) + 1, false)`))
    }
    // Every copied inbound row carries this transaction's id (tx_id's default): the feeds start after them.
    await t.execute(sql`UPDATE webhook_endpoints SET feed_cursor = pg_current_xact_id()::text::bigint`)
  })
  return { tables }
}
