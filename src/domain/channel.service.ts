/**
 * @module Channels (one WeChat Official Account each): validation, upsert, and lookup for callbacks.
 * Kept in memory and reloaded when the database changed, so that a channel added or changed from the CLI
 * is served at once.
 */
import { z } from 'zod'
import type { Clock } from '../lib/clock'
import { ValidationError } from '../lib/errors'
import type { Logger } from '../lib/log'
import type { ChannelRow, Db } from '../store/contract'
import { then } from '../lib/awaitable'

/** Reply texts a WeChat user sees when binding; Chinese by default, overridable per channel. */
export const DEFAULT_REPLIES = {
  bound: '绑定成功',
  alreadyUsed: '该二维码已被使用',
  expired: '二维码已过期，请重新获取',
} as const
export type ReplyTexts = { bound: string; alreadyUsed: string; expired: string }

export const ChannelId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of [A-Za-z0-9_-]')

/**
 * An AppID (wx + 16 hex). The 原始ID (gh_…) shown beside it in the admin is a common mistake: it works
 * nowhere in the API, so it is refused with where the AppID is found.
 */
export const AppId = z.string().trim().min(1, 'must not be empty').max(64)
  .refine((v) => !v.startsWith('gh_'), 'gh_… is the 原始ID (original ID), not the AppID: the AppID (wx…) is at 公众号后台 → 设置与开发 → 基本配置 → 开发者ID(AppID)')

export const ChannelInput = z.object({
  id: ChannelId,
  appId: AppId,
  appSecret: z.string().trim().min(1, 'must not be empty').max(128),
  // WeChat's admin accepts 3-32 letters and digits; empty only with WXGATE_ALLOW_EMPTY_TOKEN.
  token: z.string().regex(/^[A-Za-z0-9]{0,32}$/, 'must be 3-32 letters and digits').refine((t) => t.length === 0 || t.length >= 3, 'must be 3-32 letters and digits'),
  aesKey: z.string().regex(/^[A-Za-z0-9]{43}$/, 'must be 43 characters of [A-Za-z0-9]').optional().nullable(),
  // The account's display name (公众号名称), shown on the bind page: what the colleague is about to follow.
  // Left out, the stored one stays (the environment's channel without WXGATE_CHANNEL_NAME keeps a name set
  // through the API); null clears it.
  name: z.string().trim().min(1, 'must not be empty (leave it out, or null to clear it)').max(64).nullable().optional()
    .meta({ description: 'Display name of the Official Account, shown on the bind page', example: '某某科技服务号' }),
  replies: z.object({
    bound: z.string().min(1).max(600).optional(),
    alreadyUsed: z.string().min(1).max(600).optional(),
    expired: z.string().min(1).max(600).optional(),
  }).strict().optional(),
})
export type ChannelInput = z.infer<typeof ChannelInput>

export interface Channel {
  id: string
  appId: string
  appSecret: string
  token: string
  aesKey: string | null
  replies: ReplyTexts
  /** Display name (公众号名称) or null. */
  name: string | null
  mode: 'plaintext' | 'safe'
  createdAt: number
}

/** What the API and CLI may show: never a secret. */
export interface ChannelView {
  id: string
  appId: string
  name: string | null
  mode: 'plaintext' | 'safe'
  createdAt: string
}

const toChannel = (r: ChannelRow): Channel => ({
  id: r.id,
  appId: r.appId,
  appSecret: r.appSecret,
  token: r.token,
  aesKey: r.aesKey,
  replies: { ...DEFAULT_REPLIES, ...(r.replies ? (JSON.parse(r.replies) as Partial<ReplyTexts>) : {}) },
  name: r.name,
  mode: r.aesKey ? 'safe' : 'plaintext',
  createdAt: r.createdAt,
})

export const viewOf = (c: Channel): ChannelView => ({ id: c.id, appId: c.appId, name: c.name, mode: c.mode, createdAt: new Date(c.createdAt).toISOString() })

