/** @module Bind codes (see schema.ts): insert, the one conditional UPDATE that consumes a code, cancel, prune. */
import { and, eq, gt, inArray, lt } from 'drizzle-orm'
import type { Drizzle } from './db'
import { bindCodes } from './schema'
import type { BindCodeRow } from '../contract'

/** The rows and inputs are the store contract's (../contract.ts). */
export type { BindCodeRow } from '../contract'

export const bindCodesRepo = (orm: Drizzle) => ({
  insert: (row: BindCodeRow): void => {
    orm.insert(bindCodes).values(row).run()
  },
  get: (code: string): BindCodeRow | undefined => orm.select().from(bindCodes).where(eq(bindCodes.code, code)).get(),
  /**
   * pending and unexpired → bound to this OpenID, in one statement: of many users scanning one code at
   * once exactly one gets the row back. Undefined when the code is not (or no longer) consumable.
   */
  consume: (p: { code: string; channelId: string; openid: string; now: number }): BindCodeRow | undefined =>
    orm.update(bindCodes).set({ status: 'bound', openid: p.openid, boundAt: p.now })
      .where(and(eq(bindCodes.code, p.code), eq(bindCodes.channelId, p.channelId), eq(bindCodes.status, 'pending'), gt(bindCodes.expiresAt, p.now)))
      .returning().get(),
  /** pending → cancelled; false when the code is not pending (bound, cancelled, or missing). */
  cancel: (code: string): boolean =>
    orm.update(bindCodes).set({ status: 'cancelled' })
      .where(and(eq(bindCodes.code, code), eq(bindCodes.status, 'pending')))
      .returning({ code: bindCodes.code }).all().length > 0,
  /** Deletes at most `limit` codes that expired before `before` (ms), whatever their status (walks bind_codes_expires_at_idx). */
  pruneExpiredBefore: (before: number, limit: number): number =>
    orm.delete(bindCodes).where(inArray(bindCodes.code,
      orm.select({ code: bindCodes.code }).from(bindCodes).where(lt(bindCodes.expiresAt, before)).limit(limit))).returning({ code: bindCodes.code }).all().length,
})
