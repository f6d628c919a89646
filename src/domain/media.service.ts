/**
 * @module Temporary media (SPEC §7 "Media", PROTOCOL.md §9.4): uploads to WeChat's media/upload with reuse by
 * content, and downloads from media/get handed to the caller as a stream.
 *
 * Reuse: the same bytes (SHA-256) of the same type on the same channel get the stored media id without a
 * WeChat call while it has more than REUSE_MARGIN_MS left, so a caller that uploads its logo before every
 * send makes one upload every ~3 days. Concurrent uploads of the same content share one WeChat call.
 */
import { createHash } from 'node:crypto'
import type { Clock } from '../lib/clock'
import { inChunks } from '../lib/chunks'
import { NotFoundError } from '../lib/errors'
import type { Logger } from '../lib/log'
import { createSingleFlight } from '../lib/single-flight'
import type { Db } from '../store/contract'
import { WeChatApiError, type WeChatClient } from '../wechat-api/client'
import type { ChannelService } from './channel.service'
import { apiOf, type TokenService } from './token.service'

export const MEDIA_TYPES = ['image', 'voice', 'video', 'thumb'] as const
export type MediaType = (typeof MEDIA_TYPES)[number]

const MB = 1024 * 1024
/**
 * WeChat's limits per type (PROTOCOL.md §9.4), read as binary megabytes ("10M"): checked before any call.
 * The image page also says 2 MB in one place; 10 MB is the limit WeChat applies and the one SPEC §7 names.
 */
export const MEDIA_LIMITS: Readonly<Record<MediaType, number>> = { image: 10 * MB, voice: 2 * MB, video: 10 * MB, thumb: 64 * 1024 }
export const MEDIA_MAX_BYTES = Math.max(...Object.values(MEDIA_LIMITS))
/**
 * Room for the multipart framing and the small fields around the file (boundaries, part headers, `type`,
 * `channel`): a declared length over the largest file limit plus this is refused before a byte is read.
 */
export const MULTIPART_OVERHEAD = 64 * 1024
/** The largest upload body (POST /api/media); server.ts sets Bun's hard limit above it. */
export const MEDIA_BODY_LIMIT = MEDIA_MAX_BYTES + MULTIPART_OVERHEAD
/** WeChat keeps a temporary media 3 days. */
export const MEDIA_TTL_MS = 3 * 86_400_000
/** A stored media id is reused only while it has more than this left (a send made with it must still find it). */
export const REUSE_MARGIN_MS = 3_600_000

export const MEDIA_UPLOAD_ENDPOINT = '/cgi-bin/media/upload'
export const MEDIA_GET_ENDPOINT = '/cgi-bin/media/get'
/** 40007 invalid media_id: unknown, expired, or another account's. */
const INVALID_MEDIA_ID = 40007

/** Content types WeChat expects per type, for a file sent without one. */
const DEFAULT_CONTENT_TYPE: Record<MediaType, string> = { image: 'image/jpeg', voice: 'audio/amr', video: 'video/mp4', thumb: 'image/jpeg' }

export interface MediaUpload {
  mediaId: string
  type: MediaType
  expiresAt: string
  /** True when the stored id was returned without a WeChat call. */
  reused: boolean
}

/** What GET /api/media/:id hands on: WeChat's file answer (body unread), or a video's link as WeChat gave it. */
export type MediaDownload = { file: Response } | { json: { video_url: string } }

export interface MediaServiceDeps {
  db: Db
  clock: Clock
  log: Logger
  channels: ChannelService
  tokens: TokenService
  wechat: WeChatClient
  defaultChannel: string
}

export const createMediaService = (deps: MediaServiceDeps) => {
  const { db, clock, channels, tokens, wechat } = deps
  const log = deps.log.child({ module: 'media' })
  const flight = createSingleFlight()

  const channelOf = (channel: string | undefined): string => {
    const id = channel ?? deps.defaultChannel
    if (!channels.get(id)) throw new NotFoundError(`unknown channel '${id}'`, { details: { channel: id } })
    return id
  }

  /** The caller has checked the type and the size (the route does, while reading the body). */
  const upload = async (p: { channel?: string; type: MediaType; bytes: Uint8Array; filename?: string; contentType?: string }): Promise<MediaUpload> => {
    const channelId = channelOf(p.channel)
    const sha256 = createHash('sha256').update(p.bytes).digest('hex')
    const stored = () => db.read.media.reusable({ channelId, type: p.type, sha256, validAfter: clock.now() + REUSE_MARGIN_MS })
    const hit = await stored()
    if (hit) return { mediaId: hit.mediaId, type: p.type, expiresAt: new Date(hit.expiresAt).toISOString(), reused: true }
    return flight(`${channelId}\n${p.type}\n${sha256}`, async () => {
      // WeChat's created_at is on WeChat's clock; the time before the call is on ours and never later than it.
      const createdAt = clock.now()
      const answer = await tokens.withToken(channelId, (accessToken) => wechat.uploadMedia(accessToken, {
        type: p.type,
        bytes: p.bytes,
        filename: p.filename || `${p.type}.${extensionOf(p.type)}`,
        contentType: p.contentType || DEFAULT_CONTENT_TYPE[p.type],
      }), { api: apiOf(MEDIA_UPLOAD_ENDPOINT) })
      const expiresAt = createdAt + MEDIA_TTL_MS
      await db.tx((s) => s.media.put({ channelId, type: p.type, sha256, mediaId: answer.media_id, bytes: p.bytes.byteLength, createdAt, expiresAt }))
      log.info('media uploaded', { channel: channelId, type: p.type, bytes: p.bytes.byteLength, mediaId: answer.media_id })
      return { mediaId: answer.media_id, type: p.type, expiresAt: new Date(expiresAt).toISOString(), reused: false }
    })
  }

  const download = async (p: { channel?: string; mediaId: string }): Promise<MediaDownload> => {
    const channelId = channelOf(p.channel)
    try {
      return await tokens.withToken(channelId, (accessToken) => wechat.downloadMedia(accessToken, p.mediaId), { api: apiOf(MEDIA_GET_ENDPOINT) })
    } catch (e) {
      if (e instanceof WeChatApiError && e.errcode === INVALID_MEDIA_ID) {
        throw new NotFoundError(`no media '${p.mediaId}' on channel ${channelId}: WeChat answered 40007 (temporary media last 3 days; a user's media id is for this channel only)`, {
          cause: e, details: { errcode: e.errcode, errmsg: e.errmsg },
        })
      }
      throw e
    }
  }

  /** Rows whose media id has expired (WeChat has forgotten it), in small transactions. */
  const prune = async (): Promise<number> => {
    const before = clock.now()
    return inChunks((limit) => db.tx((s) => s.media.pruneExpiredBefore(before, limit)))
  }

  return { upload, download, prune }
}
export type MediaService = ReturnType<typeof createMediaService>

const extensionOf = (type: MediaType): string => ({ image: 'jpg', voice: 'amr', video: 'mp4', thumb: 'jpg' })[type]
