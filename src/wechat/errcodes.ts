/** @module WeChat API errcodes: what they mean and how a caller should react.
 * Meanings: official global return codes
 * https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
 * (as captured in WxJava WxMpErrorMsgEnum) and the getAccessToken error table; classes follow what
 * WxJava and wechatpy do (retry -1, refresh the token on 40001/40014/42001, stop on 45009). PROTOCOL.md §6.
 */
import { isIP } from 'node:net'

/**
 * - transient: retry with backoff (after 45011 not before the next minute)
 * - token: the access_token is bad or expired: refresh it and retry once
 * - quota: the daily quota is used up: stop calling that API until tomorrow or clear_quota
 * - permanent: retrying the same call cannot help
 */
export type ErrcodeClass = 'transient' | 'token' | 'quota' | 'permanent'

export interface ErrcodeInfo {
  meaning: string
  class: ErrcodeClass
  hint?: string
}

const MEANINGS: ReadonlyMap<number, string> = new Map([
  [-1, 'system busy'],
  [40001, 'invalid credential: wrong AppSecret, or the access_token is invalid or was replaced'],
  [40002, 'invalid grant_type (must be client_credential)'],
  [40003, 'invalid openid: wrong, from another account, or not following'],
  [40013, 'invalid appid'],
  [40014, 'invalid access_token'],
  [40036, 'invalid template_id size'],
  [40037, 'invalid template_id'],
  [40125, 'invalid appsecret'],
  [40164, 'caller IP is not in the IP whitelist'],
  [40243, 'AppSecret frozen'],
  [41001, 'access_token missing'],
  [41002, 'appid missing'],
  [41004, 'appsecret missing'],
  [42001, 'access_token expired'],
  [43002, 'require POST method'],
  [43004, 'require subscribe: the user does not follow the account'],
  [43019, 'require remove blacklist: the user is blacklisted by the account'],
  [43101, 'the user refused to accept the message'],
  [45009, 'daily API quota reached'],
  [45002, 'content too long (customer-service text is limited to 2048 bytes)'],
  [45008, 'too many articles (a customer-service news message has one)'],
  [45011, 'API minute quota reached; retry next minute'],
  [45015, 'response out of time limit or subscription cancelled'],
  [45047, 'out of customer-service response count limit'],
  [45080, 'no interaction from the user in the last 30 seconds (typing)'],
  [45081, 'already typing'],
  [40007, 'invalid media_id'],
  [47001, 'data format error'],
  [47003, 'argument invalid'],
  [48001, 'api unauthorized'],
  [48006, 'clear_quota limit reached this month'],
  [48017, 'called a retired API IP'],
  [50001, 'user unauthorized'],
  [50002, 'user limited'],
  [50004, 'token API forbidden for this account'],
  [50007, 'account frozen'],
  [61024, 'third-party platforms must use their own token'],
  [89501, 'this IP is waiting for admin confirmation'],
  [89503, 'calls from this IP need admin confirmation'],
  [89506, 'the admin rejected this IP twice within 24 hours'],
  [89507, 'the admin rejected this IP within the last hour'],
])

const CLASSES: ReadonlyMap<number, ErrcodeClass> = new Map<number, ErrcodeClass>([
  [-1, 'transient'],
  [45011, 'transient'],
  [40001, 'token'],
  [40014, 'token'],
  [42001, 'token'],
  [45009, 'quota'],
])

const CHECK_CREDENTIALS = 'check AppID/AppSecret'
const HINTS: ReadonlyMap<number, string> = new Map([
  [40164, 'add the IP to the IP whitelist'],
  [40125, CHECK_CREDENTIALS],
  [40013, CHECK_CREDENTIALS],
  [48001, 'the account lacks this permission'],
  [45015, 'the user has not interacted in 48 hours (or unfollowed): send a template message instead (fallback)'],
  [45047, 'the window\'s customer-service messages are used up: wait for the user\'s next message'],
  [89503, 'an administrator must approve this IP in the MP admin console'],
])

/** Meaning, reaction class and, for configuration problems, what to do. For non-zero codes. */
export const errcodeInfo = (code: number): ErrcodeInfo => {
  const info: ErrcodeInfo = {
    meaning: MEANINGS.get(code) ?? `unknown errcode ${code}`,
    class: CLASSES.get(code) ?? 'permanent',
  }
  const hint = HINTS.get(code)
  if (hint !== undefined) info.hint = hint
  return info
}

/**
 * The caller IP named by a 40164 errmsg, e.g.
 * "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 6…" → "1.2.3.4",
 * so the alert can say exactly which address to whitelist.
 */
export const ipFromErrmsg = (errmsg: string): string | undefined => {
  if (typeof errmsg !== 'string') return undefined
  const m = /\binvalid ip\s+([0-9A-Fa-f.:]+)/i.exec(errmsg)
  const ip = m?.[1]
  return ip !== undefined && isIP(ip) !== 0 ? ip : undefined
}
