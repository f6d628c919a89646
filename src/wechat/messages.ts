/** @module Typed inbound messages and events: `parseMessage(parseXml(body))` turns the fields of a
 * callback into one member of the `InboundMessage` union, discriminated by `kind`.
 * Ordinary messages: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
 * Events: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html
 * Menu events: https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Custom_Menu_Push.html
 * Template job events: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
 */
import { BadXmlError } from '../lib/errors.ts'
import { asArray } from './xml.ts'

// ---------------------------------------------------------------------------------------------------
// Types. `kind` is the MsgType for ordinary messages and the canonical Event name for events; the two
// sets do not overlap except by case ('location' is the message, 'LOCATION' the event).
// Every value other than `createTime` (and a few counts) stays the string WeChat sent: ids exceed 2^53
// and coordinates keep their exact decimal text.
// ---------------------------------------------------------------------------------------------------

interface Header {
  /** The account's original ID (gh_…). */
  toUserName: string
  /** The user's OpenID. */
  fromUserName: string
  /** Unix seconds. */
  createTime: number
  /** Every parsed field, untouched (nested elements as objects/arrays). */
  raw: Record<string, unknown>
}

interface MessageHeader<K extends string> extends Header {
  kind: K
  msgType: K
  /** 64-bit id: always a string, never a number. */
  msgId: string
  /** Only when the message comes from an article (comment context). */
  msgDataId?: string
  idx?: string
}

export interface TextMessage extends MessageHeader<'text'> { content: string }
export interface ImageMessage extends MessageHeader<'image'> { picUrl: string; mediaId: string }
export interface VoiceMessage extends MessageHeader<'voice'> {
  mediaId: string
  format: string
  mediaId16K?: string
  /** Only when voice recognition is enabled for the account. */
  recognition?: string
}
export interface VideoMessage extends MessageHeader<'video'> { mediaId: string; thumbMediaId: string }
export interface ShortVideoMessage extends MessageHeader<'shortvideo'> { mediaId: string; thumbMediaId: string }
export interface LocationMessage extends MessageHeader<'location'> {
  /** Latitude (Location_X). */
  locationX: string
  /** Longitude (Location_Y). */
  locationY: string
  scale: string
  label: string
}
export interface LinkMessage extends MessageHeader<'link'> { title: string; description: string; url: string }
/** Mini-program customer-service only (not sent to Official Accounts); wechatpy tests/test_messages.py. */
export interface MiniProgramPageMessage extends MessageHeader<'miniprogrampage'> {
  title: string
  appId: string
  pagePath: string
  thumbUrl: string
  thumbMediaId: string
}

interface EventHeader<K extends string> extends Header {
  kind: K
  msgType: 'event'
  /** The canonical Event name ('SCAN' even when the account sent 'scan'). */
  event: K
  eventKey?: string
}

/** Plain follow: no EventKey. Follow via a parametric QR: EventKey `qrscene_<scene>` and Ticket. */
export interface SubscribeEvent extends EventHeader<'subscribe'> { ticket?: string }
export interface UnsubscribeEvent extends EventHeader<'unsubscribe'> {}
/** A follower scans a parametric QR: EventKey is the scene value without prefix. */
export interface ScanEvent extends EventHeader<'SCAN'> { eventKey: string; ticket?: string }
export interface LocationEvent extends EventHeader<'LOCATION'> { latitude: string; longitude: string; precision: string }
export interface ClickEvent extends EventHeader<'CLICK'> { eventKey: string }
/** EventKey is the URL. */
export interface ViewEvent extends EventHeader<'VIEW'> { eventKey: string; menuId?: string }
export interface ScanCodeInfo { scanType: string; scanResult: string }
export interface ScanCodePushEvent extends EventHeader<'scancode_push'> { eventKey: string; scanCodeInfo: ScanCodeInfo }
export interface ScanCodeWaitMsgEvent extends EventHeader<'scancode_waitmsg'> { eventKey: string; scanCodeInfo: ScanCodeInfo }
export interface SendPicsInfo { count: number; picList: { picMd5Sum: string }[] }
export interface PicSysPhotoEvent extends EventHeader<'pic_sysphoto'> { eventKey: string; sendPicsInfo: SendPicsInfo }
export interface PicPhotoOrAlbumEvent extends EventHeader<'pic_photo_or_album'> { eventKey: string; sendPicsInfo: SendPicsInfo }
export interface PicWeixinEvent extends EventHeader<'pic_weixin'> { eventKey: string; sendPicsInfo: SendPicsInfo }
export interface SendLocationInfo { locationX: string; locationY: string; scale: string; label: string; poiname: string }
export interface LocationSelectEvent extends EventHeader<'location_select'> { eventKey: string; sendLocationInfo: SendLocationInfo }
/** EventKey is the mini-program page path. */
export interface ViewMiniProgramEvent extends EventHeader<'view_miniprogram'> { eventKey: string; menuId?: string }
/**
 * Result of a template message. `msgId` comes from `MsgID` (capital ID). Status is `success`,
 * `failed:user block`, `failed: system failed`, or something new (`failed:freq limit`): treat any
 * other value as failure.
 */
