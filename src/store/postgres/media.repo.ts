/** @module Temporary media uploads (PostgreSQL; semantics: ../sqlite/media.repo.ts). */
import { and, eq, gt, inArray, lt } from 'drizzle-orm'
import type { MediaRepo } from '../contract'
import type { PgOrm } from './orm'
import { mediaUploads } from './schema'

export const mediaRepo = (orm: PgOrm): MediaRepo => ({
  reusable: async (p) =>
    (await orm.select().from(mediaUploads).where(and(
      eq(mediaUploads.channelId, p.channelId), eq(mediaUploads.type, p.type), eq(mediaUploads.sha256, p.sha256),
      gt(mediaUploads.expiresAt, p.validAfter),
    )))[0],
  put: async (row) => {
    await orm.insert(mediaUploads).values(row).onConflictDoUpdate({
      target: [mediaUploads.channelId, mediaUploads.type, mediaUploads.sha256],
      set: { mediaId: row.mediaId, bytes: row.bytes, createdAt: row.createdAt, expiresAt: row.expiresAt },
    })
  },
  pruneExpiredBefore: async (before, limit) =>
    (await orm.delete(mediaUploads).where(inArray(mediaUploads.mediaId,
      orm.select({ mediaId: mediaUploads.mediaId }).from(mediaUploads).where(lt(mediaUploads.expiresAt, before)).limit(limit)))
      .returning({ mediaId: mediaUploads.mediaId })).length,
})
