/** @module WeChat callback signatures: sha1 over the lexicographically sorted, concatenated parts. */
import { hash, timingSafeEqual } from 'node:crypto'

/**
 * sha1(sort(parts).join('')) in lower-case hex.
 * The parts are sorted by string value (default JS sort), never by parameter name, never numerically:
 * the official worked example sorts "1514711492" before "1714036504" before "AAAAA".
 * https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
 * https://developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html
 */
export const sha1Signature = (parts: string[]): string =>
  // The one-shot hash (a third of createHash's cost: no Hash object per callback).
  hash('sha1', [...parts].sort().join(''), 'hex')

/**
 * Constant-time string comparison. Strings of different byte length compare false at once: the length
 * of a sha1 hex digest is public, so leaking it costs nothing.
 */
export const safeEqual = (a: string, b: string): boolean => {
  if (typeof a !== 'string' || typeof b !== 'string') return false
  const x = Buffer.from(a, 'utf8')
  const y = Buffer.from(b, 'utf8')
  if (x.length !== y.length) return false
  return timingSafeEqual(x, y)
}

/**
 * The 3-element `signature` of the GET URL verification and of every POST (still present, and still
 * valid, in safe mode). Compared exactly: WeChat sends lower-case hex.
 * https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
 */
export const verifySignature = (p: { token: string; timestamp: string; nonce: string; signature: string }): boolean =>
  safeEqual(sha1Signature([p.token, p.timestamp, p.nonce]), p.signature)

/**
 * The 4-element `msg_signature` of compatible and safe mode (inbound: timestamp and nonce from the URL,
 * Encrypt from the body; replies: the values written into the envelope).
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
 */
export const msgSignature = (p: { token: string; timestamp: string; nonce: string; encrypt: string }): string =>
  sha1Signature([p.token, p.timestamp, p.nonce, p.encrypt])

/** Checks `msg_signature`; in safe mode this (not the 3-element `signature`) authenticates the ciphertext. */
export const verifyMsgSignature = (p: {
  token: string
  timestamp: string
  nonce: string
  encrypt: string
  msgSignature: string
}): boolean => safeEqual(msgSignature(p), p.msgSignature)
