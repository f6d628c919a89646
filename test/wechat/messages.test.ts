/** @module Tests for src/wechat/messages.ts: every inbound sample in vectors.json parses to its typed shape. */
import { describe, expect, test } from 'bun:test'
import { BadXmlError } from '../../src/lib/errors.ts'
import { type InboundMessage, normalizeEventName, parseMessage } from '../../src/wechat/messages.ts'
import { parseXml } from '../../src/wechat/xml.ts'
import vectors from '../fixtures/vectors.json'

type SampleName = keyof typeof vectors.samples

const parse = (raw: string): InboundMessage => parseMessage(parseXml(raw))

/** Everything but `raw`, which is checked separately (it is the parseXml output, untouched). */
const shape = (m: InboundMessage): Record<string, unknown> => {
  const { raw: _raw, ...rest } = m
  return rest
}

const docUser = { toUserName: 'toUser', fromUserName: 'FromUser', createTime: 123456789 }
const menuUser = { toUserName: 'gh_e136c6e50636', fromUserName: 'oMgHVjngRipVsoxg6TuX3vz6glDg' }
const tmplUser = { toUserName: 'gh_7f083739789a', fromUserName: 'oia2TjuEGTNoeX76QEjQNrcURxG8', msgType: 'event', kind: 'TEMPLATESENDJOBFINISH', event: 'TEMPLATESENDJOBFINISH' }
const subUser = { toUserName: 'gh_123456789abc', fromUserName: 'otFpruAK8D-E6EfStSYonYSBZ8_4', msgType: 'event' }
const templateIds = ['VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc', '9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI'] as const

