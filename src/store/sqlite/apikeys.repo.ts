/** @module API key rows (hashes only). */
import { and, asc, eq, isNull } from 'drizzle-orm'
import type { Drizzle } from './db'
import { apiKeys } from './schema'
import type { ApiKeyRow } from '../contract'

/** The rows and inputs are the store contract's (../contract.ts). */
export type { ApiKeyRow } from '../contract'

export const apiKeysRepo = (orm: Drizzle) => ({
  insert: (row: typeof apiKeys.$inferInsert): void => { orm.insert(apiKeys).values(row).run() },
  list: (): ApiKeyRow[] => orm.select().from(apiKeys).orderBy(asc(apiKeys.createdAt)).all(),
  /** An active (not revoked) key by its hash. */
  findActiveByHash: (keyHash: string): ApiKeyRow | undefined =>
    orm.select().from(apiKeys).where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt))).get(),
  revoke: (id: string, now: number): boolean =>
    orm.update(apiKeys).set({ revokedAt: now }).where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id }).all().length > 0,
  touch: (id: string, now: number): void => { orm.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, id)).run() },
  exists: (id: string): boolean => orm.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.id, id)).get() !== undefined,
})
