/**
 * @module Parametric QR codes: `cgi-bin/qrcode/create` and `showqrcode`
 * (https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html,
 * PROTOCOL.md §5.6). Tickets are base64 like the real ones, so they carry `=` (and often `+` or `/`) and
 * callers must URL-encode them; the sandbox remembers what each ticket stands for so tests can simulate a scan.
 */
import { z } from 'zod'
import { unixSeconds } from '../lib/clock'
import { ALNUM, type QrRecord, type SandboxRequest, type SandboxState, nextSeq, randomChars } from './sandbox.state'
import type { QrScene } from './sandbox.types'
import { readAuthedPost } from './tokens'
import { jsonAnswer, wxError } from './wx-reply'

/** Current doc: 60 s when omitted (older copies said 30 s). */
const DEFAULT_EXPIRE_SECONDS = 60
/** 30 days. */
const MAX_EXPIRE_SECONDS = 2_592_000
const MAX_TEMP_SCENE_ID = 0xffff_ffff
const MAX_LIMIT_SCENE_ID = 100_000
const MAX_SCENE_STR = 64

export const QrCreateBody = z.object({
  action_name: z.enum(['QR_SCENE', 'QR_STR_SCENE', 'QR_LIMIT_SCENE', 'QR_LIMIT_STR_SCENE']),
  expire_seconds: z.number().optional(),
  action_info: z.object({
    scene: z.object({ scene_id: z.unknown().optional(), scene_str: z.unknown().optional() }).optional(),
  }).optional(),
})
export type QrCreateBody = z.infer<typeof QrCreateBody>

/** A valid 1×1 RGBA PNG: callers only need an image/png answer, not a scannable code. */
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64')

/** The scene value as text, or undefined when it breaks the action's rules (→ 40053). */
const sceneOf = (body: QrCreateBody): string | undefined => {
  const scene = body.action_info?.scene
  const permanent = body.action_name.startsWith('QR_LIMIT_')
  if (body.action_name.endsWith('_STR_SCENE')) {
    const s = scene?.scene_str
    return typeof s === 'string' && s.length >= 1 && s.length <= MAX_SCENE_STR ? s : undefined
  }
  const id = scene?.scene_id
  const max = permanent ? MAX_LIMIT_SCENE_ID : MAX_TEMP_SCENE_ID
  return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= max ? String(id) : undefined
}

const u32le = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]

/**
 * Shaped like a real ticket (base64 of a small binary record holding the QR URL, the creation time and
 * the lifetime). With a 20-character id the record is 70 bytes, so the base64 always ends in "==".
 */
const buildTicket = (state: SandboxState, url: string, createdS: number, expireS: number): string => {
  const rnd = () => Math.min(255, Math.floor(state.random() * 256))
  const urlBytes = [...Buffer.from(url, 'latin1')]
  const bytes = [
    // Real tickets have fewer random bytes; more here make "+" and "/" common, so unencoded tickets fail early.
    0x81, 0x01, ...Array.from({ length: 11 }, rnd), 0x01, urlBytes.length, ...urlBytes,
    0x02, 0x04, ...u32le(createdS), 0x03, 0x04, ...u32le(expireS),
  ]
  return Buffer.from(bytes).toString('base64')
}

export const handleQrCreate = (state: SandboxState, req: SandboxRequest): Response => {
  const post = readAuthedPost(state, req, QrCreateBody)
  if (post instanceof Response) return post
  const { acc, data: body } = post
  const permanent = body.action_name.startsWith('QR_LIMIT_')
  const expireSeconds = permanent ? 0 : body.expire_seconds ?? DEFAULT_EXPIRE_SECONDS
  if (!permanent && !(Number.isInteger(expireSeconds) && expireSeconds >= 1 && expireSeconds <= MAX_EXPIRE_SECONDS)) {
    return wxError(state.random, 47001)
  }
  const scene = sceneOf(body)
  if (scene === undefined) return wxError(state.random, 40053)

  const now = state.clock.now()
  // Random part plus a sequence number: unique even with a constant injected random.
  const id = `${randomChars(state, ALNUM, 12)}${nextSeq(state).toString(36).padStart(8, '0')}`
  const url = `http://weixin.qq.com/q/${id}`
  const ticket = buildTicket(state, url, unixSeconds(state.clock), expireSeconds)
  const rec: QrRecord = { appId: acc.account.appId, scene, permanent }
  if (!permanent) rec.expiresAt = now + expireSeconds * 1000
  state.tickets.set(ticket, rec)
  return jsonAnswer(permanent ? { ticket, url } : { ticket, expire_seconds: expireSeconds, url })
}

/** No token needed, as on mp.weixin.qq.com; 404 for unknown or expired tickets. */
export const handleShowQrcode = (state: SandboxState, req: SandboxRequest): Response => {
  const rec = state.tickets.get(req.query.ticket ?? '')
  if (!rec || (rec.expiresAt !== undefined && state.clock.now() >= rec.expiresAt)) {
    return new Response('404 Not Found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } })
  }
  return new Response(PNG, { status: 200, headers: { 'content-type': 'image/png', 'content-length': String(PNG.length) } })
}

export const qrScene = (state: SandboxState, ticket: string): QrScene | undefined => {
  const rec = state.tickets.get(ticket)
  if (!rec) return undefined
  const out: QrScene = { appId: rec.appId, scene: rec.scene }
  if (rec.expiresAt !== undefined) out.expiresAt = rec.expiresAt
  return out
}
