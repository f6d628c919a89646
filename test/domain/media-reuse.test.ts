/**
 * The reuse rule of POST /api/media (SPEC §7) on the service and its store: the same content, type and channel
 * reuse the stored media id while it has more than an hour left, and are uploaded again after; concurrent
 * uploads of one file make one WeChat call; expired rows are pruned.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createChannelService } from '../../src/domain/channel.service'
import { createMediaService, MEDIA_TTL_MS, REUSE_MARGIN_MS } from '../../src/domain/media.service'
import type { TokenService } from '../../src/domain/token.service'
import { memoryLogger } from '../../src/lib/log'
import { openDb, type SqliteDb as Db } from '../../src/store/sqlite/db'
import { mediaRepo } from '../../src/store/sqlite/media.repo'
import { migrate } from '../../src/store/sqlite/migrate'
import type { WeChatClient } from '../../src/wechat-api/client'

const T0 = Date.UTC(2026, 10, 24, 2, 0, 0)
let now = T0
const clock = { now: () => now }
let dir: string
let db: Db
let uploads: { type: string; bytes: number }[]
let service: ReturnType<typeof createMediaService>

beforeEach(async () => {
  now = T0
  dir = mkdtempSync(join(tmpdir(), 'wxgate-media-'))
  db = openDb(join(dir, 'wxgate.db'))
  migrate(db.sqlite, undefined, now)
  const { logger } = memoryLogger('error')
  const channels = createChannelService({ db, clock, log: logger, allowEmptyToken: true })
  await channels.upsert({ id: 'c1', appId: 'wx0000000000000001', appSecret: 'secret-value', token: 'tokentoken' })
  uploads = []
  const wechat = {
    uploadMedia: async (_t: string, p: { type: string; bytes: Uint8Array }) => {
      uploads.push({ type: p.type, bytes: p.bytes.byteLength })
      await Bun.sleep(5)
      return { type: p.type, media_id: `m${uploads.length}`, created_at: Math.floor(now / 1000) }
    },
  } as unknown as WeChatClient
  const tokens = { withToken: (_c: string, fn: (t: string) => Promise<unknown>) => fn('token') } as unknown as TokenService
  service = createMediaService({ db, clock, log: logger, channels, tokens, wechat, defaultChannel: 'c1' })
})
afterEach(() => { db.close(); rmSync(dir, { recursive: true, force: true }) })

const file = (s: string) => new TextEncoder().encode(s)

describe('media reuse', () => {
  test('more than an hour left: the stored id, no call; an hour or less: a new upload that replaces it', async () => {
    const a = await service.upload({ type: 'image', bytes: file('logo') })
    expect(a).toEqual({ mediaId: 'm1', type: 'image', expiresAt: new Date(T0 + MEDIA_TTL_MS).toISOString(), reused: false })
    now = T0 + MEDIA_TTL_MS - REUSE_MARGIN_MS - 1 // one hour and 1 ms left
    expect(await service.upload({ type: 'image', bytes: file('logo') })).toMatchObject({ mediaId: 'm1', reused: true })
    expect(uploads).toHaveLength(1)
    now = T0 + MEDIA_TTL_MS - REUSE_MARGIN_MS // exactly an hour left
    const b = await service.upload({ type: 'image', bytes: file('logo') })
    expect(b).toMatchObject({ mediaId: 'm2', reused: false, expiresAt: new Date(now + MEDIA_TTL_MS).toISOString() })
    expect(uploads).toHaveLength(2)
    expect(await service.upload({ type: 'image', bytes: file('logo') })).toMatchObject({ mediaId: 'm2', reused: true })
    expect(mediaRepo(db.orm).reusable({ channelId: 'c1', type: 'image', sha256: '0'.repeat(64), validAfter: now })).toBeUndefined()
  })

  test('other bytes or another type are other uploads; concurrent uploads of one file share one call', async () => {
    await service.upload({ type: 'image', bytes: file('a') })
    await service.upload({ type: 'image', bytes: file('b') })
    await service.upload({ type: 'thumb', bytes: file('a') })
    expect(uploads).toHaveLength(3)
    const all = await Promise.all([1, 2, 3].map(() => service.upload({ type: 'voice', bytes: file('same') })))
    expect(new Set(all.map((x) => x.mediaId)).size).toBe(1)
    expect(uploads).toHaveLength(4)
  })

  test('prune deletes the rows whose media id has expired, keeps the others', async () => {
    await service.upload({ type: 'image', bytes: file('old') })
    now = T0 + 2 * 86_400_000
    await service.upload({ type: 'image', bytes: file('new') })
    now = T0 + MEDIA_TTL_MS + 1
    expect(await service.prune()).toBe(1)
    expect(await service.upload({ type: 'image', bytes: file('new') })).toMatchObject({ reused: true })
    expect(await service.upload({ type: 'image', bytes: file('old') })).toMatchObject({ reused: false })
  })
})