export const createChannelService = (deps: { db: Db; clock: Clock; log: Logger; allowEmptyToken: boolean }) => {
  const { db, clock, log } = deps
  const repo = db.read.channels
  // Every callback looks its channel up: keep them in memory, and reload when another process (the CLI,
  // another instance) changed channels (Db.dataVersion) or this one changed a channel. The version is read
  // at most once per turn of the event loop (a burst of callbacks shares one read). On SQLite the reload is
  // synchronous (as before: a channel the CLI added is there for the next callback); on PostgreSQL it runs
  // in the background and `find` waits for it.
  let cache: Map<string, Channel> | undefined
  let version = -1
  let checked = false
  // Each channel's secrets sit in the logger under slots named after it, so a channel added or changed by
  // another process (the CLI) is masked from the moment it is loaded, and a changed secret replaces the old.
  const registered = new Set<string>()
  const setSecrets = (slot: string, c: { appSecret: string; token: string; aesKey?: string | null } | undefined) => {
    log.setSecret(`${slot}:secret`, c?.appSecret)
    log.setSecret(`${slot}:token`, c?.token)
    log.setSecret(`${slot}:aes`, c?.aesKey)
  }
  const register = (channels: Map<string, Channel>) => {
    for (const id of registered) if (!channels.has(id)) setSecrets(`channel:${id}`, undefined)
    registered.clear()
    for (const c of channels.values()) { setSecrets(`channel:${c.id}`, c); registered.add(c.id) }
  }
  let loading: Promise<void> | undefined
  const reload = (): void | Promise<void> => {
    if (loading) return loading
    const v = db.dataVersion()
    const done = then(repo.list(), (rows) => {
      cache = new Map(rows.map((r) => [r.id, toChannel(r)]))
      version = v
      register(cache)
    })
    if (done instanceof Promise) loading = done.finally(() => { loading = undefined })
    return loading
  }
  const all = (): Map<string, Channel> => {
    if (cache && checked) return cache
    if (!cache || db.dataVersion() !== version) {
      const r = reload()
      // A failed background reload keeps the channels known so far (and is tried again on the next check).
      if (r instanceof Promise) r.catch((e) => log.error('could not reload the channels', { error: e }))
    }
    checked = true
    setImmediate(() => { checked = false })
    return cache ?? new Map()
  }
  return {
    /** Loads the channels (once at start, before anything is served). */
    load: async (): Promise<void> => { await reload() },
    get: (id: string): Channel | undefined => all().get(id),
    /** Like get, but a channel not known yet waits for a reload first (added on another instance a moment ago). */
    find: async (id: string): Promise<Channel | undefined> => {
      const c = all().get(id)
      if (c) return c
      await reload()
      return all().get(id)
    },
    list: (): Channel[] => [...all().values()],
    /** Validates and stores a channel; `created` tells insert from update. */
    upsert: async (input: unknown): Promise<{ created: boolean; channel: Channel }> => {
      const parsed = ChannelInput.safeParse(input)
      if (!parsed.success) {
        const i = parsed.error.issues[0]!
        throw new ValidationError(`${i.path.join('.') || 'channel'}: ${i.message}`, { details: parsed.error.issues })
      }
      const c = parsed.data
      if (c.token === '' && !deps.allowEmptyToken) {
        throw new ValidationError('token: an empty callback token lets anyone forge callbacks; set WXGATE_ALLOW_EMPTY_TOKEN=true to allow it')
      }
      // Masked while being written too (a failed statement's error can quote its parameters); once stored,
      // the reload below puts them in the channel's own slots.
      const pending = `channel:${c.id}:pending`
      setSecrets(pending, c)
      try {
        const { created, row } = await db.tx((s) => s.channels.upsert({ ...c, replies: c.replies }, clock.now()))
        await loading
        await reload()
        return { created, channel: toChannel(row) }
      } finally {
        setSecrets(pending, undefined)
      }
    },
  }
}
export type ChannelService = ReturnType<typeof createChannelService>
