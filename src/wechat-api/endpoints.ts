/**
 * @module The zod shapes of the WeChat server API calls wxgate makes (PROTOCOL.md §5). Errors come back
 * as HTTP 200 with `{errcode, errmsg}`; successful token answers carry no errcode.
 */
import { z } from 'zod'

export const ErrorAnswer = z.object({ errcode: z.number().int(), errmsg: z.string().default('') }).loose()

/** https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken */
export const StableTokenAnswer = z.object({ access_token: z.string().min(1), expires_in: z.number().int().positive() })
export type StableTokenAnswer = z.infer<typeof StableTokenAnswer>

export const OkAnswer = z.object({ errcode: z.literal(0), errmsg: z.string() })

/** msgid exceeds 2^53: the client rewrites it to a string before JSON.parse (see client.ts). */
export const TemplateSendAnswer = z.object({ errcode: z.literal(0), errmsg: z.string(), msgid: z.string().regex(/^\d+$/) })
export type TemplateSendAnswer = z.infer<typeof TemplateSendAnswer>

/** https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html */
export const QrCreateAnswer = z.object({ ticket: z.string().min(1), expire_seconds: z.number().int().optional(), url: z.string().min(1) })
export type QrCreateAnswer = z.infer<typeof QrCreateAnswer>

/**
 * GET /cgi-bin/template/get_all_private_template (PROTOCOL.md §9.5): the account's templates (我的模板).
 * Fields beyond these are kept; a missing content or title reads as ''.
 */
export const TemplateListAnswer = z.object({
  template_list: z.array(z.object({
    template_id: z.string().min(1),
    title: z.string().default(''),
    primary_industry: z.string().optional(),
    deputy_industry: z.string().optional(),
    content: z.string().default(''),
    example: z.string().optional(),
  }).loose()),
})
export type TemplateListAnswer = z.infer<typeof TemplateListAnswer>

export const UserInfoAnswer = z.object({ subscribe: z.number().int(), openid: z.string() }).loose()
export type UserInfoAnswer = z.infer<typeof UserInfoAnswer>

export interface TemplateSendBody {
  touser: string
  template_id: string
  url?: string
  miniprogram?: { appid: string; pagepath?: string }
  client_msg_id?: string
  data: Record<string, { value: string; color?: string }>
}

/**
 * POST /cgi-bin/message/custom/send (PROTOCOL.md §5.5, §9.3): `{ touser, msgtype, <msgtype>: {…} }`; the answer
 * is a bare `{"errcode":0,"errmsg":"ok"}`. There is no client_msg_id: WeChat cannot deduplicate a resend.
 */
export interface CustomSendBody {
  touser: string
  msgtype: string
  [field: string]: unknown
}

/** POST /cgi-bin/message/custom/typing (PROTOCOL.md §9.3). */
export interface CustomTypingBody { touser: string; command: 'Typing' | 'CancelTyping' }

export type QrCreateBody =
  | { action_name: 'QR_SCENE'; expire_seconds?: number; action_info: { scene: { scene_id: number } } }
  | { action_name: 'QR_STR_SCENE'; expire_seconds?: number; action_info: { scene: { scene_str: string } } }
  | { action_name: 'QR_LIMIT_SCENE'; action_info: { scene: { scene_id: number } } }
  | { action_name: 'QR_LIMIT_STR_SCENE'; action_info: { scene: { scene_str: string } } }

/** POST /cgi-bin/media/upload (PROTOCOL.md §9.4): a temporary media, valid 3 days; created_at in Unix seconds. */
export const MediaUploadAnswer = z.object({ type: z.string(), media_id: z.string().min(1), created_at: z.coerce.number().int() }).loose()
export type MediaUploadAnswer = z.infer<typeof MediaUploadAnswer>

/** GET /cgi-bin/media/get of a video: WeChat answers its download link as JSON instead of the file. */
export const MediaVideoAnswer = z.object({ video_url: z.string().min(1) }).loose()
export type MediaVideoAnswer = z.infer<typeof MediaVideoAnswer>
