/**
 * @module What a callback tells the team's systems (SPEC §6): the event type of an inbound message or
 * event, and its `data` in camelCase. Pure: the webhook feed (webhook-feed.ts) builds the event from the
 * stored inbound row and its subject.
 *
 * Decisions where SPEC §6 is silent:
 * - `createTime` is an ISO-8601 string, like every time in the API (WeChat sends Unix seconds).
 * - Every callback event carries `createTime` (SPEC: it orders events); message.received also `msgId`.
 * - Every callback event carries `inboundId`, the message's id in the inbound history (`in_…`), for
 *   GET /api/inbound/:id and for answering the sender.
 * - A message type WeChat adds later (or `file`, which the parser keeps as unknown) is still
 *   message.received, its fields taken from the XML in camelCase; any event no other row of the table
 *   names (known or not) is event.received with every XML field.
 */
import type { InboundMessage } from '../wechat/messages'
import { camelFields } from '../wechat/fields'
import type { EventType } from './events.service'

const QRSCENE_PREFIX = 'qrscene_'
const MENU_EVENTS: ReadonlySet<string> = new Set([
  'CLICK', 'VIEW', 'scancode_push', 'scancode_waitmsg', 'pic_sysphoto', 'pic_photo_or_album', 'pic_weixin', 'location_select', 'view_miniprogram',
])
/** Header fields that become channel/openid, or are WeChat's wiring rather than the message. */
const HEADER = new Set(['raw', 'kind', 'toUserName', 'fromUserName'])

/**
 * The event a callback produces when no rule claimed it (see HandlerContext.claim). A claimed subscribe is
 * still user.subscribed (the follow happened; only its scene was a bind code); any other claimed message
 * produces no event of its own (the rule emitted what it is: binding.*, message.delivered …).
 */
export const callbackEventType = (m: InboundMessage, claimed: boolean): EventType | undefined => {
  if (m.msgType !== 'event') return claimed ? undefined : 'message.received'
  const event = (m as { event?: string }).event
  if (event === 'subscribe') return 'user.subscribed'
  if (claimed) return undefined
  if (event === 'unsubscribe') return 'user.unsubscribed'
  if (event === 'SCAN') return 'user.scanned'
  if (event === 'LOCATION' && m.kind === 'LOCATION') return 'location.reported'
  if (event !== undefined && MENU_EVENTS.has(event) && m.kind !== 'unknown') return 'menu.clicked'
  return 'event.received'
}

/**
 * The types the callback event of a stored row can have, from its MsgType, Event and claim alone (without
 * parsing its XML): an endpoint that wants none of them can skip the row. The exact one is
 * callbackEventType's (a LOCATION or menu event WeChat sent without its fields is event.received).
 */
export const callbackEventCandidates = (msgType: string, event: string | null, claimed: boolean): EventType[] => {
  if (msgType !== 'event') return claimed ? [] : ['message.received']
  if (event === 'subscribe') return ['user.subscribed']
  if (claimed) return []
  if (event === 'unsubscribe') return ['user.unsubscribed']
  if (event === 'SCAN') return ['user.scanned']
  if (event === 'LOCATION') return ['location.reported', 'event.received']
  if (event !== null && MENU_EVENTS.has(event)) return ['menu.clicked', 'event.received']
  return ['event.received']
}

const iso = (unixSeconds: number) => new Date(unixSeconds * 1000).toISOString()

/** Drops undefined values (absent optional fields), so the JSON has no holes. */
const defined = (o: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v
  return out
}

/**
 * The fields of a parsed message in camelCase (the typed fields for known types, every XML field for
 * unknown ones), without the account/user header: `data` of the inbound history and of message.received.
 */
export const messageFields = (m: InboundMessage): Record<string, unknown> => {
  if (m.kind === 'unknown') {
    const { toUserName: _t, fromUserName: _f, ...rest } = camelFields(m.raw) as Record<string, unknown>
    return defined({ ...rest, msgType: m.msgType, ...(m.event !== undefined ? { event: m.event } : {}), createTime: iso(m.createTime) })
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(m)) if (!HEADER.has(k) && v !== undefined) out[k] = v
  out.createTime = iso(m.createTime)
  return out
}

export interface CallbackEventContext {
  channel: string
  /** The subject of the OpenID's binding, if it has one. */
  subject?: string
  /** A rule claimed the message (its QR scene was a bind code): no scene in user.subscribed. */
  claimed: boolean
  /** The inbound history's id of the message (`in_…`: GET /api/inbound/:id). */
  inboundId?: string
}

/** `data` of the callback's event of this type (SPEC §6's table). */
export const callbackEventData = (type: EventType, m: InboundMessage, c: CallbackEventContext): Record<string, unknown> => {
  const who = {
    channel: c.channel, openid: m.fromUserName,
    ...(c.subject !== undefined ? { subject: c.subject } : {}),
    ...(c.inboundId !== undefined ? { inboundId: c.inboundId } : {}),
  }
  const createTime = iso(m.createTime)
  switch (type) {
    case 'message.received': {
      const { msgId, msgType, createTime: _c, ...typed } = messageFields(m)
      return { ...who, ...(msgId !== undefined ? { msgId } : {}), msgType, createTime, ...typed }
    }
    case 'user.subscribed': {
      const key = 'eventKey' in m ? m.eventKey : undefined
      const scene = !c.claimed && key?.startsWith(QRSCENE_PREFIX) ? key.slice(QRSCENE_PREFIX.length) : undefined
      return { ...who, ...(scene ? { scene } : {}), createTime }
    }
    case 'user.unsubscribed':
      return { ...who, createTime }
    case 'user.scanned':
      return { ...who, scene: ('eventKey' in m ? m.eventKey : undefined) ?? '', createTime }
    case 'location.reported':
      if (m.kind !== 'LOCATION') break
      return { ...who, latitude: m.latitude, longitude: m.longitude, precision: m.precision, createTime }
    case 'menu.clicked': {
      if (m.msgType !== 'event' || m.kind === 'unknown') break
      const { event, eventKey, msgType: _m, createTime: _c, ...extra } = messageFields(m)
      return { ...who, event, key: eventKey ?? '', ...extra, createTime }
    }
    default:
      break
  }
  // event.received: every XML field in camelCase (FromUserName is the openid).
  const { fromUserName: _f, event: sent, createTime: _c, ...fields } = camelFields(m.raw) as Record<string, unknown>
  return { ...who, event: (m as { event?: string }).event ?? sent, ...fields, createTime }
}
