/**
 * @module Users of the sandbox accounts and `cgi-bin/user/info`
 * (https://developers.weixin.qq.com/doc/service/api/usermanage/userinfo/api_userinfo, PROTOCOL.md §5.7).
 * Since 2021-12-27 WeChat returns no nickname, avatar or location, so neither does the sandbox.
 */
import { createHash } from 'node:crypto'
import { unixSeconds } from '../lib/clock'
import { type SandboxRequest, type SandboxState, accountOrThrow } from './sandbox.state'
import { checkAccessToken } from './tokens'
import { closeWindow } from './custom'
import { jsonAnswer, wxError } from './wx-reply'

const LANGS = new Set(['zh_CN', 'zh_TW', 'en'])

/** A stable fake unionid: the same openid always gets the same one. */
const unionidOf = (openid: string): string =>
  `o${createHash('sha1').update(`unionid:${openid}`).digest('base64url').slice(0, 27)}`

export const addUser = (state: SandboxState, appId: string, openid: string, opts: { subscribed?: boolean } = {}): void => {
  if (!openid) throw new Error('sandbox: empty openid')
  accountOrThrow(state, appId).users.set(openid, { subscribed: opts.subscribed ?? true, subscribeTime: unixSeconds(state.clock) })
}

export const setSubscribed = (state: SandboxState, appId: string, openid: string, subscribed: boolean): void => {
  const user = accountOrThrow(state, appId).users.get(openid)
  if (!user) throw new Error(`sandbox: unknown user ${openid} of ${appId}`)
  // A re-subscription is a new subscription: WeChat reports the latest subscribe_time.
  if (subscribed && !user.subscribed) user.subscribeTime = unixSeconds(state.clock)
  user.subscribed = subscribed
  // An unfollow closes the customer-service window (45015 until the user acts again).
  if (!subscribed) closeWindow(state, appId, openid)
}

export const handleUserInfo = (state: SandboxState, req: SandboxRequest): Response => {
  const acc = checkAccessToken(state, req)
  if (acc instanceof Response) return acc
  const openid = req.query.openid ?? ''
  const user = acc.users.get(openid)
  if (!user) return wxError(state.random, 40003)
  if (!user.subscribed) return jsonAnswer({ subscribe: 0, openid })
  const lang = req.query.lang
  return jsonAnswer({
    subscribe: 1,
    openid,
    language: lang !== undefined && LANGS.has(lang) ? lang : 'zh_CN',
    subscribe_time: user.subscribeTime,
    unionid: unionidOf(openid),
    remark: '',
    groupid: 0,
    tagid_list: [],
    subscribe_scene: 'ADD_SCENE_QR_CODE',
    qr_scene: 0,
    qr_scene_str: '',
  })
}
