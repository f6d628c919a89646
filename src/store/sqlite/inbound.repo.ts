/**
 * @module Inbound callback rows: the dedup record and the first attempt's reply.
 * This is the hottest path of the gateway, so it uses bun:sqlite statements prepared once (and SQL
 * text, not the query builder) — a SQLite-only detail kept inside the store.
 */
import type { Database } from 'bun:sqlite'
import type { SqliteDb as Db } from './db'
import type { FeedRow, InboundFilter, InboundHistoryRow } from '../contract'

export type { FeedRow, InboundFilter, InboundHistoryRow, InboundInsert } from '../contract'

import type { InboundInsert } from '../contract'

const cache = new WeakMap<Database, ReturnType<typeof prepare>>()
const prepare = (sqlite: Database) => ({
  findReply: sqlite.prepare<{ reply: string }, [string, string]>('SELECT reply FROM inbound_messages WHERE channel_id = ? AND dedup_key = ?'),
  findRow: sqlite.prepare<{ id: number; receivedAt: number; claimed: number; handledBy: string }, [string, string]>(
    'SELECT id, received_at AS receivedAt, claimed, handled_by AS handledBy FROM inbound_messages WHERE channel_id = ? AND dedup_key = ?'),
  insert: sqlite.prepare<unknown, [string, string, string, string | null, string, number, string, string, string, number]>(
    'INSERT INTO inbound_messages (channel_id, dedup_key, msg_type, event, from_user, create_time, body, reply, handled_by, received_at) ' +
    'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel_id, dedup_key) DO NOTHING'),
  setOutcome: sqlite.prepare<unknown, [string, string, number, string, string]>('UPDATE inbound_messages SET reply = ?, handled_by = ?, claimed = ? WHERE channel_id = ? AND dedup_key = ?'),
  // A bounded chunk per statement (walks inbound_received_at_idx), so a prune never holds the write queue long.
  // Never past `id <= ?`: a row the webhook feed has not dealt with yet for an active endpoint stays.
  prune: sqlite.prepare<unknown, [number, number, number]>('DELETE FROM inbound_messages WHERE id IN (SELECT id FROM inbound_messages WHERE received_at < ? AND id <= ? LIMIT ?)'),
  // The webhook feed: rows after an endpoint's cursor, oldest first (the primary key), with the sender's subject.
  feedAfter: sqlite.prepare<FeedRow, [number, number]>(
    'SELECT i.id AS id, i.id AS cursor, i.channel_id AS channelId, i.msg_type AS msgType, i.event AS event, i.body AS body, i.claimed AS claimed, i.received_at AS receivedAt, b.subject AS subject ' +
    'FROM inbound_messages i LEFT JOIN bindings b ON b.channel_id = i.channel_id AND b.openid = i.from_user WHERE i.id > ? ORDER BY i.id LIMIT ?'),
  maxId: sqlite.prepare<{ id: number }, []>('SELECT coalesce(max(id), 0) AS id FROM inbound_messages'),
  lag: sqlite.prepare<{ n: number; oldest: number | null }, [number]>('SELECT count(*) AS n, min(received_at) AS oldest FROM inbound_messages WHERE id > ?'),
  // Walks inbound_received_at_idx from `since`.
  countsSince: sqlite.prepare<{ channelId: string; n: number }, [number]>(
    "SELECT channel_id AS channelId, count(*) AS n FROM inbound_messages WHERE received_at >= ? AND NOT (msg_type = 'event' AND event IS 'TEMPLATESENDJOBFINISH') GROUP BY channel_id ORDER BY channel_id"),
})
const statements = (sqlite: Database) => {
  let s = cache.get(sqlite)
  if (!s) cache.set(sqlite, (s = prepare(sqlite)))
  return s
}