/** The expected value of every inbound sample (fields exactly as in the sample text). */
const expected: Partial<Record<SampleName, Record<string, unknown>>> = {
  text: { kind: 'text', msgType: 'text', toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1348831860, content: 'this is a test', msgId: '1234567890123456', msgDataId: 'xxxx', idx: 'xxxx' },
  text_classic: { kind: 'text', msgType: 'text', toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1348831860, content: 'this is a test', msgId: '1234567890123456' },
  image: { kind: 'image', msgType: 'image', toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1348831860, picUrl: 'this is a url', mediaId: 'media_id', msgId: '1234567890123456', msgDataId: 'xxxx', idx: 'xxxx' },
  voice: { kind: 'voice', msgType: 'voice', toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1357290913, mediaId: 'media_id', format: 'Format', mediaId16K: 'media_id_16k', msgId: '1234567890123456', msgDataId: 'xxxx', idx: 'xxxx' },
  voice_with_recognition: { kind: 'voice', msgType: 'voice', toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1357290913, mediaId: 'media_id', format: 'Format', recognition: '腾讯微信团队', msgId: '1234567890123456' },
  video: { kind: 'video', msgType: 'video', toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1357290913, mediaId: 'media_id', thumbMediaId: 'thumb_media_id', msgId: '1234567890123456', msgDataId: 'xxxx', idx: 'xxxx' },
  shortvideo: { kind: 'shortvideo', msgType: 'shortvideo', toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1357290913, mediaId: 'media_id', thumbMediaId: 'thumb_media_id', msgId: '1234567890123456' },
  location: { kind: 'location', msgType: 'location', toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1351776360, locationX: '23.134521', locationY: '113.358803', scale: '20', label: '位置信息', msgId: '1234567890123456', msgDataId: 'xxxx', idx: 'xxxx' },
  link: { kind: 'link', msgType: 'link', toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1351776360, title: '公众平台官网链接', description: '公众平台官网链接', url: 'url', msgId: '1234567890123456', msgDataId: 'xxxx', idx: 'xxxx' },
  compat_mode_post_body: { kind: 'text', msgType: 'text', toUserName: 'gh_10f6c3c3ac5a', fromUserName: 'oyORnuP8q7ou2gfYjqLzSIWZf0rs', createTime: 1409735668, content: 'abcdteT', msgId: '6054768590064713728' },

  subscribe: { kind: 'subscribe', msgType: 'event', event: 'subscribe', ...docUser },
  subscribe_qrscene: { kind: 'subscribe', msgType: 'event', event: 'subscribe', ...docUser, eventKey: 'qrscene_123123', ticket: 'TICKET' },
  SCAN: { kind: 'SCAN', msgType: 'event', event: 'SCAN', ...docUser, eventKey: 'SCENE_VALUE', ticket: 'TICKET' },
  unsubscribe: { kind: 'unsubscribe', msgType: 'event', event: 'unsubscribe', ...docUser },
  LOCATION: { kind: 'LOCATION', msgType: 'event', event: 'LOCATION', ...docUser, fromUserName: 'fromUser', latitude: '23.137466', longitude: '113.352425', precision: '119.385040' },
  CLICK: { kind: 'CLICK', msgType: 'event', event: 'CLICK', ...docUser, eventKey: 'EVENTKEY' },
  VIEW: { kind: 'VIEW', msgType: 'event', event: 'VIEW', ...docUser, eventKey: 'www.qq.com', menuId: 'MENUID' },
  view_miniprogram: { kind: 'view_miniprogram', msgType: 'event', event: 'view_miniprogram', ...docUser, eventKey: 'pages/index/index', menuId: 'MENUID' },
  scancode_push: { kind: 'scancode_push', msgType: 'event', event: 'scancode_push', ...menuUser, createTime: 1408090502, eventKey: '6', scanCodeInfo: { scanType: 'qrcode', scanResult: '1' } },
  scancode_waitmsg: { kind: 'scancode_waitmsg', msgType: 'event', event: 'scancode_waitmsg', ...menuUser, createTime: 1408090606, eventKey: '6', scanCodeInfo: { scanType: 'qrcode', scanResult: '2' } },
  pic_sysphoto: { kind: 'pic_sysphoto', msgType: 'event', event: 'pic_sysphoto', ...menuUser, createTime: 1408090651, eventKey: '6', sendPicsInfo: { count: 1, picList: [{ picMd5Sum: '1b5f7c23b5bf75682a53e7b6d163e185' }] } },
  pic_photo_or_album: { kind: 'pic_photo_or_album', msgType: 'event', event: 'pic_photo_or_album', ...menuUser, createTime: 1408090816, eventKey: '6', sendPicsInfo: { count: 1, picList: [{ picMd5Sum: '5a75aaca956d97be686719218f275c6b' }] } },
  pic_weixin: { kind: 'pic_weixin', msgType: 'event', event: 'pic_weixin', ...menuUser, createTime: 1408090816, eventKey: '6', sendPicsInfo: { count: 1, picList: [{ picMd5Sum: '5a75aaca956d97be686719218f275c6b' }] } },
  location_select: {
    kind: 'location_select', msgType: 'event', event: 'location_select', ...menuUser, createTime: 1408091189, eventKey: '6',
    sendLocationInfo: { locationX: '23', locationY: '113', scale: '15', label: '广州市海珠区客村艺苑路 106号', poiname: '' },
  },
  TEMPLATESENDJOBFINISH_success: { ...tmplUser, createTime: 1395658920, msgId: '200163836', status: 'success' },
  TEMPLATESENDJOBFINISH_user_block: { ...tmplUser, createTime: 1395658984, msgId: '200163840', status: 'failed:user block' },
  TEMPLATESENDJOBFINISH_system_failed: { ...tmplUser, createTime: 1395658984, msgId: '200163840', status: 'failed: system failed' },
  TEMPLATESENDJOBFINISH_compat_mode_observed: { ...tmplUser, toUserName: 'gh_f5b69a2ea37b', fromUserName: 'ovPQ26Vgx51Ep-HoZqOITMHLk6eg', createTime: 1717466001, msgId: '3487542469355618313', status: 'failed:user block' },
  MASSSENDJOBFINISH: {
    kind: 'MASSSENDJOBFINISH', msgType: 'event', event: 'MASSSENDJOBFINISH', toUserName: 'gh_4d00ed8d6399', fromUserName: 'oV5CrjpxgaGXNHIQigzNlgLTnwic', createTime: 1481013459,
    msgId: '1000001625', status: 'err(30003)', totalCount: 0, filterCount: 0, sentCount: 0, errorCount: 0,
  },
  subscribe_msg_popup_event: {
    kind: 'subscribe_msg_popup_event', event: 'subscribe_msg_popup_event', ...subUser, createTime: 1610969440,
    list: [
      { templateId: templateIds[0], subscribeStatusString: 'accept', popupScene: '2' },
      { templateId: templateIds[1], subscribeStatusString: 'reject', popupScene: '2' },
    ],
  },
  subscribe_msg_change_event: {
    kind: 'subscribe_msg_change_event', event: 'subscribe_msg_change_event', ...subUser, createTime: 1610969440,
    list: [{ templateId: templateIds[0], subscribeStatusString: 'reject' }],
  },
  subscribe_msg_sent_event: {
    kind: 'subscribe_msg_sent_event', event: 'subscribe_msg_sent_event', ...subUser, createTime: 1610969468,
    list: [{ templateId: templateIds[0], msgId: '1700827132819554304', errorCode: '0', errorStatus: 'success' }],
  },
}

