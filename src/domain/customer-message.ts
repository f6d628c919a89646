/**
 * @module Customer-service messages (SPEC §7, PROTOCOL.md §9.3): one zod schema per type, the fields under
 * the type's name (`{ "type": "text", "text": { "content": "您好" } }`), and the WeChat body each becomes
 * (`{ msgtype, <msgtype>: { …snake_case } }`, without touser) for `POST /cgi-bin/message/custom/send`.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
 */
import { z } from 'zod'

/** Text longer than this (UTF-8 bytes) is refused by WeChat with 45002 (measured by the community, undocumented). */
export const MAX_TEXT_BYTES = 2048

const id = (what: string) => z.string().min(1).max(256).meta({ description: what })
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })

const TextFields = z.object({
  content: z.string().min(1).refine((s) => Buffer.byteLength(s, 'utf8') <= MAX_TEXT_BYTES, { error: `at most ${MAX_TEXT_BYTES} bytes (UTF-8); WeChat refuses longer text (45002)` }),
})
const MediaFields = z.object({ mediaId: id('A media id (POST /api/media)') })
const VideoFields = z.object({ mediaId: id('The video media id'), thumbMediaId: id('A thumb media id').optional(), title: z.string().optional(), description: z.string().optional() })
const MusicFields = z.object({
  title: z.string().optional(), description: z.string().optional(), musicUrl: httpUrl.optional(), hqMusicUrl: httpUrl.optional(), thumbMediaId: id('A thumb media id'),
})
const Article = z.object({ title: z.string().min(1), description: z.string().optional(), url: httpUrl, picUrl: httpUrl.optional() })
const NewsFields = z.object({
  articles: z.array(Article).min(1).max(1, { error: 'exactly one article: WeChat refuses more in a customer-service message (45008)' }),
})
const MsgMenuFields = z.object({
  headContent: z.string(),
  list: z.array(z.object({ id: z.string().min(1).max(64), content: z.string().min(1) })).min(1).max(10),
  tailContent: z.string(),
})
const MiniProgramPageFields = z.object({ title: z.string().min(1), appid: z.string().min(1), pagepath: z.string().min(1), thumbMediaId: id('A thumb media id') })

const TemplateValue = z.union([z.string(), z.object({ value: z.string(), color: z.string().optional() })])
/** The template message sent instead when the user's window is closed (SPEC §7). */
export const Fallback = z.object({
  templateId: z.string().min(1).max(128),
  data: z.record(z.string().min(1).max(64), TemplateValue),
  url: httpUrl.optional(),
  miniprogram: z.object({ appid: z.string().min(1), pagepath: z.string().optional() }).optional(),
}).meta({ description: 'A template message sent instead when the window is closed (known before sending, or WeChat answers 45015)' })
export type Fallback = z.infer<typeof Fallback>

const fallback = Fallback.optional()
/** Each type's own schema (the content only: SendBody adds the recipients). */
export const CustomerParts = {
  text: z.object({ type: z.literal('text'), text: TextFields, fallback }),
  image: z.object({ type: z.literal('image'), image: MediaFields, fallback }),
  voice: z.object({ type: z.literal('voice'), voice: MediaFields, fallback }),
  video: z.object({ type: z.literal('video'), video: VideoFields, fallback }),
  music: z.object({ type: z.literal('music'), music: MusicFields, fallback }),
  news: z.object({ type: z.literal('news'), news: NewsFields, fallback }),
  mpnews: z.object({ type: z.literal('mpnews'), mpnews: MediaFields, fallback }),
  msgmenu: z.object({ type: z.literal('msgmenu'), msgmenu: MsgMenuFields, fallback }),
  miniprogrampage: z.object({ type: z.literal('miniprogrampage'), miniprogrampage: MiniProgramPageFields, fallback }),
}
export type CustomerType = keyof typeof CustomerParts
export const CUSTOMER_TYPES = Object.keys(CustomerParts) as CustomerType[]

const P = CustomerParts
/** A customer-service message: `{ type, [type]: { … }, fallback? }`. */
export const CustomerMessage = z.discriminatedUnion('type', [P.text, P.image, P.voice, P.video, P.music, P.news, P.mpnews, P.msgmenu, P.miniprogrampage])
export type CustomerMessage = z.infer<typeof CustomerMessage>

const drop = <T extends Record<string, unknown>>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T

/** The WeChat body of a customer-service message, without touser (PROTOCOL.md §9.3 field names). */
export const customPayload = (m: CustomerMessage): { msgtype: CustomerType } & Record<string, unknown> => {
  const f = (m as unknown as Record<string, Record<string, unknown>>)[m.type]!
  const body = (): Record<string, unknown> => {
    switch (m.type) {
      case 'text': return { content: f.content }
      case 'image': case 'voice': case 'mpnews': return { media_id: f.mediaId }
      case 'video': return drop({ media_id: f.mediaId, thumb_media_id: f.thumbMediaId, title: f.title, description: f.description })
      case 'music': return drop({ title: f.title, description: f.description, musicurl: f.musicUrl, hqmusicurl: f.hqMusicUrl, thumb_media_id: f.thumbMediaId })
      case 'news': return { articles: (f.articles as z.infer<typeof Article>[]).map((a) => drop({ title: a.title, description: a.description, url: a.url, picurl: a.picUrl })) }
      case 'msgmenu': return { head_content: f.headContent, list: f.list, tail_content: f.tailContent }
      case 'miniprogrampage': return { title: f.title, appid: f.appid, pagepath: f.pagepath, thumb_media_id: f.thumbMediaId }
    }
  }
  return { msgtype: m.type, [m.type]: body() }
}

/** A template's WeChat body without touser and client_msg_id (what messages.payload and messages.fallback hold). */
export const templatePayload = (t: { templateId: string; data: Record<string, string | { value: string; color?: string }>; url?: string; miniprogram?: { appid: string; pagepath?: string } }): string =>
  JSON.stringify({
    template_id: t.templateId,
    ...(t.url ? { url: t.url } : {}),
    ...(t.miniprogram ? { miniprogram: t.miniprogram } : {}),
    data: Object.fromEntries(Object.entries(t.data).map(([k, v]) => [k, typeof v === 'string' ? { value: v } : v])),
  })

