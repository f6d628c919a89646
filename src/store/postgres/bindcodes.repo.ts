/** @module Bind codes (PostgreSQL; semantics: ../sqlite/bindcodes.repo.ts). */
import { and, eq, gt, inArray, lt } from 'drizzle-orm'
import type { BindCodesRepo } from '../contract'
import type { PgOrm } from './orm'
import { bindCodes } from './schema'

export const bindCodesRepo = (orm: PgOrm): BindCodesRepo => ({
  insert: async (row) => { await orm.insert(bindCodes).values(row) },
  get: async (code) => (await orm.select().from(bindCodes).where(eq(bindCodes.code, code)))[0],
  /** One conditional UPDATE: of two instances consuming at once the second waits for the first's commit, re-reads the row (READ COMMITTED) and no longer matches. */
  consume: async (p) =>
    (await orm.update(bindCodes).set({ status: 'bound', openid: p.openid, boundAt: p.now })
      .where(and(eq(bindCodes.code, p.code), eq(bindCodes.channelId, p.channelId), eq(bindCodes.status, 'pending'), gt(bindCodes.expiresAt, p.now)))
      .returning())[0],
  cancel: async (code) =>
    (await orm.update(bindCodes).set({ status: 'cancelled' })
      .where(and(eq(bindCodes.code, code), eq(bindCodes.status, 'pending'))).returning({ code: bindCodes.code })).length > 0,
  pruneExpiredBefore: async (before, limit) =>
    (await orm.delete(bindCodes).where(inArray(bindCodes.code,
      orm.select({ code: bindCodes.code }).from(bindCodes).where(lt(bindCodes.expiresAt, before)).limit(limit))).returning({ code: bindCodes.code })).length,
})