/** Samples that are not inbound messages (safe-mode envelope without MsgType, reply XML). */
const notInbound = (name: string): boolean => name.startsWith('reply_') || name === 'encrypted_reply_envelope' || name === 'safe_mode_post_body'

describe('parseMessage on every inbound sample', () => {
  test('every sample is either expected here or known not to be inbound', () => {
    const missing = Object.keys(vectors.samples).filter((n) => !notInbound(n) && !(n in expected))
    expect(missing).toEqual([])
  })

  for (const [name, want] of Object.entries(expected)) {
    test(name, () => {
      const raw = vectors.samples[name as SampleName]
      const m = parse(raw)
      expect(shape(m)).toEqual(want!)
      expect(m.raw).toEqual(parseXml(raw))
    })
  }

  test('MsgId and MsgID stay strings with every digit (they exceed 2^53)', () => {
    const m = parse(vectors.samples.compat_mode_post_body)
    expect(m.kind === 'text' && typeof m.msgId).toBe('string')
    expect(m.kind === 'text' && m.msgId).toBe('6054768590064713728')
    expect(Number('6054768590064713728').toString()).not.toBe('6054768590064713728') // why it must be a string
    const t = parse(vectors.samples.TEMPLATESENDJOBFINISH_compat_mode_observed)
    expect(t.kind === 'TEMPLATESENDJOBFINISH' && t.msgId).toBe('3487542469355618313')
  })

  test('the safe-mode envelope has no MsgType and is refused', () => {
    expect(() => parse(vectors.samples.safe_mode_post_body)).toThrow(BadXmlError)
  })
})

const xml = (fields: Record<string, string>): string =>
  `<xml>${Object.entries(fields).map(([k, v]) => `<${k}><![CDATA[${v}]]></${k}>`).join('')}</xml>`

const header = { ToUserName: 'gh_1', FromUserName: 'o_user', CreateTime: '1700000000' }

