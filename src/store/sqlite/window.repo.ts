/**
 * @module What the customer-service window (domain/window.ts) is computed from: a user's latest interactions
 * in the inbound log (inbound_channel_from_idx) and the customer-service messages sent to them since
 * (messages_openid_idx). No table of its own: nothing is written on a callback for it.
 */
import type { Database } from 'bun:sqlite'
import type { InteractionRow } from '../contract'
import type { SqliteDb as Db } from './db'

/** The rows are the store contract's (../contract.ts). */
export type { InteractionRow } from '../contract'

/** The statements' SQL, also for the test that checks their query plans use the indexes. */
export const WINDOW_SQL = {
  // The latest row of each kind (message, short-window event, unsubscribe) received since `since`; the
  // short-window events come as a JSON array (json_each), so that the list stays the domain's. SQLite
  // detail: with max(id) as the only aggregate, the bare columns come from the row holding that max.
  latest: 'SELECT max(id) AS id, msg_type AS msgType, event AS event, received_at AS receivedAt FROM inbound_messages ' +
    'WHERE channel_id = ? AND from_user = ? AND received_at >= ? ' +
    "AND (msg_type != 'event' OR event = 'unsubscribe' OR event IN (SELECT value FROM json_each(?))) " +
    "GROUP BY CASE WHEN msg_type != 'event' THEN 0 WHEN event = 'unsubscribe' THEN 1 ELSE 2 END",
  // The user's latest follow event, however old (walks the index backwards and stops at the first).
  lastFollow: "SELECT event FROM inbound_messages WHERE channel_id = ? AND from_user = ? AND msg_type = 'event' AND event IN ('subscribe', 'unsubscribe') ORDER BY id DESC LIMIT 1",
  // Customer-service messages that went as such (not their template fallback) since the window opened.
  sentSince: "SELECT count(*) AS n FROM messages WHERE channel_id = ? AND openid = ? AND type != 'template' AND sent_as IS NULL AND sent_at >= ?",
}

const cache = new WeakMap<Database, ReturnType<typeof prepare>>()
const prepare = (sqlite: Database) => ({
  latest: sqlite.prepare<InteractionRow, [string, string, number, string]>(WINDOW_SQL.latest),
  lastFollow: sqlite.prepare<{ event: string }, [string, string]>(WINDOW_SQL.lastFollow),
  sentSince: sqlite.prepare<{ n: number }, [string, string, number]>(WINDOW_SQL.sentSince),
})
const statements = (sqlite: Database) => {
  let s = cache.get(sqlite)
  if (!s) cache.set(sqlite, (s = prepare(sqlite)))
  return s
}

export const windowRepo = (db: Pick<Db, 'sqlite'>) => {
  const st = () => statements(db.sqlite)
  return {
    /**
     * The latest user message, the latest of `shortEvents` and the latest unsubscribe received since `since`
     * (at most three rows): all the window rule needs.
     */
    latestInteractions: (p: { channelId: string; openid: string; since: number; shortEvents: readonly string[] }): InteractionRow[] =>
      st().latest.all(p.channelId, p.openid, p.since, JSON.stringify(p.shortEvents)),
    /** 'subscribe' or 'unsubscribe': the user's latest follow event, if any is kept. */
    lastFollowEvent: (channelId: string, openid: string): string | undefined => st().lastFollow.get(channelId, openid)?.event,
    sentSince: (channelId: string, openid: string, since: number): number => st().sentSince.get(channelId, openid, since)!.n,
  }
}
