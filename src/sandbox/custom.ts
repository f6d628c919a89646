/**
 * @module Customer-service messages (PROTOCOL.md §5.5, §9.3): `message/custom/send` with WeChat's window rules,
 * and `message/custom/typing`. The sandbox knows a user's interactions when it pushed them itself (user-send.ts:
 * a message opens 48 h for 5; a CLICK, a subscribe or a SCAN opens 1 min for 3 and leaves an open 48-hour
 * window alone; an unfollow closes it). https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
 */
import { z } from 'zod'
import { type SandboxRequest, type SandboxState, accountOrThrow } from './sandbox.state'
import type { CustomMessage, ReceivedMessage } from './sandbox.types'
import { readAuthedPost } from './tokens'
import { jsonAnswer, wxError } from './wx-reply'

const LONG_MS = 48 * 3600_000
const SHORT_MS = 60_000
/** Typing needs an interaction this recent (45080 otherwise) and lasts this long (45081 while it does). */
const TYPING_NEEDS_MS = 30_000
const TYPING_LASTS_MS = 15_000
const MAX_TEXT_BYTES = 2048
const MSGTYPES = new Set(['text', 'image', 'voice', 'video', 'music', 'news', 'mpnews', 'mpnewsarticle', 'msgmenu', 'wxcard', 'miniprogrampage'])

export type InteractionKind = 'message' | 'short'

/** A user acted (the sandbox pushed it): opens or keeps the window. */
export const recordInteraction = (state: SandboxState, appId: string, openid: string, kind: InteractionKind): void => {
  const acc = accountOrThrow(state, appId)
  const now = state.clock.now()
  acc.lastInteraction.set(openid, now)
  const w = acc.windows.get(openid)
  if (kind === 'message') acc.windows.set(openid, { until: now + LONG_MS, quota: 5, used: 0, long: true })
  else if (!(w?.long && now < w.until)) acc.windows.set(openid, { until: now + SHORT_MS, quota: 3, used: 0, long: false })
}

/** An unfollow closes the window. */
export const closeWindow = (state: SandboxState, appId: string, openid: string): void => {
  accountOrThrow(state, appId).windows.delete(openid)
}

const CustomSendBody = z.object({ touser: z.string().min(1), msgtype: z.string().min(1) }).loose()

export const handleCustomSend = (state: SandboxState, req: SandboxRequest): Response => {
  const post = readAuthedPost(state, req, CustomSendBody)
  if (post instanceof Response) return post
  const { acc, data: body } = post
  const user = acc.users.get(body.touser)
  if (!user) return wxError(state.random, 40003)
  if (!MSGTYPES.has(body.msgtype)) return wxError(state.random, 40008, 'invalid message type')
  const content = (body as Record<string, unknown>)[body.msgtype]
  if (typeof content !== 'object' || content === null) return wxError(state.random, 47001)
  const c = content as Record<string, unknown>
  if (body.msgtype === 'text') {
    if (typeof c.content !== 'string') return wxError(state.random, 47001)
    if (Buffer.byteLength(c.content, 'utf8') > MAX_TEXT_BYTES) return wxError(state.random, 45002)
  }
  if (body.msgtype === 'news' && Array.isArray(c.articles) && c.articles.length > 1) return wxError(state.random, 45008)
  const now = state.clock.now()
  const w = acc.windows.get(body.touser)
  if (!user.subscribed || !w || now >= w.until) return wxError(state.random, 45015)
  if (w.used >= w.quota) return wxError(state.random, 45047)
  w.used++
  const sent: CustomMessage = { appId: acc.account.appId, touser: body.touser, msgtype: body.msgtype, body: structuredClone(body), at: now }
  state.customSent.push(sent)
  return jsonAnswer({ errcode: 0, errmsg: 'ok' })
}

const TypingBody = z.object({ touser: z.string().min(1), command: z.enum(['Typing', 'CancelTyping']) })

export const handleCustomTyping = (state: SandboxState, req: SandboxRequest): Response => {
  const post = readAuthedPost(state, req, TypingBody)
  if (post instanceof Response) return post
  const { acc, data: body } = post
  const user = acc.users.get(body.touser)
  if (!user) return wxError(state.random, 40003)
  const now = state.clock.now()
  if (body.command === 'CancelTyping') {
    acc.typingUntil.delete(body.touser)
    return jsonAnswer({ errcode: 0, errmsg: 'ok' })
  }
  const last = acc.lastInteraction.get(body.touser)
  if (!user.subscribed || last === undefined || now - last > TYPING_NEEDS_MS) return wxError(state.random, 45080)
  if ((acc.typingUntil.get(body.touser) ?? 0) > now) return wxError(state.random, 45081)
  acc.typingUntil.set(body.touser, now + TYPING_LASTS_MS)
  return jsonAnswer({ errcode: 0, errmsg: 'ok' })
}

export const customMessages = (state: SandboxState, appId?: string): CustomMessage[] =>
  state.customSent.filter((m) => appId === undefined || m.appId === appId).map((m) => structuredClone(m))

/** Everything a user received (template and customer-service messages), oldest first. */
export const receivedBy = (state: SandboxState, appId: string, openid: string): ReceivedMessage[] => {
  accountOrThrow(state, appId)
  const templates: ReceivedMessage[] = state.delivered.filter((d) => d.appId === appId && d.touser === openid).map((d) => ({ kind: 'template', at: d.at, template: { ...d } }))
  const customs: ReceivedMessage[] = state.customSent.filter((m) => m.appId === appId && m.touser === openid).map((m) => ({ kind: 'custom', at: m.at, custom: structuredClone(m) }))
  return [...templates, ...customs].sort((a, b) => a.at - b.at)
}
