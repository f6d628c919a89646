/** @module Tests for src/wechat/dedup-key.ts. */
import { describe, expect, test } from 'bun:test'
import { dedupKey } from '../../src/wechat/dedup-key.ts'
import { parseMessage } from '../../src/wechat/messages.ts'
import { parseXml } from '../../src/wechat/xml.ts'
import vectors from '../fixtures/vectors.json'

const key = (raw: string): string => dedupKey(parseMessage(parseXml(raw)))
const xml = (fields: Record<string, string>): string =>
  `<xml>${Object.entries(fields).map(([k, v]) => `<${k}><![CDATA[${v}]]></${k}>`).join('')}</xml>`
const header = { ToUserName: 'gh_1', FromUserName: 'o_user', CreateTime: '1700000000' }

describe('dedupKey', () => {
  test('ordinary messages are keyed by MsgId only', () => {
    expect(key(vectors.samples.text)).toBe('msg:1234567890123456')
    expect(key(vectors.samples.compat_mode_post_body)).toBe('msg:6054768590064713728')
    // same MsgId, other user and time: still the same message
    expect(key(xml({ ...header, MsgType: 'image', MsgId: '1234567890123456' }))).toBe('msg:1234567890123456')
  })

  test('events: user, time, event and key', () => {
    expect(key(vectors.samples.SCAN)).toBe('evt:FromUser:123456789:SCAN:SCENE_VALUE')
    expect(key(vectors.samples.subscribe_qrscene)).toBe('evt:FromUser:123456789:subscribe:qrscene_123123')
    expect(key(vectors.samples.subscribe)).toBe('evt:FromUser:123456789:subscribe:')
    expect(key(vectors.samples.TEMPLATESENDJOBFINISH_success)).toBe('evt:oia2TjuEGTNoeX76QEjQNrcURxG8:1395658920:TEMPLATESENDJOBFINISH:200163836')
  })

  test('two TEMPLATESENDJOBFINISH of one user in the same second with different MsgID get different keys', () => {
    const a = xml({ ...header, MsgType: 'event', Event: 'TEMPLATESENDJOBFINISH', MsgID: '3487542469355618313', Status: 'success' })
    const b = xml({ ...header, MsgType: 'event', Event: 'TEMPLATESENDJOBFINISH', MsgID: '3487542469355618314', Status: 'success' })
    expect(key(a)).not.toBe(key(b))
    expect(key(a)).toBe('evt:o_user:1700000000:TEMPLATESENDJOBFINISH:3487542469355618313')
  })

  test('the same event delivered twice gets the same key', () => {
    for (const name of ['SCAN', 'CLICK', 'TEMPLATESENDJOBFINISH_user_block', 'MASSSENDJOBFINISH', 'subscribe'] as const) {
      expect(key(vectors.samples[name])).toBe(key(vectors.samples[name]))
    }
    // a retry whose Event differs only in case is the same event
    expect(key(xml({ ...header, MsgType: 'event', Event: 'scan', EventKey: '9' }))).toBe(key(xml({ ...header, MsgType: 'event', Event: 'SCAN', EventKey: '9' })))
  })

  test('different events of one user in the same second are not merged', () => {
    const scan = key(xml({ ...header, MsgType: 'event', Event: 'SCAN', EventKey: '9' }))
    const click = key(xml({ ...header, MsgType: 'event', Event: 'CLICK', EventKey: '9' }))
    const click2 = key(xml({ ...header, MsgType: 'event', Event: 'CLICK', EventKey: '10' }))
    expect(new Set([scan, click, click2]).size).toBe(3)
  })

  test('EventKey and MsgID both present: both, in that order; a ":" in EventKey is escaped', () => {
    // Not a documented combination; an unknown event carrying both keeps the rule deterministic.
    expect(key(xml({ ...header, MsgType: 'event', Event: 'PUBLISHJOBFINISH', EventKey: 'k', MsgID: '5' }))).toBe('evt:o_user:1700000000:PUBLISHJOBFINISH:k:5')
    const a = key(xml({ ...header, MsgType: 'event', Event: 'X', EventKey: 'k:5' }))
    const b = key(xml({ ...header, MsgType: 'event', Event: 'X', EventKey: 'k', MsgID: '5' }))
    expect(a).toBe('evt:o_user:1700000000:X:k%3A5')
    expect(a).not.toBe(b)
    expect(key(xml({ ...header, MsgType: 'event', Event: 'VIEW', EventKey: 'https://a.b/c' }))).toBe('evt:o_user:1700000000:VIEW:https%3A//a.b/c')
  })

  test('unknown message types: by MsgId when present, else by user and time', () => {
    expect(key(xml({ ...header, MsgType: 'file', MsgId: '88' }))).toBe('msg:88')
    expect(key(xml({ ...header, MsgType: 'miniprogrampage' }))).toBe('evt:o_user:1700000000:miniprogrampage:')
  })
})
