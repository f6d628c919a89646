/**
 * @module Temporary media (PROTOCOL.md §9.4; https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/New_temporary_materials.html):
 * media/upload reads the multipart field `media`, checks the type and WeChat's sizes and keeps the bytes in
 * memory under a new media_id (3 days); media/get answers the bytes with their Content-Type and a
 * Content-Disposition, a video's link as JSON, 40007 for an id it does not hold. `addMedia` puts a media "a user
 * sent" (an image message's MediaId) so a test can download it. Uploads are counted through the call log
 * (`calls('/cgi-bin/media/upload')`), like every other endpoint.
 */
import { randomChars, TOKEN_ALPHABET, type SandboxRequest, type SandboxState } from './sandbox.state'
import { checkAccessToken } from './tokens'
import { jsonAnswer, wxError } from './wx-reply'

export type SandboxMediaType = 'image' | 'voice' | 'video' | 'thumb'

export interface SandboxMedia {
  appId: string
  type: SandboxMediaType
  bytes: Uint8Array
  contentType: string
  filename: string
  createdAt: number
}

const MB = 1024 * 1024
/** WeChat's limits (PROTOCOL.md §9.4). */
export const SANDBOX_MEDIA_LIMITS: Readonly<Record<SandboxMediaType, number>> = { image: 10 * MB, voice: 2 * MB, video: 10 * MB, thumb: 64 * 1024 }
const TTL_MS = 3 * 86_400_000
const DEFAULT_TYPES: Record<SandboxMediaType, string> = { image: 'image/jpeg', voice: 'audio/amr', video: 'video/mp4', thumb: 'image/jpeg' }

/** Media per sandbox, beside its state (sandbox.state.ts stays as it is); reset() forgets them. */
const stores = new WeakMap<SandboxState, Map<string, SandboxMedia>>()
const storeOf = (state: SandboxState): Map<string, SandboxMedia> => {
  let s = stores.get(state)
  if (!s) stores.set(state, (s = new Map()))
  return s
}

const isType = (t: string | undefined): t is SandboxMediaType => t !== undefined && Object.hasOwn(SANDBOX_MEDIA_LIMITS, t)

export const addMedia = (state: SandboxState, appId: string, bytes: Uint8Array, opts: { type?: SandboxMediaType; contentType?: string; filename?: string } = {}): string => {
  const type = opts.type ?? 'image'
  const mediaId = randomChars(state, TOKEN_ALPHABET, 64)
  storeOf(state).set(mediaId, {
    appId, type, bytes,
    contentType: opts.contentType || DEFAULT_TYPES[type],
    filename: opts.filename || `${mediaId.slice(0, 12)}.${type === 'voice' ? 'amr' : type === 'video' ? 'mp4' : 'jpg'}`,
    createdAt: state.clock.now(),
  })
  return mediaId
}

export const mediaOf = (state: SandboxState, mediaId: string): SandboxMedia | undefined => storeOf(state).get(mediaId)

export const resetMedia = (state: SandboxState): void => { storeOf(state).clear() }

export const handleMediaUpload = (state: SandboxState, req: SandboxRequest): Response => {
  if (req.method !== 'POST') return wxError(state.random, 43002)
  const acc = checkAccessToken(state, req)
  if (acc instanceof Response) return acc
  const type = req.query.type
  if (!isType(type)) return wxError(state.random, 40004, 'invalid media type')
  const file = req.form?.get('media')
  if (file === undefined || typeof file === 'string') return wxError(state.random, 41005, 'media data missing')
  if (file.bytes.byteLength === 0 || file.bytes.byteLength > SANDBOX_MEDIA_LIMITS[type]) return wxError(state.random, 40006, 'invalid media size')
  const mediaId = addMedia(state, acc.account.appId, file.bytes, { type, contentType: file.contentType, filename: file.filename })
  return jsonAnswer({ type, media_id: mediaId, created_at: Math.floor(state.clock.now() / 1000), item: [] })
}

export const handleMediaGet = (state: SandboxState, req: SandboxRequest): Response => {
  const acc = checkAccessToken(state, req)
  if (acc instanceof Response) return acc
  const m = storeOf(state).get(req.query.media_id ?? '')
  if (!m || m.appId !== acc.account.appId || state.clock.now() >= m.createdAt + TTL_MS) return wxError(state.random, 40007, 'invalid media_id')
  // WeChat gives a video's download link rather than the file; the sandbox does not serve that link.
  if (m.type === 'video') return jsonAnswer({ video_url: `http://sandbox.invalid/video/${encodeURIComponent(req.query.media_id ?? '')}` })
  return new Response(m.bytes, {
    status: 200,
    headers: {
      'content-type': m.contentType,
      'content-disposition': `attachment; filename="${m.filename.replace(/[^\x20-\x7e]|["\\]/g, '_')}"`,
      'content-length': String(m.bytes.byteLength),
      'cache-control': 'no-cache, must-revalidate',
    },
  })
}
