/**
 * @module A sandbox user writing to the account or tapping its menu: a text or image message, or a CLICK / VIEW
 * menu event, pushed to the account's server URL as WeChat does it (signed, encrypted in safe mode, retried
 * twice on a non-200: push.ts), with a fresh 64-bit MsgId for messages and CreateTime from the sandbox clock.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
 * https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Custom_Menu_Push_Events.html
 */
import { unixSeconds } from '../lib/clock'
import { cdata } from '../wechat/xml'
import { originalIdOf, pushEvent, replyTextOf, type PushContext } from './push'
import { type SandboxState, accountOrThrow } from './sandbox.state'
import { DEMO_SCAN_OPENID, type UserSendOptions, type UserSendResult } from './sandbox.types'
import { newMsgid } from './templates'
import { addUser } from './users'
import { recordInteraction } from './custom'
import { addMedia } from './media'
import { PNG } from './qrcode'

/** A message that cannot be sent; `status` is what the control API answers. */
export class UserSendError extends Error {
  override name = 'UserSendError'
  constructor(message: string, readonly status: 400 | 409) {
    super(message)
  }
}

export interface UserSendContext extends PushContext {
  defaultAppId: string
  /** The sandbox's own base URL: a default PicUrl points at its /_sandbox/pic, so the picture can be opened. */
  sandboxUrl: string
}

const KINDS = ['text', 'image', 'click', 'view'] as const

interface Built {
  xml: string
  msgType: 'text' | 'image' | 'event'
  event?: 'CLICK' | 'VIEW'
  msgId?: string
  picUrl?: string
  mediaId?: string
}

/** The plaintext XML, element for element in the order of the official samples (PROTOCOL.md §3.3). */
const build = (state: SandboxState, opts: UserSendOptions, head: string, ctx: UserSendContext, appId: string): Built => {
  if (opts.text !== undefined) {
    if (opts.text === '') throw new UserSendError('text is empty: WeChat sends no empty message', 400)
    const msgId = newMsgid(state)
    return { msgType: 'text', msgId, xml: `${head}<MsgType>${cdata('text')}</MsgType><Content>${cdata(opts.text)}</Content><MsgId>${msgId}</MsgId></xml>` }
  }
  if (opts.image !== undefined) {
    const msgId = newMsgid(state)
    // The picture the user sent is a temporary media of the account, as on WeChat: media/get (and so
    // GET /api/media/:mediaId) serves it. A given mediaId is used as it is.
    const mediaId = opts.image.mediaId ?? addMedia(state, appId, PNG, { type: 'image', contentType: 'image/png' })
    const picUrl = opts.image.picUrl ?? `${ctx.sandboxUrl}/_sandbox/pic?mediaId=${encodeURIComponent(mediaId)}`
    return {
      msgType: 'image', msgId, picUrl, mediaId,
      xml: `${head}<MsgType>${cdata('image')}</MsgType><PicUrl>${cdata(picUrl)}</PicUrl><MediaId>${cdata(mediaId)}</MediaId><MsgId>${msgId}</MsgId></xml>`,
    }
  }
  if (opts.click !== undefined) {
    if (opts.click === '') throw new UserSendError('click: the menu key is empty', 400)
    return { msgType: 'event', event: 'CLICK', xml: `${head}<MsgType>${cdata('event')}</MsgType><Event>${cdata('CLICK')}</Event><EventKey>${cdata(opts.click)}</EventKey></xml>` }
  }
  const url = opts.view ?? ''
  if (!/^https?:\/\//.test(url)) throw new UserSendError(`view: a menu URL starts with http:// or https://, got ${JSON.stringify(url)}`, 400)
  // MenuId: the id of the menu the button belongs to (a conditional menu has its own); the default menu's is a number.
  return {
    msgType: 'event', event: 'VIEW',
    xml: `${head}<MsgType>${cdata('event')}</MsgType><Event>${cdata('VIEW')}</Event><EventKey>${cdata(url)}</EventKey><MenuId>${opts.menuId ?? '1'}</MenuId></xml>`,
  }
}

export const userSends = async (state: SandboxState, opts: UserSendOptions, ctx: UserSendContext): Promise<UserSendResult> => {
  const given = KINDS.filter((k) => opts[k] !== undefined)
  if (given.length !== 1) throw new UserSendError(`give exactly one of text, image, click, view (got ${given.length === 0 ? 'none' : given.join(', ')})`, 400)
  const appId = opts.appId ?? ctx.defaultAppId
  const acc = accountOrThrow(state, appId)
  const target = acc.callback
  if (!target) throw new UserSendError(`no callback target for appId ${appId}`, 409)
  const openid = opts.openid ?? DEMO_SCAN_OPENID
  if (!openid) throw new UserSendError('empty openid', 400)
  // Only followers can write to an account or see its menu. A user the sandbox has never seen is taken as one
  // who followed before it started (no subscribe event: that is what a scan is for); one who unfollowed is refused.
  const user = acc.users.get(openid)
  if (!user) addUser(state, appId, openid, { subscribed: true })
  else if (!user.subscribed) throw new UserSendError(`user ${openid} does not follow ${appId}: WeChat delivers nothing from a non-follower`, 409)

  const createTime = unixSeconds(state.clock)
  const head = `<xml><ToUserName>${cdata(originalIdOf(appId))}</ToUserName><FromUserName>${cdata(openid)}</FromUserName><CreateTime>${createTime}</CreateTime>`
  const built = build(state, opts, head, ctx, appId)
  // The user acted, whatever the server answers: WeChat opens the customer-service window (a VIEW does not).
  if (built.msgType !== 'event') recordInteraction(state, appId, openid, 'message')
  else if (built.event === 'CLICK') recordInteraction(state, appId, openid, 'short')
  const pushed = await pushEvent(state, appId, target, openid, built.xml, ctx)
  const result: UserSendResult = {
    appId, openid, msgType: built.msgType, createTime,
    ...(built.event !== undefined ? { event: built.event } : {}),
    ...(built.msgId !== undefined ? { msgId: built.msgId } : {}),
    ...(built.picUrl !== undefined ? { picUrl: built.picUrl } : {}),
    ...(built.mediaId !== undefined ? { mediaId: built.mediaId } : {}),
    xml: built.xml,
    status: pushed.status, reply: pushed.reply, attempts: pushed.attempts,
  }
  if (pushed.error !== undefined) result.error = pushed.error
  if (pushed.status === 200) {
    const replyText = replyTextOf(pushed.reply)
    if (replyText !== undefined) result.replyText = replyText
  }
  return result
}
