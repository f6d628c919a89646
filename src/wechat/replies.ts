/** @module Passive replies: the XML body answered to a callback POST.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html
 * Output is compact (no whitespace between tags), in the element order of WxJava's
 * WxMpXmlOut*MessageTest expectations; strings go into CDATA, CreateTime is integer seconds.
 */
import { cdata } from './xml.ts'

export interface NewsArticle {
  title: string
  description?: string
  picUrl?: string
  url?: string
}

export type Reply =
  | { type: 'text'; content: string }
  | { type: 'image'; mediaId: string }
  | { type: 'voice'; mediaId: string }
  | { type: 'video'; mediaId: string; title?: string; description?: string }
  | { type: 'music'; title?: string; description?: string; musicUrl?: string; hqMusicUrl?: string; thumbMediaId: string }
  | { type: 'news'; articles: NewsArticle[] }
  /** Hands the conversation to the customer-service system, optionally to one agent (kfAccount, e.g. `test1@test`). */
  | { type: 'transfer_customer_service'; kfAccount?: string }

export interface ReplyContext {
  /** The user's OpenID: the inbound message's FromUserName. */
  toUserName: string
  /** The account's original ID (gh_…): the inbound message's ToUserName. */
  fromUserName: string
  /** Unix seconds. */
  createTime: number
}

/**
 * WeChat shows at most 8 articles; since 2018-10-12 only the first is shown in reply to a user's
 * message (PROTOCOL.md §4), but up to 8 remain valid for other triggers.
 */
export const MAX_NEWS_ARTICLES = 8

const el = (name: string, value: string): string => `<${name}>${cdata(value)}</${name}>`
const optEl = (name: string, value: string | undefined): string => (value === undefined ? '' : el(name, value))

const body = (reply: Reply): string => {
  switch (reply.type) {
    case 'text':
      return el('Content', reply.content)
    case 'image':
      return `<Image>${el('MediaId', reply.mediaId)}</Image>`
    case 'voice':
      return `<Voice>${el('MediaId', reply.mediaId)}</Voice>`
    case 'video':
      return `<Video>${el('MediaId', reply.mediaId)}${optEl('Title', reply.title)}${optEl('Description', reply.description)}</Video>`
    case 'music':
      return (
        `<Music>${optEl('Title', reply.title)}${optEl('Description', reply.description)}` +
        `${el('ThumbMediaId', reply.thumbMediaId)}${optEl('MusicUrl', reply.musicUrl)}${optEl('HQMusicUrl', reply.hqMusicUrl)}</Music>`
      )
    case 'news': {
      const n = reply.articles.length
      if (n < 1 || n > MAX_NEWS_ARTICLES) throw new Error(`a news reply needs 1 to ${MAX_NEWS_ARTICLES} articles, got ${n}`)
      const items = reply.articles
        .map((a) => `<item>${el('Title', a.title)}${optEl('Description', a.description)}${optEl('PicUrl', a.picUrl)}${optEl('Url', a.url)}</item>`)
        .join('')
      return `<ArticleCount>${n}</ArticleCount><Articles>${items}</Articles>`
    }
    case 'transfer_customer_service':
      return reply.kfAccount === undefined ? '' : `<TransInfo>${el('KfAccount', reply.kfAccount)}</TransInfo>`
  }
}

/** Builds the reply XML. In safe mode pass the result to `encryptReply`. */
export const buildReply = (reply: Reply, ctx: ReplyContext): string => {
  if (!Number.isSafeInteger(ctx.createTime) || ctx.createTime < 0) {
    throw new Error(`createTime must be integer Unix seconds, got ${ctx.createTime}`)
  }
  return (
    `<xml>${el('ToUserName', ctx.toUserName)}${el('FromUserName', ctx.fromUserName)}` +
    `<CreateTime>${ctx.createTime}</CreateTime>${el('MsgType', reply.type)}${body(reply)}</xml>`
  )
}
