/** Customer-service message bodies (src/domain/customer-message.ts): WeChat's field names, and a late reply hook answer as one. */
import { describe, expect, test } from 'bun:test'
import { CustomerMessage, customPayload } from '../../src/domain/customer-message'
import { lateMessageOf } from '../../src/domain/reply-hook'
import type { Reply } from '../../src/wechat/replies'

describe('customPayload', () => {
  test('optional fields left out are not sent as null or undefined', () => {
    const m = CustomerMessage.parse({ type: 'video', video: { mediaId: 'V' } })
    expect(customPayload(m)).toEqual({ msgtype: 'video', video: { media_id: 'V' } })
    expect(JSON.stringify(customPayload(CustomerMessage.parse({ type: 'music', music: { thumbMediaId: 'T' } })))).toBe('{"msgtype":"music","music":{"thumb_media_id":"T"}}')
  })
})

describe('lateMessageOf: a reply hook\'s late answer as a customer-service message', () => {
  test('each reply type as its customer-service message, valid for CustomerMessage', () => {
    const cases: [Record<string, unknown> & { type: string }, unknown][] = [
      [{ type: 'text', content: '您好' }, { type: 'text', text: { content: '您好' } }],
      [{ type: 'image', mediaId: 'I' }, { type: 'image', image: { mediaId: 'I' } }],
      [{ type: 'voice', mediaId: 'V' }, { type: 'voice', voice: { mediaId: 'V' } }],
      [{ type: 'video', mediaId: 'M', title: 't' }, { type: 'video', video: { mediaId: 'M', title: 't' } }],
      [{ type: 'music', thumbMediaId: 'T', musicUrl: 'https://m.example.com/a.mp3' }, { type: 'music', music: { thumbMediaId: 'T', musicUrl: 'https://m.example.com/a.mp3' } }],
    ]
    for (const [reply, cs] of cases) {
      expect(lateMessageOf(reply as Reply)).toEqual(cs as Record<string, unknown> & { type: string })
      expect(CustomerMessage.safeParse(lateMessageOf(reply as Reply)).success).toBe(true)
    }
  })

  test('news keeps its first article (one is all a customer-service news message takes); transfer_customer_service has no form', () => {
    const a = { title: 'a', url: 'https://a.example.com/' }
    const m = lateMessageOf({ type: 'news', articles: [a, { title: 'b', url: 'https://b.example.com/' }] })
    expect(m).toEqual({ type: 'news', news: { articles: [a] } })
    expect(CustomerMessage.safeParse(m).success).toBe(true)
    expect(lateMessageOf({ type: 'transfer_customer_service' })).toBeUndefined()
  })
})