export interface TemplateSendJobFinishEvent extends EventHeader<'TEMPLATESENDJOBFINISH'> { msgId: string; status: string }
/** Result of a mass send; the copyright-check details stay in `raw`. */
export interface MassSendJobFinishEvent extends EventHeader<'MASSSENDJOBFINISH'> {
  msgId: string
  status: string
  totalCount?: number
  filterCount?: number
  sentCount?: number
  errorCount?: number
}
export interface SubscribeMsgPopupEvent extends EventHeader<'subscribe_msg_popup_event'> {
  list: { templateId: string; subscribeStatusString: string; popupScene: string }[]
}
export interface SubscribeMsgChangeEvent extends EventHeader<'subscribe_msg_change_event'> {
  list: { templateId: string; subscribeStatusString: string }[]
}
export interface SubscribeMsgSentEvent extends EventHeader<'subscribe_msg_sent_event'> {
  list: { templateId: string; msgId: string; errorCode: string; errorStatus: string }[]
}

/**
 * Anything else: an unknown MsgType or Event, or a known type missing a field its typed shape needs
 * (see parseMessage). Stored and answered `success`; every field stays in `raw`.
 */
export interface UnknownMessage extends Header {
  kind: 'unknown'
  msgType: string
  /** Present when MsgType is `event` (canonical name if known, else as sent). */
  event?: string
  eventKey?: string
  /** `MsgId`, or `MsgID` for job-result events, when present. */
  msgId?: string
}

export type OrdinaryMessage =
  | TextMessage
  | ImageMessage
  | VoiceMessage
  | VideoMessage
  | ShortVideoMessage
  | LocationMessage
  | LinkMessage
  | MiniProgramPageMessage

export type InboundEvent =
  | SubscribeEvent
  | UnsubscribeEvent
  | ScanEvent
  | LocationEvent
  | ClickEvent
  | ViewEvent
  | ScanCodePushEvent
  | ScanCodeWaitMsgEvent
  | PicSysPhotoEvent
  | PicPhotoOrAlbumEvent
  | PicWeixinEvent
  | LocationSelectEvent
  | ViewMiniProgramEvent
  | TemplateSendJobFinishEvent
  | MassSendJobFinishEvent
  | SubscribeMsgPopupEvent
  | SubscribeMsgChangeEvent
  | SubscribeMsgSentEvent

export type InboundMessage = OrdinaryMessage | InboundEvent | UnknownMessage

export type MessageKind = InboundMessage['kind']

// ---------------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------------

export const MESSAGE_TYPES = ['text', 'image', 'voice', 'video', 'shortvideo', 'location', 'link', 'miniprogrampage'] as const

/** Ordinary message types that always carry a MsgId (per the official receive-message page). */
const MSGID_REQUIRED: ReadonlySet<string> = new Set(['text', 'image', 'voice', 'video', 'shortvideo', 'location', 'link'])

