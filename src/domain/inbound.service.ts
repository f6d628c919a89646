/**
 * @module The inbound history (SPEC §6 `GET /api/inbound`): every received message and event, read from the
 * dedup rows (inbound_messages keeps the plaintext XML), kept WXGATE_INBOUND_RETENTION_DAYS (the callback
 * service prunes them). `data` is the parsed message's fields in camelCase, as in message.received.
 *
 * Decisions where SPEC §6 is silent: `id` is `in_<row id>` (opaque to callers; no cursor is accepted as an
 * id); `subject` is the sender's binding *now* (the history does not record who they were bound to then);
 * `since` compares with when the gateway received the message; `type` matches the MsgType or the Event.
 */
import { z } from 'zod'
import type { Clock } from '../lib/clock'
import { pageCursor } from '../lib/cursor'
import { NotFoundError, ValidationError } from '../lib/errors'
import type { Db } from '../store/contract'
import type { InboundHistoryRow } from '../store/contract'
import { parseMessage } from '../wechat/messages'
import { parseXml } from '../wechat/xml'
import { messageFields } from './inbound-events'

export const InboundQuery = z.object({
  channel: z.string().optional(),
  openid: z.string().optional(),
  subject: z.string().optional().meta({ description: 'Your user id: messages of the OpenIDs bound to it now' }),
  type: z.string().optional().meta({ description: 'A MsgType (text, image, event …) or an Event (subscribe, CLICK, TEMPLATESENDJOBFINISH …)' }),
  since: z.string().optional().meta({ description: 'ISO-8601: received at or after' }),
  limit: z.coerce.number().int().min(1).max(200).optional().meta({ description: 'Page size, default 50' }),
  cursor: z.string().optional().meta({ description: '`next` of the previous page' }),
})
export type InboundQuery = z.infer<typeof InboundQuery>

export interface InboundView {
  id: string
  channel: string
  openid: string
  subject?: string
  msgType: string
  event?: string
  createTime: string
  receivedAt: string
  data: Record<string, unknown>
}

const cursor = pageCursor('i')
const ID_RE = /^in_([1-9]\d{0,14})$/

const dataOf = (body: string): Record<string, unknown> => {
  try {
    return messageFields(parseMessage(parseXml(body)))
  } catch {
    // Stored only after it parsed: a row that does not parse now (a parser change) still lists, without data.
    return {}
  }
}

export const inboundView = (r: InboundHistoryRow): InboundView => ({
  id: `in_${r.id}`,
  channel: r.channelId,
  openid: r.fromUser,
  ...(r.subject !== null ? { subject: r.subject } : {}),
  msgType: r.msgType,
  ...(r.event !== null ? { event: r.event } : {}),
  createTime: new Date(r.createTime * 1000).toISOString(),
  receivedAt: new Date(r.receivedAt).toISOString(),
  data: dataOf(r.body),
})

export interface InboundServiceDeps {
  db: Db
  clock: Clock
}

export const createInboundService = (deps: InboundServiceDeps) => {
  const inbound = deps.db.read.inbound

  /** `o.withoutDeliveryReports`: the console's conversations, without WeChat's TEMPLATESENDJOBFINISH reports. */
  const list = async (q: InboundQuery, o: { withoutDeliveryReports?: boolean } = {}): Promise<{ items: InboundView[]; next?: string }> => {
    const limit = q.limit ?? 50
    const since = q.since !== undefined ? Date.parse(q.since) : undefined
    if (since !== undefined && Number.isNaN(since)) throw new ValidationError('since: not an ISO-8601 time')
    const rows = await inbound.history({
      channelId: q.channel, openid: q.openid, subject: q.subject, type: q.type, since,
      beforeId: q.cursor !== undefined ? cursor.decode(q.cursor) : undefined,
      ...(o.withoutDeliveryReports ? { withoutDeliveryReports: true } : {}),
      limit: limit + 1,
    })
    const more = rows.length > limit
    const items = rows.slice(0, limit)
    return { items: items.map(inboundView), ...(more ? { next: cursor.encode(items.at(-1)!.id) } : {}) }
  }

  const get = async (id: string): Promise<InboundView> => {
    const m = ID_RE.exec(id)
    const row = m ? await inbound.historyRow(Number(m[1])) : undefined
    if (!row) throw new NotFoundError(`no inbound message '${id}' (kept WXGATE_INBOUND_RETENTION_DAYS)`)
    return inboundView(row)
  }

  return { list, get }
}
export type InboundService = ReturnType<typeof createInboundService>