describe('parseMessage refusals (BadXmlError)', () => {
  const text = { ...header, MsgType: 'text', Content: 'hi', MsgId: '1' }
  const cases: [string, Record<string, string>][] = [
    ['missing MsgType', { ...header, Content: 'hi', MsgId: '1' }],
    ['empty MsgType', { ...text, MsgType: '' }],
    ['missing FromUserName', { ToUserName: 'gh_1', CreateTime: '1', MsgType: 'text', MsgId: '1' }],
    ['missing ToUserName', { FromUserName: 'o', CreateTime: '1', MsgType: 'text', MsgId: '1' }],
    ['blank ToUserName', { ...text, ToUserName: '  ' }],
    ['missing CreateTime', { ToUserName: 'gh_1', FromUserName: 'o', MsgType: 'text', MsgId: '1' }],
    ['CreateTime not an integer', { ...text, CreateTime: '1700000000.5' }],
    ['CreateTime negative', { ...text, CreateTime: '-1' }],
    ['CreateTime text', { ...text, CreateTime: 'yesterday' }],
    ['an event without Event', { ...header, MsgType: 'event', EventKey: 'x' }],
    ['an event with empty Event', { ...header, MsgType: 'event', Event: '' }],
  ]
  for (const [name, f] of cases) test(name, () => expect(() => parse(xml(f))).toThrow(BadXmlError))

  for (const t of ['text', 'image', 'voice', 'video', 'shortvideo', 'location', 'link']) {
    test(`${t} without MsgId`, () => {
      expect(() => parse(xml({ ...header, MsgType: t }))).toThrow(BadXmlError)
      expect(() => parse(xml({ ...header, MsgType: t, MsgId: '' }))).toThrow(BadXmlError)
    })
  }

  test('a MsgType that is an element, not text', () => {
    expect(() => parse('<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType><x>1</x></MsgType></xml>')).toThrow(BadXmlError)
  })

  test('the error says which field is missing', () => {
    expect(() => parse(xml({ ...header, MsgType: 'text' }))).toThrow('missing MsgId')
    expect(() => parse(xml({ ToUserName: 'gh', CreateTime: '1', MsgType: 'event', Event: 'CLICK' }))).toThrow('missing FromUserName')
  })
})

