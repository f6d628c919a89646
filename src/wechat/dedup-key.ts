/** @module The deduplication key of an inbound message. WeChat retries a callback up to 3 times with the
 * same body; official advice: messages by MsgId, events by FromUserName + CreateTime.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html
 * FromUserName + CreateTime alone merges two events of one user in the same second (two
 * TEMPLATESENDJOBFINISH, a SCAN and a CLICK), so the key adds the Event, the EventKey and the MsgID.
 */
import type { InboundMessage } from './messages.ts'

// EventKey is free text (a VIEW URL contains ':'): escape the separator so that different
// (EventKey, MsgID) pairs can never produce the same key. '%' is escaped first so the escape is reversible.
const esc = (s: string): string => s.replaceAll('%', '%25').replaceAll(':', '%3A')

const nonEmpty = (v: string | undefined): v is string => v !== undefined && v !== ''

/**
 * - ordinary messages (and unknown message types carrying a MsgId): `msg:<MsgId>`
 * - events: `evt:<FromUserName>:<CreateTime>:<Event>:<tail>` where tail is, of EventKey and MsgID,
 *   those present and non-empty, in that order, joined by ':' (`''` when neither; EventKey escaped).
 *   e.g. `evt:oia2Tj…:1395658920:TEMPLATESENDJOBFINISH:200163836`, `evt:FromUser:123456789:SCAN:SCENE_VALUE`.
 *   Event is the canonical name, so 'scan' and 'SCAN' retries collide as they should.
 * - an unknown non-event type without MsgId: `evt:<FromUserName>:<CreateTime>:<MsgType>:`.
 */
export const dedupKey = (m: InboundMessage): string => {
  const msgId = 'msgId' in m ? m.msgId : undefined
  if (m.msgType !== 'event' && nonEmpty(msgId)) return `msg:${msgId}`

  const event = m.msgType === 'event' && 'event' in m ? (m.event ?? '') : m.msgType
  const eventKey = 'eventKey' in m ? m.eventKey : undefined
  // For events, msgId is only ever the job-result MsgID (TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH).
  const tail = [nonEmpty(eventKey) ? esc(eventKey) : undefined, nonEmpty(msgId) ? msgId : undefined]
    .filter((s) => s !== undefined)
    .join(':')
  return `evt:${m.fromUserName}:${m.createTime}:${esc(event)}:${tail}`
}
