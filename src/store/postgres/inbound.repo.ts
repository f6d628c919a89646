/**
 * @module Inbound callback rows (PostgreSQL; semantics: ../sqlite/inbound.repo.ts): the dedup record, the
 * history, and the webhook feed, which reads by the inserting transaction (tx_id), not by id.
 *
 * tx_id (migrations-pg/0001_feed_xid.sql, deliberately not in the drizzle schema so that the schemas stay
 * equal and drizzle's inserts leave it to its default) is pg_current_xact_id() of the transaction that
 * inserted the row. Ids are taken from the sequence before commit, so with several writers a row with a
 * smaller id can become visible after one with a larger id: a feed reading `id > cursor` would skip it.
 * Transaction ids have the same problem, but PostgreSQL tells which of them are settled: every transaction
 * below the snapshot's xmin (pg_snapshot_xmin(pg_current_snapshot())) has committed or rolled back. The feed
 * reads only rows with tx_id below it, so a row that commits late always has a tx_id above every cursor
 * handed out before it became visible.
 */
import { and, desc, eq, lt, or, sql, type SQL } from 'drizzle-orm'
import type { FeedRow, InboundFilter, InboundHistoryRow, InboundInsert, InboundRepo } from '../contract'
import { rowsOf, type PgOrm } from './orm'
import { bindings, inboundMessages as im } from './schema'

/** The feed cursor of a row (see above), as SQL. */
export const TX_ID = sql`${im}.tx_id`
/** Below this every transaction id is settled (as bigint, comparable with tx_id). */
const SETTLED = sql`pg_snapshot_xmin(pg_current_snapshot())::text::bigint`
/** The newest row's feed cursor, 0 when there is none: where a new (or re-enabled) endpoint's feed starts. */
export const NEWEST_CURSOR = sql<number>`(select coalesce(max(tx_id), 0) from ${im})`

const values = (r: InboundInsert) => ({
  channelId: r.channelId, dedupKey: r.dedupKey, msgType: r.msgType, event: r.event, fromUser: r.fromUser,
  createTime: r.createTime, body: r.body, reply: r.reply, handledBy: r.handledBy, receivedAt: r.receivedAt,
})

const history = {
  id: im.id, channelId: im.channelId, msgType: im.msgType, event: im.event, fromUser: im.fromUser, createTime: im.createTime,
  body: im.body, receivedAt: im.receivedAt, subject: bindings.subject,
}
const senderBinding = and(eq(bindings.channelId, im.channelId), eq(bindings.openid, im.fromUser))