describe('parseMessage details', () => {
  test('CJK and emoji Content is preserved exactly', () => {
    const content = '你好，世界 👋🏽 😀 テスト\n第二行'
    const m = parse(xml({ ...header, MsgType: 'text', Content: content, MsgId: '42' }))
    expect(m.kind === 'text' && m.content).toBe(content)
  })

  test('known Event names in other cases are normalised; unknown ones are kept as sent', () => {
    const scan = parse(xml({ ...header, MsgType: 'event', Event: 'scan', EventKey: '123', Ticket: 't' }))
    expect(scan.kind).toBe('SCAN')
    expect(scan.kind === 'SCAN' && scan.event).toBe('SCAN')
    expect(scan.raw.Event).toBe('scan')
    expect(parse(xml({ ...header, MsgType: 'event', Event: 'click', EventKey: 'k' })).kind).toBe('CLICK')
    expect(parse(xml({ ...header, MsgType: 'event', Event: 'view', EventKey: 'https://x' })).kind).toBe('VIEW')
    expect(parse(xml({ ...header, MsgType: 'event', Event: 'Subscribe' })).kind).toBe('subscribe')
    expect(parse(xml({ ...header, MsgType: 'event', Event: 'location' })).kind).toBe('LOCATION')
    expect(parse(xml({ ...header, MsgType: 'event', Event: 'templatesendjobfinish', MsgID: '9', Status: 'success' })).kind).toBe('TEMPLATESENDJOBFINISH')
    expect(normalizeEventName('kf_create_session')).toBe('kf_create_session')
    expect(normalizeEventName('SCAN')).toBe('SCAN')
  })

  test('known MsgType in another case is normalised', () => {
    const m = parse(xml({ ...header, MsgType: 'Text', Content: 'x', MsgId: '1' }))
    expect(m.kind).toBe('text')
    expect(m.msgType).toBe('text')
    expect(parse(xml({ ...header, MsgType: 'EVENT', Event: 'unsubscribe' })).kind).toBe('unsubscribe')
  })

  test('unknown MsgType keeps every raw field', () => {
    const f = { ...header, MsgType: 'file', Title: 'a.pdf', MsgId: '77' }
    const m = parse(xml(f))
    expect(shape(m)).toEqual({ kind: 'unknown', msgType: 'file', toUserName: 'gh_1', fromUserName: 'o_user', createTime: 1700000000, msgId: '77' })
    expect(m.raw).toEqual(f)
  })

  test('unknown Event keeps every raw field and its name as sent', () => {
    const f = { ...header, MsgType: 'event', Event: 'kf_create_session', KfAccount: 'test1@test' }
    const m = parse(xml(f))
    expect(shape(m)).toEqual({ kind: 'unknown', msgType: 'event', event: 'kf_create_session', toUserName: 'gh_1', fromUserName: 'o_user', createTime: 1700000000 })
    expect(m.raw).toEqual(f)
  })

  test('plain subscribe with an empty EventKey has no eventKey; SCAN keeps its key', () => {
    const s = parse(xml({ ...header, MsgType: 'event', Event: 'subscribe', EventKey: '' }))
    expect(s.kind === 'subscribe' && s.eventKey).toBeUndefined()
    const paid = parse(xml({ ...header, MsgType: 'event', Event: 'subscribe', EventKey: 'last_trade_no_4008072001201701105817415015' }))
    expect(paid.kind === 'subscribe' && paid.eventKey).toBe('last_trade_no_4008072001201701105817415015')
  })

  test('a CLICK without EventKey gets an empty key rather than being refused', () => {
    const m = parse(xml({ ...header, MsgType: 'event', Event: 'CLICK' }))
    expect(m.kind === 'CLICK' && m.eventKey).toBe('')
  })

  test('TEMPLATESENDJOBFINISH without MsgID becomes unknown (kept, answered, not matched to a send)', () => {
    const m = parse(xml({ ...header, MsgType: 'event', Event: 'TEMPLATESENDJOBFINISH', Status: 'success' }))
    expect(m.kind).toBe('unknown')
    expect(m.kind === 'unknown' && m.event).toBe('TEMPLATESENDJOBFINISH')
  })

  test('miniprogrampage (wechatpy test_messages.py values)', () => {
    const f = { ...header, MsgType: 'miniprogrampage', Title: '文章标题', AppId: 'wx123123123', PagePath: '/pages/index', ThumbUrl: 'http://x/1.jpg', ThumbMediaId: 'thumb', MsgId: '1234567890123456' }
    expect(shape(parse(xml(f)))).toEqual({
      kind: 'miniprogrampage', msgType: 'miniprogrampage', toUserName: 'gh_1', fromUserName: 'o_user', createTime: 1700000000,
      title: '文章标题', appId: 'wx123123123', pagePath: '/pages/index', thumbUrl: 'http://x/1.jpg', thumbMediaId: 'thumb', msgId: '1234567890123456',
    })
    const noId = { ...f, MsgId: '' }
    expect(parse(xml(noId)).kind).toBe('unknown')
  })

  test('several pictures in SendPicsInfo become a list', () => {
    const raw =
      '<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType>' +
      '<Event>pic_weixin</Event><EventKey>6</EventKey><SendPicsInfo><Count>2</Count><PicList>' +
      '<item><PicMd5Sum>aaa</PicMd5Sum></item><item><PicMd5Sum>bbb</PicMd5Sum></item></PicList></SendPicsInfo></xml>'
    const m = parse(raw)
    expect(m.kind === 'pic_weixin' && m.sendPicsInfo).toEqual({ count: 2, picList: [{ picMd5Sum: 'aaa' }, { picMd5Sum: 'bbb' }] })
  })

  test('fields given as numbers (another parser) are accepted', () => {
    const m = parseMessage({ ToUserName: 'gh', FromUserName: 'o', CreateTime: 1700000000, MsgType: 'event', Event: 'CLICK', EventKey: 'k' })
    expect(shape(m)).toEqual({ kind: 'CLICK', msgType: 'event', event: 'CLICK', toUserName: 'gh', fromUserName: 'o', createTime: 1700000000, eventKey: 'k' })
  })
})