export const EVENT_NAMES = [
  'subscribe',
  'unsubscribe',
  'SCAN',
  'LOCATION',
  'CLICK',
  'VIEW',
  'scancode_push',
  'scancode_waitmsg',
  'pic_sysphoto',
  'pic_photo_or_album',
  'pic_weixin',
  'location_select',
  'view_miniprogram',
  'TEMPLATESENDJOBFINISH',
  'MASSSENDJOBFINISH',
  'subscribe_msg_popup_event',
  'subscribe_msg_change_event',
  'subscribe_msg_sent_event',
] as const

const byLowerCase = (names: readonly string[]): Map<string, string> => new Map(names.map((n) => [n.toLowerCase(), n]))
const canonicalMsgType = byLowerCase([...MESSAGE_TYPES, 'event'])
const canonicalEventName = byLowerCase(EVENT_NAMES)

/**
 * WeChat documents each Event name in one case ('subscribe', 'SCAN', 'CLICK'), but some accounts receive
 * other casings ('scan', 'click', 'view'). Known names are mapped to the documented spelling; unknown
 * names are returned as sent.
 */
export const normalizeEventName = (event: string): string => canonicalEventName.get(event.toLowerCase()) ?? event

// ---------------------------------------------------------------------------------------------------
// Field helpers: leaves are strings (parseXml), nested elements objects, repeated ones arrays.
// ---------------------------------------------------------------------------------------------------

type Fields = Record<string, unknown>

const isObject = (v: unknown): v is Fields => v !== null && typeof v === 'object' && !Array.isArray(v)

/** A leaf value as a string; numbers are accepted in case the fields came from another parser. */
const leaf = (v: unknown): string | undefined => {
  if (typeof v === 'string') return v
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  return undefined
}

/** Optional field: undefined when absent or not a leaf. */
const opt = (f: Fields, name: string): string | undefined => leaf(f[name])
/** Field the documented shape always has: '' when WeChat leaves it out, rather than refusing the message. */
const str = (f: Fields, name: string): string => leaf(f[name]) ?? ''
/** Optional field that must not be empty to be meaningful (EventKey of a plain subscribe is absent or ''). */
const nonEmpty = (f: Fields, name: string): string | undefined => {
  const v = opt(f, name)
  return v === undefined || v === '' ? undefined : v
}
const int = (f: Fields, name: string): number | undefined => {
  const v = opt(f, name)
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined
}
const child = (f: Fields, name: string): Fields => {
  const v = f[name]
  return isObject(v) ? v : {}
}
const objects = (v: unknown): Fields[] => asArray(v).filter(isObject)

const required = (f: Fields, name: string): string => {
  const v = leaf(f[name])
  if (v === undefined || v.trim() === '') throw new BadXmlError(`missing ${name}`)
  return v
}

const parseCreateTime = (f: Fields): number => {
  const v = required(f, 'CreateTime')
  if (!/^\d{1,15}$/.test(v)) throw new BadXmlError(`CreateTime is not an integer: ${JSON.stringify(v)}`)
  return Number(v)
}

const scanCodeInfo = (f: Fields): ScanCodeInfo => {
  const s = child(f, 'ScanCodeInfo')
  return { scanType: str(s, 'ScanType'), scanResult: str(s, 'ScanResult') }
}

const sendPicsInfo = (f: Fields): SendPicsInfo => {
  const s = child(f, 'SendPicsInfo')
  const picList = objects(child(s, 'PicList').item).map((i) => ({ picMd5Sum: str(i, 'PicMd5Sum') }))
  return { count: int(s, 'Count') ?? picList.length, picList }
}

const sendLocationInfo = (f: Fields): SendLocationInfo => {
  const s = child(f, 'SendLocationInfo')
  return {
    locationX: str(s, 'Location_X'),
    locationY: str(s, 'Location_Y'),
    scale: str(s, 'Scale'),
    label: str(s, 'Label'),
    poiname: str(s, 'Poiname'),
  }
}

/** `<Wrapper><List>…</List><List>…</List></Wrapper>`: one List parses as an object, several as an array. */
const lists = (f: Fields, wrapper: string): Fields[] => objects(child(f, wrapper).List)