export const inboundRepo = (db: Pick<Db, 'sqlite'>) => {
  const st = () => statements(db.sqlite)
  return {
    /** The stored reply of an already handled message, if any. */
    findReply: (channelId: string, dedupKey: string): string | undefined => st().findReply.get(channelId, dedupKey)?.reply,
    /**
     * Records the message with its reply; false when (channel, dedup key) is already there. The unique
     * index decides, not a read before the write. Must run inside db.tx.
     */
    insert: (r: InboundInsert): boolean =>
      st().insert.run(r.channelId, r.dedupKey, r.msgType, r.event, r.fromUser, r.createTime, r.body, r.reply, r.handledBy, r.receivedAt).changes > 0,
    /** Like insert, returning the new row's id (undefined when the row was there already). */
    insertReturningId: (r: InboundInsert): number | undefined => {
      const res = st().insert.run(r.channelId, r.dedupKey, r.msgType, r.event, r.fromUser, r.createTime, r.body, r.reply, r.handledBy, r.receivedAt)
      return res.changes > 0 ? Number(res.lastInsertRowid) : undefined
    },
    /** The stored row of a message (its id, arrival, claim and rule), if any. */
    findRow: (channelId: string, dedupKey: string): { id: number; receivedAt: number; claimed: boolean; handledBy: string } | undefined => {
      const r = st().findRow.get(channelId, dedupKey)
      return r ? { ...r, claimed: Boolean(r.claimed) } : undefined
    },
    /** Records the reply, the rule and whether it claimed the message, for a message inserted earlier in the same transaction. */
    setOutcome: (channelId: string, dedupKey: string, reply: string, handledBy: string, claimed: boolean): void => {
      st().setOutcome.run(reply, handledBy, claimed ? 1 : 0, channelId, dedupKey)
    },
    /** Deletes at most `limit` rows received before `before` (ms) with an id (the feed cursor) up to `maxCursor`; returns how many. */
    pruneBefore: (before: number, limit: number, maxCursor = Number.MAX_SAFE_INTEGER): number => st().prune.run(before, maxCursor, limit).changes,
    /** Up to `limit` rows after `afterId`, oldest first: the webhook feed (SQLite's one writer commits in id order: the cursor is the id). */
    feedAfter: (afterId: number, limit: number): FeedRow[] =>
      st().feedAfter.all(afterId, limit).map((r) => ({ ...r, claimed: Boolean(r.claimed) })),
    /** The newest row's id (0 when there is none): where a new endpoint's feed starts. */
    newestCursor: (): number => st().maxId.get()!.id,
    /** Rows after `afterId` and the oldest one's arrival (an endpoint's feed backlog, for the metrics). */
    countsSince: (since: number): { channelId: string; n: number }[] => st().countsSince.all(since),
    lagAfter: (afterId: number): { depth: number; oldestReceivedAt: number | null } => {
      const r = st().lag.get(afterId)!
      return { depth: r.n, oldestReceivedAt: r.oldest }
    },
  }
}

/** A row of the webhook feed: what the event of one callback is built from (webhook-feed.ts). */
const HISTORY_COLUMNS =
  'SELECT i.id AS id, i.channel_id AS channelId, i.msg_type AS msgType, i.event AS event, i.from_user AS fromUser, i.create_time AS createTime, ' +
  'i.body AS body, i.received_at AS receivedAt, b.subject AS subject FROM inbound_messages i ' +
  'LEFT JOIN bindings b ON b.channel_id = i.channel_id AND b.openid = i.from_user'

/**
 * The inbound history (GET /api/inbound), newest first, walking the primary key backwards. The statement
 * text depends only on which filters are given, so bun:sqlite's query cache keeps one compiled statement
 * per combination.
 */
export const inboundHistory = (db: Pick<Db, 'sqlite'>) => ({
  list: (f: InboundFilter): InboundHistoryRow[] => {
    const where: string[] = []
    const params: (string | number)[] = []
    if (f.channelId !== undefined) { where.push('i.channel_id = ?'); params.push(f.channelId) }
    if (f.openid !== undefined) { where.push('i.from_user = ?'); params.push(f.openid) }
    if (f.subject !== undefined) { where.push('b.subject = ?'); params.push(f.subject) }
    if (f.type !== undefined) { where.push('(i.msg_type = ? OR i.event = ?)'); params.push(f.type, f.type) }
    if (f.since !== undefined) { where.push('i.received_at >= ?'); params.push(f.since) }
    if (f.beforeId !== undefined) { where.push('i.id < ?'); params.push(f.beforeId) }
    if (f.withoutDeliveryReports) where.push("i.event IS NOT 'TEMPLATESENDJOBFINISH'")
    const text = `${HISTORY_COLUMNS}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY i.id DESC LIMIT ?`
    return db.sqlite.query<InboundHistoryRow, (string | number)[]>(text).all(...params, f.limit)
  },
  get: (id: number): InboundHistoryRow | undefined =>
    db.sqlite.query<InboundHistoryRow, [number]>(`${HISTORY_COLUMNS} WHERE i.id = ?`).get(id) ?? undefined,
})
