/** @module API key rows (PostgreSQL; semantics: ../sqlite/apikeys.repo.ts). */
import { and, asc, eq, isNull } from 'drizzle-orm'
import type { ApiKeysRepo } from '../contract'
import type { PgOrm } from './orm'
import { apiKeys } from './schema'

export const apiKeysRepo = (orm: PgOrm): ApiKeysRepo => ({
  insert: async (row) => { await orm.insert(apiKeys).values(row) },
  list: () => orm.select().from(apiKeys).orderBy(asc(apiKeys.createdAt)),
  findActiveByHash: async (keyHash) =>
    (await orm.select().from(apiKeys).where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt))))[0],
  revoke: async (id, now) =>
    (await orm.update(apiKeys).set({ revokedAt: now }).where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id })).length > 0,
  touch: async (id, now) => { await orm.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, id)) },
  exists: async (id) => (await orm.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.id, id))).length > 0,
})