export const inboundRepo = (orm: PgOrm): InboundRepo => {
  /** One INSERT … ON CONFLICT DO NOTHING: an insert meeting another instance's uncommitted row waits for its commit, then conflicts. */
  const insert = async (r: InboundInsert): Promise<number | undefined> =>
    (await orm.insert(im).values(values(r)).onConflictDoNothing({ target: [im.channelId, im.dedupKey] }).returning({ id: im.id }))[0]?.id
  return {
    findReply: async (channelId, dedupKey) =>
      (await orm.select({ reply: im.reply }).from(im).where(and(eq(im.channelId, channelId), eq(im.dedupKey, dedupKey))))[0]?.reply,
    insert: async (r) => (await insert(r)) !== undefined,
    insertReturningId: insert,
    findRow: async (channelId, dedupKey) =>
      (await orm.select({ id: im.id, receivedAt: im.receivedAt, claimed: im.claimed, handledBy: im.handledBy }).from(im)
        .where(and(eq(im.channelId, channelId), eq(im.dedupKey, dedupKey))))[0],
    setOutcome: async (channelId, dedupKey, reply, handledBy, claimed) => {
      await orm.update(im).set({ reply, handledBy, claimed }).where(and(eq(im.channelId, channelId), eq(im.dedupKey, dedupKey)))
    },
    /** A bounded chunk; never a row past `maxCursor` (a tx_id the feed of an active endpoint has not passed). */
    pruneBefore: async (before, limit, maxCursor = Number.MAX_SAFE_INTEGER) =>
      (await orm.delete(im).where(sql`${im.id} IN (SELECT id FROM ${im} WHERE received_at < ${before} AND tx_id <= ${maxCursor} LIMIT ${limit})`)
        .returning({ id: im.id })).length,
    /**
     * Rows with after < tx_id < the settled bound, in (tx_id, id) order. The limit never splits one
     * transaction's rows (the cursor moves past a tx_id only once): the bound is the tx_id of the
     * `limit`-th row, every row of it included.
     */
    feedAfter: async (after, limit) => {
      if (limit <= 0) return []
      const rows = await rowsOf<Omit<FeedRow, 'id' | 'cursor' | 'receivedAt'> & { id: string; cursor: string; receivedAt: string }>(orm.execute(sql`
        WITH s AS (SELECT ${SETTLED} AS xmin),
        last AS (SELECT tx_id FROM ${im}, s WHERE tx_id > ${after} AND tx_id < s.xmin ORDER BY tx_id, id OFFSET ${limit - 1} LIMIT 1)
        SELECT i.id AS "id", i.tx_id AS "cursor", i.channel_id AS "channelId", i.msg_type AS "msgType", i.event AS "event", i.body AS "body",
          i.claimed AS "claimed", i.received_at AS "receivedAt", b.subject AS "subject"
        FROM ${im} i CROSS JOIN s LEFT JOIN ${bindings} b ON b.channel_id = i.channel_id AND b.openid = i.from_user
        WHERE i.tx_id > ${after} AND i.tx_id < s.xmin AND i.tx_id <= coalesce((SELECT tx_id FROM last), s.xmin)
        ORDER BY i.tx_id, i.id`))
      return rows.map((r) => ({ ...r, id: Number(r.id), cursor: Number(r.cursor), receivedAt: Number(r.receivedAt) }))
    },
    newestCursor: async () => Number((await rowsOf<{ n: string }>(orm.execute(sql`SELECT ${NEWEST_CURSOR} AS n`)))[0]!.n),
    countsSince: async (since) => (await rowsOf<{ channelId: string; n: number }>(orm.execute(sql`
      SELECT channel_id AS "channelId", count(*)::int AS n FROM ${im}
      WHERE received_at >= ${since} AND NOT (msg_type = 'event' AND event IS NOT DISTINCT FROM 'TEMPLATESENDJOBFINISH')
      GROUP BY channel_id ORDER BY channel_id`))),
    lagAfter: async (after) => {
      const [r] = await rowsOf<{ n: number; oldest: string | null }>(orm.execute(sql`SELECT count(*)::int AS n, min(received_at) AS oldest FROM ${im} WHERE tx_id > ${after}`))
      return { depth: r!.n, oldestReceivedAt: r!.oldest === null ? null : Number(r!.oldest) }
    },
    history: (f: InboundFilter): Promise<InboundHistoryRow[]> => {
      const where: SQL[] = []
      if (f.channelId !== undefined) where.push(eq(im.channelId, f.channelId))
      if (f.openid !== undefined) where.push(eq(im.fromUser, f.openid))
      if (f.subject !== undefined) where.push(eq(bindings.subject, f.subject))
      if (f.type !== undefined) where.push(or(eq(im.msgType, f.type), eq(im.event, f.type))!)
      if (f.since !== undefined) where.push(sql`${im.receivedAt} >= ${f.since}`)
      if (f.beforeId !== undefined) where.push(lt(im.id, f.beforeId))
      if (f.withoutDeliveryReports) where.push(sql`${im.event} IS DISTINCT FROM 'TEMPLATESENDJOBFINISH'`)
      return orm.select(history).from(im).leftJoin(bindings, senderBinding).where(and(...where)).orderBy(desc(im.id)).limit(f.limit)
    },
    historyRow: async (id) => (await orm.select(history).from(im).leftJoin(bindings, senderBinding).where(eq(im.id, id)))[0],
  }
}