// ---------------------------------------------------------------------------------------------------
// parseMessage
// ---------------------------------------------------------------------------------------------------

/**
 * Turns the fields returned by `parseXml` into a typed message.
 * Throws BadXmlError when MsgType, FromUserName, ToUserName or CreateTime is missing or empty, when
 * CreateTime is not an integer, when text/image/voice/video/shortvideo/location/link lacks MsgId, or
 * when an event lacks Event. Other missing fields do not refuse the message (WeChat adds and drops
 * fields over time): documented fields default to '', optional ones stay undefined.
 * A miniprogrampage without MsgId, or a job-result event without MsgID, becomes `kind: 'unknown'`:
 * the typed shapes promise those ids, and the message is still stored and answered.
 * MsgType and Event are matched case-insensitively and reported in their documented spelling.
 */
export const parseMessage = (fields: Record<string, unknown>): InboundMessage => {
  if (!isObject(fields)) throw new BadXmlError('message fields must be an object')
  const f = fields
  const sentMsgType = required(f, 'MsgType')
  const header: Header = {
    toUserName: required(f, 'ToUserName'),
    fromUserName: required(f, 'FromUserName'),
    createTime: parseCreateTime(f),
    raw: f,
  }
  const msgType = canonicalMsgType.get(sentMsgType.toLowerCase()) ?? sentMsgType
  if (msgType === 'event') return parseEvent(f, header)

  const msgId = nonEmpty(f, 'MsgId')
  if (msgId === undefined) {
    if (MSGID_REQUIRED.has(msgType)) throw new BadXmlError(`missing MsgId in a ${msgType} message`)
    return { ...header, kind: 'unknown', msgType }
  }
  const base = { ...header, msgId, msgDataId: opt(f, 'MsgDataId'), idx: opt(f, 'Idx') }
  switch (msgType) {
    case 'text':
      return { ...base, kind: 'text', msgType, content: str(f, 'Content') }
    case 'image':
      return { ...base, kind: 'image', msgType, picUrl: str(f, 'PicUrl'), mediaId: str(f, 'MediaId') }
    case 'voice':
      return {
        ...base,
        kind: 'voice',
        msgType,
        mediaId: str(f, 'MediaId'),
        format: str(f, 'Format'),
        mediaId16K: opt(f, 'MediaId16K'),
        recognition: opt(f, 'Recognition'),
      }
    case 'video':
      return { ...base, kind: 'video', msgType, mediaId: str(f, 'MediaId'), thumbMediaId: str(f, 'ThumbMediaId') }
    case 'shortvideo':
      return { ...base, kind: 'shortvideo', msgType, mediaId: str(f, 'MediaId'), thumbMediaId: str(f, 'ThumbMediaId') }
    case 'location':
      return {
        ...base,
        kind: 'location',
        msgType,
        locationX: str(f, 'Location_X'),
        locationY: str(f, 'Location_Y'),
        scale: str(f, 'Scale'),
        label: str(f, 'Label'),
      }
    case 'link':
      return { ...base, kind: 'link', msgType, title: str(f, 'Title'), description: str(f, 'Description'), url: str(f, 'Url') }
    case 'miniprogrampage':
      return {
        ...base,
        kind: 'miniprogrampage',
        msgType,
        title: str(f, 'Title'),
        appId: str(f, 'AppId'),
        pagePath: str(f, 'PagePath'),
        thumbUrl: str(f, 'ThumbUrl'),
        thumbMediaId: str(f, 'ThumbMediaId'),
      }
    default:
      return { ...header, kind: 'unknown', msgType, msgId }
  }
}

