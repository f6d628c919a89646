/**
 * @module Standard Webhooks 1.0 signatures (PROTOCOL §9.1, https://github.com/standard-webhooks/standard-webhooks
 * spec/standard-webhooks.md "Signature scheme"): pure, no I/O; randomness is a parameter.
 */
import { createHmac } from 'node:crypto'
import type { Random } from './random'

const PREFIX = 'whsec_'
/** Bytes of a secret we generate (the spec allows 24–64). */
export const SECRET_BYTES = 32

/** The key of a secret: base64-decoded after `whsec_`. */
const keyOf = (secret: string): Buffer => Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64')

/** Is this a secret we accept: `whsec_` + base64 of 24–64 bytes (SPEC §2)? */
export const isWebhookSecret = (secret: string): boolean => {
  if (!secret.startsWith(PREFIX)) return false
  const b64 = secret.slice(PREFIX.length)
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return false
  const n = Buffer.from(b64, 'base64').length
  return n >= 24 && n <= 64
}

/** A new secret: `whsec_` + base64 of 32 random bytes. */
export const newWebhookSecret = (random: Random): string => PREFIX + Buffer.from(random.bytes(SECRET_BYTES)).toString('base64')

/** One signature entry, `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. timestamp in Unix seconds. */
export const sign = (secret: string, id: string, timestamp: number, body: string): string =>
  `v1,${createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`

/** The `webhook-signature` header: one entry per secret, space-separated (a verifier accepts any match). */
export const signatureHeader = (secrets: readonly string[], id: string, timestamp: number, body: string): string =>
  secrets.map((s) => sign(s, id, timestamp, body)).join(' ')
