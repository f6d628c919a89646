/**
 * @module Bind codes and bindings: a team asks for a code for its user id (the subject), WeChat carries
 * the code as the scene of a temporary QR code, and the scan event (handlers/bind.rules.ts) joins the
 * user's OpenID to the subject.
 */
import { z } from 'zod'
import { inChunks } from '../lib/chunks'
import type { Clock } from '../lib/clock'
import { pageCursor } from '../lib/cursor'
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors'
import type { Logger } from '../lib/log'
import type { Random } from '../lib/random'
import type { BindCodeRow, BindingRow, Db } from '../store/contract'
import type { WeChatClient } from '../wechat-api/client'
import { ChannelId, type ChannelService } from './channel.service'
import type { EventsService } from './events.service'
import { QR_CREATE_API, type TokenService } from './token.service'

/** WeChat's limits for a temporary QR code: 60 s … 30 days. */
export const MIN_TTL_SECONDS = 60
export const MAX_TTL_SECONDS = 2_592_000
/** When neither the request (ttlSeconds) nor WXGATE_BIND_TTL says: 30 minutes. */
export const DEFAULT_TTL_SECONDS = 1800
/** Expired codes (bound or not) are deleted this long after they expired; until then GET still answers. */
export const CODE_GRACE_MS = 7 * 24 * 3600_000

export const BindCodeInput = z.object({
  subject: z.string().trim().min(1, 'must not be empty').max(128).meta({ description: 'Your own user id', example: 'u-42' }),
  label: z.string().trim().min(1).max(64).optional().meta({ description: 'Shown on the bind page', example: '张三 (CRM)' }),
  channel: ChannelId.optional().meta({ description: 'Channel id; default WXGATE_CHANNEL' }),
  ttlSeconds: z.number().int().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS).optional().meta({ description: 'Lifetime of the code and its QR code in seconds (default 1800, or the WXGATE_BIND_TTL setting)' }),
})
export type BindCodeInput = z.infer<typeof BindCodeInput>

/** The demo's stand-in for a phone: makes the sandbox WeChat send the scan event of this code. */
export type SimulateScan = (code: string) => Promise<unknown>

export type BindCodeStatus = 'pending' | 'bound' | 'expired'

export interface BindCodeView {
  code: string
  channel: string
  subject: string
  label?: string
  status: BindCodeStatus
  openid?: string
  boundAt?: string
  expiresAt: string
}

export interface BindingView {
  id: string
  channel: string
  subject: string
  openid: string
  status: 'active' | 'unsubscribed'
  boundAt: string
}

const iso = (ms: number) => new Date(ms).toISOString()

/** A cancelled code reads as expired to the public: it can no longer be used. */
export const statusOf = (row: BindCodeRow, now: number): BindCodeStatus =>
  row.status === 'bound' ? 'bound' : row.status === 'pending' && row.expiresAt > now ? 'pending' : 'expired'

export const bindingView = (r: BindingRow): BindingView =>
  ({ id: r.id, channel: r.channelId, subject: r.subject, openid: r.openid, status: r.status as BindingView['status'], boundAt: iso(r.boundAt) })

const cursor = pageCursor('s')

export interface BindServiceDeps {
  db: Db
  clock: Clock
  random: Random
  log: Logger
  channels: ChannelService
  tokens: TokenService
  wechat: WeChatClient
  defaultChannel: string
  /** Base of the showqrcode link (https://mp.weixin.qq.com in production). */
  qrImageBase: string
  /** Lifetime of a code whose request gives no ttlSeconds (WXGATE_BIND_TTL); default DEFAULT_TTL_SECONDS. */
  defaultTtlSeconds?: number
  /** Events out (SPEC §6): binding.removed, in the transaction that deletes the binding. */
  events?: Pick<EventsService, 'emit'>
}

