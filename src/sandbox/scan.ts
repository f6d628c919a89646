/**
 * @module A user scanning a parametric QR code: the sandbox pushes the `subscribe` (not yet a follower) or
 * `SCAN` (already one) event to the account's server URL, signed and, with an EncodingAESKey, encrypted
 * exactly as WeChat does, and retries twice when the answer is not 200 in time.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
 */
import { unixSeconds } from '../lib/clock'
import { isValidEncodingAesKey } from '../wechat/crypto'
import { cdata } from '../wechat/xml'
import { originalIdOf, pushEvent, replyTextOf } from './push'
import { type QrRecord, type SandboxState, accountOrThrow } from './sandbox.state'
import { type CallbackTarget, DEMO_SCAN_OPENID, type ScanOptions, type ScanResult, type ScanSent } from './sandbox.types'
import { addUser, setSubscribed } from './users'
import { recordInteraction } from './custom'

/** A scan that cannot happen; `status` is what the control API answers. */
export class ScanError extends Error {
  override name = 'ScanError'
  constructor(message: string, readonly status: 400 | 404 | 409) {
    super(message)
  }
}

export { originalIdOf }

/** Checks a target before it is stored, so a typo fails at setup rather than at the first scan. */
export const setCallback = (state: SandboxState, appId: string, target: CallbackTarget | undefined): void => {
  const acc = accountOrThrow(state, appId)
  if (target === undefined) {
    acc.callback = undefined
    return
  }
  let url: URL
  try {
    url = new URL(target.url)
  } catch {
    throw new Error(`sandbox: callback url is not a URL: ${target.url}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`sandbox: callback url must be http(s): ${target.url}`)
  if (!target.token) throw new Error('sandbox: callback token is empty')
  if (target.aesKey !== undefined && !isValidEncodingAesKey(target.aesKey)) {
    throw new Error('sandbox: aesKey must be a 43-character EncodingAESKey')
  }
  acc.callback = { ...target }
}

const isExpired = (state: SandboxState, rec: QrRecord): boolean =>
  rec.expiresAt !== undefined && state.clock.now() >= rec.expiresAt

/** By ticket, or the newest unexpired ticket of the account with the scene (else the newest expired one). */
const findTicket = (state: SandboxState, opts: ScanOptions, defaultAppId: string): [string, QrRecord] => {
  if (opts.ticket !== undefined) {
    const rec = state.tickets.get(opts.ticket)
    if (!rec || (opts.appId !== undefined && rec.appId !== opts.appId)) {
      throw new ScanError(`unknown ticket ${opts.ticket}${opts.appId === undefined ? '' : ` of ${opts.appId}`}`, 404)
    }
    return [opts.ticket, rec]
  }
  if (opts.scene === undefined) throw new ScanError('give a ticket, or a scene (and appId)', 400)
  const appId = opts.appId ?? defaultAppId
  accountOrThrow(state, appId)
  let newest: [string, QrRecord] | undefined
  let newestLive: [string, QrRecord] | undefined
  // Map order is creation order, so the last match is the newest.
  for (const entry of state.tickets) {
    const rec = entry[1]
    if (rec.appId !== appId || rec.scene !== opts.scene) continue
    newest = entry
    if (!isExpired(state, rec)) newestLive = entry
  }
  const found = newestLive ?? newest
  if (!found) throw new ScanError(`no ticket of ${appId} with scene ${opts.scene}`, 404)
  return found
}

/** The plaintext event, element for element as WeChat sends it. */
const eventXml = (p: { toUser: string; openid: string; createTime: number; event: string; eventKey: string; ticket: string }): string =>
  `<xml><ToUserName>${cdata(p.toUser)}</ToUserName><FromUserName>${cdata(p.openid)}</FromUserName>` +
  `<CreateTime>${p.createTime}</CreateTime><MsgType>${cdata('event')}</MsgType><Event>${cdata(p.event)}</Event>` +
  `<EventKey>${cdata(p.eventKey)}</EventKey><Ticket>${cdata(p.ticket)}</Ticket></xml>`

export interface ScanContext {
  /** The account used for a scene lookup without appId. */
  defaultAppId: string
  timeoutMs: number
  /** Aborted when the sandbox stops: pending attempts end, no retry follows. */
  stopping: AbortSignal
}

export const scan = async (state: SandboxState, opts: ScanOptions, ctx: ScanContext): Promise<ScanResult> => {
  const [ticket, rec] = findTicket(state, opts, ctx.defaultAppId)
  const acc = accountOrThrow(state, rec.appId)
  const target = acc.callback
  if (!target) throw new ScanError(`no callback target for appId ${rec.appId}`, 409)
  const openid = opts.openid ?? DEMO_SCAN_OPENID
  if (!openid) throw new ScanError('empty openid', 400)
  const base = { appId: rec.appId, ticket, scene: rec.scene, openid }
  if (isExpired(state, rec)) return { ...base, sent: false, reason: 'expired' }

  // The user follows the moment they confirm, whatever the server answers later.
  if (!acc.users.has(openid)) addUser(state, rec.appId, openid, { subscribed: false })
  const subscribing = acc.users.get(openid)?.subscribed !== true
  if (subscribing) setSubscribed(state, rec.appId, openid, true)
  const event = subscribing ? 'subscribe' : 'SCAN'
  // A follow or a scan opens the 1-minute customer-service window.
  recordInteraction(state, rec.appId, openid, 'short')
  const toUser = originalIdOf(rec.appId)
  const plainXml = eventXml({
    toUser, openid, createTime: unixSeconds(state.clock), event, ticket,
    eventKey: subscribing ? `qrscene_${rec.scene}` : rec.scene,
  })
  const pushed = await pushEvent(state, rec.appId, target, openid, plainXml, ctx)
  const result: ScanSent = { ...base, sent: true, event, status: pushed.status, reply: pushed.reply, attempts: pushed.attempts }
  if (pushed.error !== undefined) result.error = pushed.error
  if (pushed.status === 200) {
    const replyText = replyTextOf(pushed.reply)
    if (replyText !== undefined) result.replyText = replyText
  }
  return result
}
