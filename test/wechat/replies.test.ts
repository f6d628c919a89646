/** @module Tests for src/wechat/replies.ts against every reply_* sample in vectors.json. */
import { describe, expect, test } from 'bun:test'
import { type Reply, buildReply } from '../../src/wechat/replies.ts'
import { parseXml } from '../../src/wechat/xml.ts'
import vectors from '../fixtures/vectors.json'

type SampleName = keyof typeof vectors.samples

/**
 * The samples differ in layout: reply_text..reply_voice and reply_transfer_customer_service are compact,
 * reply_text_official is indented, reply_video/music/news (WxJava) have stray spaces between tags.
 * buildReply always writes the compact form, so the samples are compared after removing whitespace
 * between tags (text inside CDATA is untouched by that). The compact samples also match byte for byte.
 */
const compact = (s: string): string => s.replace(/>\s+</g, '><').trim()

const cases: [SampleName, Reply, { toUserName: string; fromUserName: string; createTime: number }][] = [
  ['reply_text_official', { type: 'text', content: '你好' }, { toUserName: 'toUser', fromUserName: 'fromUser', createTime: 12345678 }],
  ['reply_text', { type: 'text', content: 'content' }, { toUserName: 'to', fromUserName: 'from', createTime: 1122 }],
  ['reply_image', { type: 'image', mediaId: 'ddfefesfsdfef' }, { toUserName: 'to', fromUserName: 'from', createTime: 1122 }],
  ['reply_voice', { type: 'voice', mediaId: 'ddfefesfsdfef' }, { toUserName: 'to', fromUserName: 'from', createTime: 1122 }],
  ['reply_video', { type: 'video', mediaId: 'media_id', title: 'title', description: 'ddfff' }, { toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1122 }],
  [
    'reply_music',
    { type: 'music', title: 'title', description: 'ddfff', thumbMediaId: 'thumbMediaId', musicUrl: 'musicUrl', hqMusicUrl: 'hQMusicUrl' },
    { toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1122 },
  ],
  [
    'reply_news',
    {
      type: 'news',
      articles: [
        { title: 'title', description: 'description', picUrl: 'picUrl', url: 'url' },
        { title: 'title', description: 'description', picUrl: 'picUrl', url: 'url' },
      ],
    },
    { toUserName: 'toUser', fromUserName: 'fromUser', createTime: 1122 },
  ],
  ['reply_transfer_customer_service', { type: 'transfer_customer_service' }, { toUserName: 'touser', fromUserName: 'fromuser', createTime: 1399197672 }],
]

describe('buildReply matches the reply samples', () => {
  test('every reply_* sample is covered', () => {
    const names = Object.keys(vectors.samples).filter((n) => n.startsWith('reply_'))
    expect(names.sort()).toEqual(cases.map(([n]) => n as string).sort())
  })

  for (const [name, reply, ctx] of cases) {
    test(name, () => {
      const sample = vectors.samples[name]
      const out = buildReply(reply, ctx)
      expect(out).toBe(compact(sample))
      if (compact(sample) === sample) expect(out).toBe(sample) // the compact samples, byte for byte
      expect(parseXml(out)).toEqual(parseXml(sample))
    })
  }
})

describe('buildReply details', () => {
  const ctx = { toUserName: 'o_user', fromUserName: 'gh_account', createTime: 1700000000 }

  test('header order and CDATA; CreateTime as integer seconds', () => {
    expect(buildReply({ type: 'text', content: '绑定成功' }, ctx)).toBe(
      '<xml><ToUserName><![CDATA[o_user]]></ToUserName><FromUserName><![CDATA[gh_account]]></FromUserName>' +
        '<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[绑定成功]]></Content></xml>',
    )
  })

  test('text with "]]>", markup, newlines and emoji round-trips through the parser', () => {
    const content = 'a]]>b <b>&amp;</b>\n第二行 👍'
    expect(parseXml(buildReply({ type: 'text', content }, ctx)).Content).toBe(content)
  })

  test('optional video and music fields are left out when not given', () => {
    expect(buildReply({ type: 'video', mediaId: 'm' }, ctx)).toContain('<Video><MediaId><![CDATA[m]]></MediaId></Video>')
    expect(buildReply({ type: 'music', thumbMediaId: 't' }, ctx)).toContain('<Music><ThumbMediaId><![CDATA[t]]></ThumbMediaId></Music>')
  })

  test('news with one article and only a title', () => {
    expect(buildReply({ type: 'news', articles: [{ title: 'T' }] }, ctx)).toContain(
      '<ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[T]]></Title></item></Articles>',
    )
  })

  test('news with 8 articles is fine; 0 or 9 throw', () => {
    const a = { title: 't' }
    expect(parseXml(buildReply({ type: 'news', articles: Array(8).fill(a) }, ctx)).ArticleCount).toBe('8')
    expect(() => buildReply({ type: 'news', articles: Array(9).fill(a) }, ctx)).toThrow('1 to 8 articles')
    expect(() => buildReply({ type: 'news', articles: [] }, ctx)).toThrow('1 to 8 articles')
  })

  test('transfer to one customer-service account (official TransInfo form)', () => {
    expect(buildReply({ type: 'transfer_customer_service', kfAccount: 'test1@test' }, ctx)).toBe(
      '<xml><ToUserName><![CDATA[o_user]]></ToUserName><FromUserName><![CDATA[gh_account]]></FromUserName>' +
        '<CreateTime>1700000000</CreateTime><MsgType><![CDATA[transfer_customer_service]]></MsgType>' +
        '<TransInfo><KfAccount><![CDATA[test1@test]]></KfAccount></TransInfo></xml>',
    )
  })

  test('createTime must be integer seconds', () => {
    expect(() => buildReply({ type: 'text', content: 'x' }, { ...ctx, createTime: 1700000000.5 })).toThrow('createTime')
    expect(() => buildReply({ type: 'text', content: 'x' }, { ...ctx, createTime: -1 })).toThrow('createTime')
  })
})