export const createBindService = (deps: BindServiceDeps) => {
  const { db, clock, random, channels } = deps
  const log = deps.log.child({ module: 'bind' })
  const codes = db.read.bindCodes
  const binds = db.read.bindings

  const view = (row: BindCodeRow): BindCodeView => {
    const status = statusOf(row, clock.now())
    return {
      code: row.code,
      channel: row.channelId,
      subject: row.subject,
      ...(row.label ? { label: row.label } : {}),
      status,
      ...(status === 'bound' && row.openid ? { openid: row.openid, boundAt: iso(row.boundAt!) } : {}),
      expiresAt: iso(row.expiresAt),
    }
  }

  /** Cancelled codes are gone as far as the API is concerned. */
  const rowOrThrow = async (code: string): Promise<BindCodeRow> => {
    const row = await codes.get(code)
    if (!row || row.status === 'cancelled') throw new NotFoundError(`no bind code '${code}'`)
    return row
  }

  /**
   * Creates a code and its temporary QR code. WeChat is asked first and the row written after: a WeChat
   * failure (a 502 carrying its errcode) leaves nothing behind.
   */
  const create = async (input: BindCodeInput, base: { bindUrlBase: string }) => {
    const channelId = input.channel ?? deps.defaultChannel
    if (!channels.get(channelId)) throw new ValidationError(`channel: no channel '${channelId}'`)
    const ttl = input.ttlSeconds ?? deps.defaultTtlSeconds ?? DEFAULT_TTL_SECONDS
    // 128 random bits, URL-safe, 22 characters: well inside the 64-character scene limit.
    const code = Buffer.from(random.bytes(16)).toString('base64url')
    const qr = await deps.tokens.withToken(channelId, (accessToken) =>
      deps.wechat.createQrCode(accessToken, { action_name: 'QR_STR_SCENE', expire_seconds: ttl, action_info: { scene: { scene_str: code } } }),
    // A 45009 from qrcode/create stops QR creation only (503 until the quota is back), not the token.
    { api: QR_CREATE_API })
    const now = clock.now()
    const row: BindCodeRow = {
      code, channelId, subject: input.subject, label: input.label ?? null, status: 'pending',
      qrTicket: qr.ticket, qrUrl: qr.url, createdAt: now, expiresAt: now + ttl * 1000, openid: null, boundAt: null,
    }
    await db.tx((s) => s.bindCodes.insert(row))
    log.info('bind code created', { channel: channelId, subject: input.subject, ttlSeconds: ttl })
    return {
      ...view(row),
      qr: { ticket: qr.ticket, url: qr.url, imageUrl: deps.wechat.showQrCodeUrl(qr.ticket, deps.qrImageBase) },
      bindUrl: `${base.bindUrlBase.replace(/\/$/, '')}/bind/${code}`,
    }
  }

  const get = async (code: string): Promise<BindCodeView> => view(await rowOrThrow(code))

  /** pending → cancelled (a later scan is answered "expired"); a bound code cannot be cancelled. */
  const cancel = async (code: string): Promise<void> => {
    const row = await rowOrThrow(code)
    if (row.status === 'bound') throw new ConflictError('the code is already bound; delete the binding instead (DELETE /api/bindings/:id)')
    if (!(await db.tx((s) => s.bindCodes.cancel(code)))) throw new ConflictError('the code was bound meanwhile')
  }

  /** What the public bind page may know: the status and the QR content, nothing about who. */
  const page = async (code: string): Promise<{ status: BindCodeStatus; label?: string; accountName?: string; qrContent: string; expiresAt: number } | undefined> => {
    const row = await codes.get(code)
    if (!row) return undefined
    // The account to follow is public anyway (it is what the QR code opens); the subject is not shown.
    const accountName = channels.get(row.channelId)?.name ?? undefined
    return { status: statusOf(row, clock.now()), ...(row.label ? { label: row.label } : {}), ...(accountName ? { accountName } : {}), qrContent: row.qrUrl, expiresAt: row.expiresAt }
  }

  const listBindings = async (q: { channel?: string; subject?: string; openid?: string; limit?: number; cursor?: string }) => {
    const limit = q.limit ?? 50
    const rows = await binds.list({
      channelId: q.channel, subject: q.subject, openid: q.openid,
      afterSeq: q.cursor ? cursor.decode(q.cursor) : undefined,
      limit: limit + 1,
    })
    const more = rows.length > limit
    const items = rows.slice(0, limit)
    return { items: items.map(bindingView), ...(more ? { nextCursor: cursor.encode(items.at(-1)!.seq) } : {}) }
  }

  const deleteBinding = async (id: string): Promise<void> => {
    const deleted = await db.tx(async (s) => {
      const row = await s.bindings.get(id)
      if (!row || !(await s.bindings.delete(id))) return false
      await deps.events?.emit(s, { type: 'binding.removed', channelId: row.channelId, data: { channel: row.channelId, openid: row.openid, subject: row.subject, ...(row.code ? { code: row.code } : {}) } })
      return true
    })
    if (!deleted) throw new NotFoundError(`no binding '${id}'`)
  }

  const prune = async (): Promise<number> => {
    const before = clock.now() - CODE_GRACE_MS
    return inChunks((limit) => db.tx((s) => s.bindCodes.pruneExpiredBefore(before, limit)))
  }

  return { create, get, cancel, page, listBindings, deleteBinding, prune }
}
export type BindService = ReturnType<typeof createBindService>
