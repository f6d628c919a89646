/**
 * @module Pushing an event to an account's server URL as WeChat does: signed, and with an EncodingAESKey
 * encrypted (safe mode); retried twice when the answer is not 200 within the timeout. Shared by scans
 * (scan.ts) and TEMPLATESENDJOBFINISH reports (template-finish.ts).
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
 */
import { createHash } from 'node:crypto'
import { unixSeconds } from '../lib/clock'
import { aesKeyFrom, decrypt, encrypt } from '../wechat/crypto'
import { msgSignature, sha1Signature } from '../wechat/signature'
import { cdata, parseXml } from '../wechat/xml'
import { type SandboxState, randomChars } from './sandbox.state'
import type { CallbackTarget } from './sandbox.types'

/** WeChat's retry rule: the first try plus two retries. */
const MAX_ATTEMPTS = 3

/** The account's original ID (ToUserName of every event): `gh_` + 12 hex digits, stable per appId. */
export const originalIdOf = (appId: string): string =>
  `gh_${createHash('sha1').update(`original-id:${appId}`).digest('hex').slice(0, 12)}`

const randomBytes = (state: SandboxState, n: number): Buffer =>
  Buffer.from(Array.from({ length: n }, () => Math.min(255, Math.floor(state.random() * 256))))

/** The signed URL and the body: plaintext, or in safe mode the envelope with `encrypt_type` and `msg_signature`. */
const buildRequest = (state: SandboxState, appId: string, target: CallbackTarget, openid: string, plainXml: string) => {
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
  return { url: url.toString(), body: `<xml><ToUserName>${cdata(originalIdOf(appId))}</ToUserName><Encrypt>${cdata(enc)}</Encrypt></xml>` }
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
export const replyTextOf = (reply: string): string | undefined => {
  if (!reply.trimStart().startsWith('<')) return undefined
  try {
    const fields = parseXml(reply)
    return fields.MsgType === 'text' ? text(fields.Content) : undefined
  } catch {
    return undefined
  }
}

export interface PushContext {
  timeoutMs: number
  /** Aborted when the sandbox stops: pending attempts end, no retry follows. */
  stopping: AbortSignal
}

export interface PushResult {
  /** HTTP status of the last attempt; 0 when it got no answer (timeout, connection refused). */
  status: number
  /** The last answer's body; in safe mode the decrypted plaintext of an encrypted reply. */
  reply: string
  attempts: number
  /** Why the last attempt failed (no answer), or why a safe-mode reply could not be opened. */
  error?: string
}

export const pushEvent = async (state: SandboxState, appId: string, target: CallbackTarget, openid: string, plainXml: string, ctx: PushContext): Promise<PushResult> => {
  // Built once: a retry is the very same request (same nonce, same signature, same ciphertext).
  const req = buildRequest(state, appId, target, openid, plainXml)
  let last: Attempt = { status: 0, body: '' }
  let attempts = 0
  while (attempts < MAX_ATTEMPTS && !ctx.stopping.aborted) {
    attempts++
    last = await attempt(req.url, req.body, ctx.timeoutMs, ctx.stopping)
    if (last.status === 200) break
  }
  const result: PushResult = { status: last.status, reply: last.body, attempts }
  if (last.status === 200) {
    const opened = openReply(last.body, target, appId)
    result.reply = opened.reply
    if (opened.error !== undefined) result.error = opened.error
  } else if (last.error !== undefined) {
    result.error = last.error
  }
  return result
}
