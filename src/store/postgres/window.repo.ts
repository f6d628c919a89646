/** @module What the customer-service window is computed from (PostgreSQL; semantics: ../sqlite/window.repo.ts). */
import { sql } from 'drizzle-orm'
import type { InteractionRow, WindowRepo } from '../contract'
import { rowsOf, type PgOrm } from './orm'

export const windowRepo = (orm: PgOrm): WindowRepo => ({
  /**
   * The latest row of each kind (message, unsubscribe, short-window event) since `since`, in that order:
   * DISTINCT ON instead of SQLite's bare columns beside max(id); the events come as one JSON array (text
   * cast to jsonb: Bun.SQL sends a string bound to a jsonb parameter as a JSON string scalar).
   */
  latestInteractions: async (p) => {
    const rows = await rowsOf<{ id: string; msgType: string; event: string | null; receivedAt: string }>(orm.execute(sql`
      SELECT DISTINCT ON (k) id AS "id", msg_type AS "msgType", event AS "event", received_at AS "receivedAt"
      FROM (SELECT id, msg_type, event, received_at,
              CASE WHEN msg_type != 'event' THEN 0 WHEN event = 'unsubscribe' THEN 1 ELSE 2 END AS k
            FROM inbound_messages
            WHERE channel_id = ${p.channelId} AND from_user = ${p.openid} AND received_at >= ${p.since}
              AND (msg_type != 'event' OR event = 'unsubscribe'
                   OR event IN (SELECT jsonb_array_elements_text(${JSON.stringify(p.shortEvents)}::text::jsonb)))) AS r
      ORDER BY k, id DESC`))
    return rows.map((r): InteractionRow => ({ ...r, id: Number(r.id), receivedAt: Number(r.receivedAt) }))
  },
  lastFollowEvent: async (channelId, openid) =>
    (await rowsOf<{ event: string }>(orm.execute(sql`SELECT event FROM inbound_messages WHERE channel_id = ${channelId} AND from_user = ${openid} AND msg_type = 'event' AND event IN ('subscribe', 'unsubscribe') ORDER BY id DESC LIMIT 1`)))[0]?.event,
  sentSince: async (channelId, openid, since) =>
    (await rowsOf<{ n: number }>(orm.execute(sql`SELECT count(*)::int AS n FROM messages WHERE channel_id = ${channelId} AND openid = ${openid} AND type != 'template' AND sent_as IS NULL AND sent_at >= ${since}`)))[0]!.n,
})