const parseEvent = (f: Fields, header: Header): InboundMessage => {
  const event = normalizeEventName(required(f, 'Event'))
  // Events whose shape always has an EventKey get '' when it is missing; for the others an empty
  // EventKey (a plain subscribe often sends `<EventKey><![CDATA[]]></EventKey>`) is left out.
  const key = opt(f, 'EventKey') ?? ''
  const eventKey = nonEmpty(f, 'EventKey')
  const msgType = 'event' as const
  // Job-result events carry `MsgID` (capital D); ordinary messages carry `MsgId`.
  const jobMsgId = nonEmpty(f, 'MsgID')
  const unknown = (): UnknownMessage => ({ ...header, kind: 'unknown', msgType, event, eventKey, msgId: jobMsgId ?? nonEmpty(f, 'MsgId') })

  switch (event) {
    case 'subscribe':
      return { ...header, kind: event, msgType, event, eventKey, ticket: nonEmpty(f, 'Ticket') }
    case 'unsubscribe':
      return { ...header, kind: event, msgType, event, eventKey }
    case 'SCAN':
      return { ...header, kind: event, msgType, event, eventKey: key, ticket: nonEmpty(f, 'Ticket') }
    case 'LOCATION':
      return {
        ...header,
        kind: event,
        msgType,
        event,
        eventKey,
        latitude: str(f, 'Latitude'),
        longitude: str(f, 'Longitude'),
        precision: str(f, 'Precision'),
      }
    case 'CLICK':
      return { ...header, kind: event, msgType, event, eventKey: key }
    case 'VIEW':
      return { ...header, kind: event, msgType, event, eventKey: key, menuId: opt(f, 'MenuId') }
    case 'view_miniprogram':
      return { ...header, kind: event, msgType, event, eventKey: key, menuId: opt(f, 'MenuId') }
    case 'scancode_push':
      return { ...header, kind: event, msgType, event, eventKey: key, scanCodeInfo: scanCodeInfo(f) }
    case 'scancode_waitmsg':
      return { ...header, kind: event, msgType, event, eventKey: key, scanCodeInfo: scanCodeInfo(f) }
    case 'pic_sysphoto':
      return { ...header, kind: event, msgType, event, eventKey: key, sendPicsInfo: sendPicsInfo(f) }
    case 'pic_photo_or_album':
      return { ...header, kind: event, msgType, event, eventKey: key, sendPicsInfo: sendPicsInfo(f) }
    case 'pic_weixin':
      return { ...header, kind: event, msgType, event, eventKey: key, sendPicsInfo: sendPicsInfo(f) }
    case 'location_select':
      return { ...header, kind: event, msgType, event, eventKey: key, sendLocationInfo: sendLocationInfo(f) }
    case 'TEMPLATESENDJOBFINISH':
      if (jobMsgId === undefined) return unknown()
      return { ...header, kind: event, msgType, event, eventKey, msgId: jobMsgId, status: str(f, 'Status') }
    case 'MASSSENDJOBFINISH':
      if (jobMsgId === undefined) return unknown()
      return {
        ...header,
        kind: event,
        msgType,
        event,
        eventKey,
        msgId: jobMsgId,
        status: str(f, 'Status'),
        totalCount: int(f, 'TotalCount'),
        filterCount: int(f, 'FilterCount'),
        sentCount: int(f, 'SentCount'),
        errorCount: int(f, 'ErrorCount'),
      }
    case 'subscribe_msg_popup_event':
      return {
        ...header,
        kind: event,
        msgType,
        event,
        eventKey,
        list: lists(f, 'SubscribeMsgPopupEvent').map((l) => ({
          templateId: str(l, 'TemplateId'),
          subscribeStatusString: str(l, 'SubscribeStatusString'),
          popupScene: str(l, 'PopupScene'),
        })),
      }
    case 'subscribe_msg_change_event':
      return {
        ...header,
        kind: event,
        msgType,
        event,
        eventKey,
        list: lists(f, 'SubscribeMsgChangeEvent').map((l) => ({
          templateId: str(l, 'TemplateId'),
          subscribeStatusString: str(l, 'SubscribeStatusString'),
        })),
      }
    case 'subscribe_msg_sent_event':
      return {
        ...header,
        kind: event,
        msgType,
        event,
        eventKey,
        list: lists(f, 'SubscribeMsgSentEvent').map((l) => ({
          templateId: str(l, 'TemplateId'),
          msgId: str(l, 'MsgID'),
          errorCode: str(l, 'ErrorCode'),
          errorStatus: str(l, 'ErrorStatus'),
        })),
      }
    default:
      return unknown()
  }
}
