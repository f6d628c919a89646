/** @module Temporary media uploads (media_uploads, see schema.ts): the reusable upload of a file, its upsert, prune. */
import { and, eq, gt, inArray, lt } from 'drizzle-orm'
import type { Drizzle } from './db'
import { mediaUploads } from './schema'
import type { MediaUploadRow } from '../contract'

/** The rows and inputs are the store contract's (../contract.ts). */
export type { MediaUploadRow } from '../contract'

export const mediaRepo = (orm: Drizzle) => ({
  /** The stored upload of this content (channel, type, SHA-256) whose media id is valid past `validAfter` (ms). */
  reusable: (p: { channelId: string; type: string; sha256: string; validAfter: number }): MediaUploadRow | undefined =>
    orm.select().from(mediaUploads).where(and(
      eq(mediaUploads.channelId, p.channelId), eq(mediaUploads.type, p.type), eq(mediaUploads.sha256, p.sha256),
      gt(mediaUploads.expiresAt, p.validAfter),
    )).get(),
  /** One row per content: a new upload of the same file replaces the older media id (media_uploads_uq). */
  put: (row: MediaUploadRow): void => {
    orm.insert(mediaUploads).values(row).onConflictDoUpdate({
      target: [mediaUploads.channelId, mediaUploads.type, mediaUploads.sha256],
      set: { mediaId: row.mediaId, bytes: row.bytes, createdAt: row.createdAt, expiresAt: row.expiresAt },
    }).run()
  },
  /** Deletes at most `limit` rows whose media id expired before `before` (ms) (walks media_uploads_expires_idx). */
  pruneExpiredBefore: (before: number, limit: number): number =>
    orm.delete(mediaUploads).where(inArray(mediaUploads.mediaId,
      orm.select({ mediaId: mediaUploads.mediaId }).from(mediaUploads).where(lt(mediaUploads.expiresAt, before)).limit(limit)))
      .returning({ mediaId: mediaUploads.mediaId }).all().length,
})
