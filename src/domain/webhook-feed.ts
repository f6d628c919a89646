/**
 * @module The inbound feed: the events out that callbacks cause (message.received, user.*, menu.clicked,
 * location.reported, event.received) are read from the inbound log, not written as rows of their own.
 *
 * Why: the callback is the gateway's hot path, and its dedup row already is the record of the happening,
 * committed (fsynced) in the callback's own transaction before WeChat is answered. Writing an event row
 * and a delivery row beside it, in a SAVEPOINT, cost the callback path more than half of its throughput
 * (bench/README.md). So the callback writes nothing more than it did before events out existed; each
 * endpoint has a cursor over inbound_messages (webhook_endpoints.feed_cursor) and the delivery worker
 * reads the rows after it, builds the event (this module) and POSTs it. Only then is the event written as
 * a webhook_events row with its delivery (delivered, or pending for a retry), with the cursor in the same
 * transaction, so the deliveries API and the retry schedule work as for every other event.
 *
 * What SPEC §6 asks of these events still holds: one event per happening (one row per dedup key: a retry
 * adds no row); none before the commit (the worker reads committed rows only); durable (the row and the
 * cursor are in the database, a crash redelivers the rows after the cursor with the same webhook-id).
 *
 * Pure: a row in, the event out (its id, type and signed body), or undefined when the row causes no event
 * (a rule claimed it). The event id is derived from the row, so every attempt and every restart gives the
 * same `webhook-id`; it carries the arrival time, so a database started afresh never repeats an old id.
 * `data.subject` is the sender's binding when the row is read (a user bound a moment later shows it).
 */
import type { FeedRow } from '../store/contract'
import { parseMessage } from '../wechat/messages'
import { parseXml } from '../wechat/xml'
import { eventBody, type EventType } from './events.service'
import { callbackEventData, callbackEventType } from './inbound-events'

export interface FeedEvent {
  /** The webhook-id. */
  id: string
  type: EventType
  channelId: string
  /** The JSON body as sent ({ type, timestamp, data }). */
  body: string
  /** The inbound row's place in the feed (FeedRow.cursor): where the endpoint's cursor moves once it is recorded. */
  cursor: number
  createdAt: number
}

/** The webhook-id of a feed row: `evt_` + its arrival (ms, base 36, fixed width) + `in` + its id (base 36). */
export const feedEventId = (row: Pick<FeedRow, 'id' | 'receivedAt'>): string =>
  `evt_${row.receivedAt.toString(36).padStart(9, '0')}in${row.id.toString(36)}`

/** The event of one inbound row, or undefined when it causes none (claimed by a rule, or unreadable now). */
export const feedEvent = (row: FeedRow): FeedEvent | undefined => {
  let message
  try {
    message = parseMessage(parseXml(row.body))
  } catch {
    // Stored only after it parsed: a row that does not parse now (a parser change) makes no event.
    return undefined
  }
  const type = callbackEventType(message, row.claimed)
  if (type === undefined) return undefined
  const data = callbackEventData(type, message, { channel: row.channelId, subject: row.subject ?? undefined, claimed: row.claimed, inboundId: `in_${row.id}` })
  return { id: feedEventId(row), type, channelId: row.channelId, body: eventBody(type, data, row.receivedAt), cursor: row.cursor, createdAt: row.receivedAt }
}
