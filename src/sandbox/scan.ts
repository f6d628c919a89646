/**
 * @module A user scanning a parametric QR code: the sandbox pushes the `subscribe` (not yet a follower) or
 * `SCAN` (already one) event to the account's server URL, signed and, with an EncodingAESKey, encrypted
 * exactly as WeChat does, and retries twice when the answer is not 200 in time.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
 */
import { createHash } from 'node:crypto'
import { unixSeconds } from '../lib/clock'
import { aesKeyFrom, decrypt, encrypt, isValidEncodingAesKey } from '../wechat/crypto'
import { msgSignature, sha1Signature } from '../wechat/signature'
import { cdata, parseXml } from '../wechat/xml'
import { type QrRecord, type SandboxState, accountOrThrow, randomChars } from './sandbox.state'
import { type CallbackTarget, DEMO_SCAN_OPENID, type ScanOptions, type ScanResult, type ScanSent } from './sandbox.types'
import { addUser, setSubscribed } from './users'

/** WeChat's retry rule: the first try plus two retries. */
const MAX_ATTEMPTS = 3

/** A scan that cannot happen; `status` is what the control API answers. */
export class ScanError extends Error {
  override name = 'ScanError'
  constructor(message: string, readonly status: 400 | 404 | 409) {
    super(message)
  }
}

/** The account's original ID (ToUserName of every event): `gh_` + 12 hex digits, stable per appId. */
export const originalIdOf = (appId: string): string =>
  `gh_${createHash('sha1').update(`original-id:${appId}`).digest('hex').slice(0, 12)}`

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

const randomBytes = (state: SandboxState, n: number): Buffer =>
  Buffer.from(Array.from({ length: n }, () => Math.min(255, Math.floor(state.random() * 256))))

/** The plaintext event, element for element as WeChat sends it. */
const eventXml = (p: { toUser: string; openid: string; createTime: number; event: string; eventKey: string; ticket: string }): string =>
  `<xml><ToUserName>${cdata(p.toUser)}</ToUserName><FromUserName>${cdata(p.openid)}</FromUserName>` +
  `<CreateTime>${p.createTime}</CreateTime><MsgType>${cdata('event')}</MsgType><Event>${cdata(p.event)}</Event>` +
  `<EventKey>${cdata(p.eventKey)}</EventKey><Ticket>${cdata(p.ticket)}</Ticket></xml>`

/** The signed URL and the body: plaintext, or in safe mode the envelope with `encrypt_type` and `msg_signature`. */
const buildRequest = (state: SandboxState, appId: string, target: CallbackTarget, openid: string, plainXml: string, toUser: string) => {
  const timestamp = String(unixSeconds(state.clock))
  // WeChat's nonces are decimal numbers of 9 to 10 digits.
  const nonce = randomChars(state, '123456789', 1) + randomChars(state, '0123456789', 9)
  const url = new URL(target.url)
  url.searchParams.set('signature', sha1Signature([target.token, timestamp, nonce]))
  url.searchParams.set('timestamp', timestamp)
  url.searchParams.set('nonce', nonce)
  url.searchParams.set('openid', openid)
  if (target.aesKey === undefined) return { url: url.toString(), body: plainXml }
  const enc = encrypt(plainXml, aesKeyFrom(target.aesKey), appId, randomBytes(state, 16))
  url.searchParams.set('encrypt_type', 'aes')
  url.searchParams.set('msg_signature', msgSignature({ token: target.token, timestamp, nonce, encrypt: enc }))
  return { url: url.toString(), body: `<xml><ToUserName>${cdata(toUser)}</ToUserName><Encrypt>${cdata(enc)}</Encrypt></xml>` }
}

interface Attempt {
  status: number
  body: string
  error?: string
}

/** One POST; the timeout covers the whole answer, body included. */
const attempt = async (url: string, body: string, timeoutMs: number, stopping: AbortSignal): Promise<Attempt> => {
  const signal = AbortSignal.any([stopping, AbortSignal.timeout(timeoutMs)])
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/xml' }, body, signal })
    return { status: res.status, body: await res.text() }
  } catch (e) {
    const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError') && !stopping.aborted
    return { status: 0, body: '', error: timedOut ? `no answer within ${timeoutMs} ms` : e instanceof Error ? e.message : String(e) }
  }
}

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/** Opens a safe-mode reply envelope as WeChat would: msg_signature first, then decrypt. `success` and '' pass as they are. */
const openReply = (raw: string, target: CallbackTarget, appId: string): { reply: string; error?: string } => {
  if (target.aesKey === undefined || !raw.trimStart().startsWith('<')) return { reply: raw }
  try {
    const env = parseXml(raw)
    const enc = text(env.Encrypt)
    if (enc === undefined) return { reply: raw, error: 'safe mode reply without <Encrypt>' }
    const expected = msgSignature({ token: target.token, timestamp: text(env.TimeStamp) ?? '', nonce: text(env.Nonce) ?? '', encrypt: enc })
    if (expected !== env.MsgSignature) return { reply: raw, error: 'reply MsgSignature does not match' }
    return { reply: decrypt(enc, aesKeyFrom(target.aesKey), appId).xml }
  } catch (e) {
    return { reply: raw, error: `cannot open the reply: ${e instanceof Error ? e.message : String(e)}` }
  }
}

/** The <Content> of a passive text reply, if that is what the reply is. */
const replyTextOf = (reply: string): string | undefined => {
  if (!reply.trimStart().startsWith('<')) return undefined
  try {
    const fields = parseXml(reply)
    return fields.MsgType === 'text' ? text(fields.Content) : undefined
  } catch {
    return undefined
  }
}

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
  const toUser = originalIdOf(rec.appId)
  const plainXml = eventXml({
    toUser, openid, createTime: unixSeconds(state.clock), event, ticket,
    eventKey: subscribing ? `qrscene_${rec.scene}` : rec.scene,
  })
  // Built once: a retry is the very same request (same nonce, same signature, same ciphertext).
  const req = buildRequest(state, rec.appId, target, openid, plainXml, toUser)

  let last: Attempt = { status: 0, body: '' }
  let attempts = 0
  while (attempts < MAX_ATTEMPTS && !ctx.stopping.aborted) {
    attempts++
    last = await attempt(req.url, req.body, ctx.timeoutMs, ctx.stopping)
    if (last.status === 200) break
  }
  const result: ScanSent = { ...base, sent: true, event, status: last.status, reply: last.body, attempts }
  if (last.status === 200) {
    const opened = openReply(last.body, target, rec.appId)
    result.reply = opened.reply
    if (opened.error !== undefined) result.error = opened.error
    const replyText = replyTextOf(opened.reply)
    if (replyText !== undefined) result.replyText = replyText
  } else if (last.error !== undefined) {
    result.error = last.error
  }
  return result
}
