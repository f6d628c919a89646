/**
 * @module Template messages (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html):
 * send (PROTOCOL.md §5.4) checks the recipient, the template and each data value, dedups on client_msg_id for
 * 10 minutes, and answers a msgid beyond 2^53 written raw into the JSON text, as WeChat does; then the server
 * schedules the TEMPLATESENDJOBFINISH event (template-finish.ts). get_all_private_template (§9.5) lists the
 * account's templates.
 */
import { z } from 'zod'
import { type SandboxRequest, type SandboxState, accountOrThrow, nextSeq } from './sandbox.state'
import type { DeliveredMessage, SandboxTemplate, TemplateInit } from './sandbox.types'
import { checkAccessToken, readAuthedPost } from './tokens'
import { jsonAnswer, jsonText, wxError } from './wx-reply'

/** "对于同一个openid + client_msg_id, 只发送一条消息, 10分钟有效". */
const DEDUP_WINDOW_MS = 10 * 60_000
/** Real msgids (template sends and users' messages alike) look like 3662956322040938501: above 2^53, below 2^63. */
const MSGID_BASE = 3_000_000_000_000_000_000n
/** Larger than the random part, so msgids never collide. */
const MSGID_STEP = 1_000_000_007n

export const TemplateSendBody = z.object({
  touser: z.string().min(1),
  template_id: z.string().min(1),
  url: z.string().optional(),
  miniprogram: z.object({ appid: z.string().min(1), pagepath: z.string().optional() }).optional(),
  client_msg_id: z.string().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
})
export type TemplateSendBody = z.infer<typeof TemplateSendBody>

export const newMsgid = (state: SandboxState): string =>
  (MSGID_BASE + BigInt(nextSeq(state)) * MSGID_STEP + BigInt(Math.floor(state.random() * 1e9))).toString()

/** The first data key whose value is not a string, for 47003 "argument invalid! data.<key>.value invalid". */
const badDataKey = (data: Record<string, unknown>): string | undefined => {
  for (const [key, entry] of Object.entries(data)) {
    const value = typeof entry === 'object' && entry !== null ? (entry as { value?: unknown }).value : undefined
    if (typeof value !== 'string') return key
  }
  return undefined
}

// Built by hand: JSON.stringify of a number cannot carry a 64-bit msgid without losing digits.
const sentAnswer = (msgid: string): Response => jsonText(`{"errcode":0,"errmsg":"ok","msgid":${msgid}}`)

export const handleTemplateSend = (state: SandboxState, req: SandboxRequest): Response => {
  const post = readAuthedPost(state, req, TemplateSendBody)
  if (post instanceof Response) return post
  const { acc, data: body } = post
  const user = acc.users.get(body.touser)
  if (!user) return wxError(state.random, 40003)
  if (!user.subscribed) return wxError(state.random, 43004)
  if (!acc.templates.has(body.template_id)) return wxError(state.random, 40037)
  const data = body.data ?? {}
  const bad = badDataKey(data)
  if (bad !== undefined) return wxError(state.random, 47003, `argument invalid! data.${bad}.value invalid`)

  const now = state.clock.now()
  const dedupKey = body.client_msg_id ? `${body.touser}\n${body.client_msg_id}` : undefined
  if (dedupKey) {
    const seen = acc.dedup.get(dedupKey)
    if (seen && now - seen.at < DEDUP_WINDOW_MS) return sentAnswer(seen.msgid)
  }
  const msgid = newMsgid(state)
  if (dedupKey) acc.dedup.set(dedupKey, { msgid, at: now })
  const delivered: DeliveredMessage = { appId: acc.account.appId, touser: body.touser, template_id: body.template_id, msgid, data, at: now }
  if (body.client_msg_id !== undefined) delivered.client_msg_id = body.client_msg_id
  if (body.url !== undefined) delivered.url = body.url
  if (body.miniprogram !== undefined) delivered.miniprogram = body.miniprogram
  state.delivered.push(delivered)
  state.onTemplateSent?.({ ...delivered })
  return sentAnswer(msgid)
}

/** GET /cgi-bin/template/get_all_private_template: the token's account's templates, in the order added. */
export const handleTemplateList = (state: SandboxState, req: SandboxRequest): Response => {
  const acc = checkAccessToken(state, req)
  if (acc instanceof Response) return acc
  return jsonAnswer({
    template_list: [...acc.templates.values()].map((t) => ({
      template_id: t.templateId, title: t.title, primary_industry: t.primaryIndustry, deputy_industry: t.deputyIndustry,
      content: t.content, example: t.example,
    })),
  })
}

export const addTemplate = (state: SandboxState, appId: string, templateId: string, init: TemplateInit = {}): void => {
  if (!templateId) throw new Error('sandbox: empty templateId')
  const t: SandboxTemplate = {
    templateId,
    title: init.title ?? templateId,
    content: init.content ?? '',
    example: init.example ?? '',
    primaryIndustry: init.primaryIndustry ?? '',
    deputyIndustry: init.deputyIndustry ?? '',
  }
  accountOrThrow(state, appId).templates.set(templateId, t)
}

export const deliveredMessages = (state: SandboxState, appId?: string): DeliveredMessage[] =>
  state.delivered.filter((d) => appId === undefined || d.appId === appId).map((d) => ({ ...d }))
