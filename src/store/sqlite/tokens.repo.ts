/** @module Access-token rows: the token, its expiry, and the daily counters (see schema.ts). */
import { and, eq, ne, sql } from 'drizzle-orm'
import type { Drizzle } from './db'
import { channelTokens } from './schema'
import type { TokenRow } from '../contract'

/** The rows and inputs are the store contract's (../contract.ts). */
export type { TokenRow } from '../contract'

/** Prepared once per connection: read for every WeChat call. */
const getCache = new WeakMap<Drizzle, ReturnType<typeof prepareGet>>()
const prepareGet = (orm: Drizzle) => orm.select().from(channelTokens).where(eq(channelTokens.channelId, sql.placeholder('id'))).prepare()

export const tokensRepo = (orm: Drizzle) => ({
  get: (channelId: string): TokenRow | undefined => {
    let st = getCache.get(orm)
    if (!st) getCache.set(orm, (st = prepareGet(orm)))
    return st.get({ id: channelId })
  },
  /** Every channel's token expiry (ms; null without a token), for /metrics. One row per channel. */
  expiries: (): { channelId: string; expiresAt: number | null }[] =>
    orm.select({ channelId: channelTokens.channelId, expiresAt: channelTokens.expiresAt }).from(channelTokens).all(),
  /** Creates the row if missing and resets the counters when the Asia/Shanghai day changed. */
  ensureDay: (channelId: string, day: string): void => {
    orm.insert(channelTokens).values({ channelId, day }).onConflictDoNothing().run()
    orm.update(channelTokens).set({ day, refreshesToday: 0, forceRefreshesToday: 0 })
      .where(and(eq(channelTokens.channelId, channelId), ne(channelTokens.day, day))).run()
  },
  storeToken: (channelId: string, p: { accessToken: string; expiresAt: number; now: number; forced: boolean }): void => {
    orm.update(channelTokens).set({
      accessToken: p.accessToken,
      expiresAt: p.expiresAt,
      refreshedAt: p.now,
      refreshesToday: sql`${channelTokens.refreshesToday} + 1`,
      ...(p.forced ? { forceRefreshesToday: sql`${channelTokens.forceRefreshesToday} + 1`, lastForceAt: p.now } : {}),
      lastError: null,
    }).where(eq(channelTokens.channelId, channelId)).run()
  },
  /** Counts a forced refresh that was attempted but failed: the limits count attempts. */
  countForceAttempt: (channelId: string, now: number): void => {
    orm.update(channelTokens).set({ forceRefreshesToday: sql`${channelTokens.forceRefreshesToday} + 1`, lastForceAt: now })
      .where(eq(channelTokens.channelId, channelId)).run()
  },
  /** Compare-and-set: forget the token only if it is still the failing one. */
  invalidateIf: (channelId: string, failing: string): boolean =>
    orm.update(channelTokens).set({ accessToken: null, expiresAt: null })
      .where(and(eq(channelTokens.channelId, channelId), eq(channelTokens.accessToken, failing)))
      .returning({ id: channelTokens.channelId }).all().length > 0,
  setError: (channelId: string, lastError: string | null): void => {
    orm.update(channelTokens).set({ lastError }).where(eq(channelTokens.channelId, channelId)).run()
  },
  setQuotaUntil: (channelId: string, until: number | null): void => {
    orm.update(channelTokens).set({ quotaUntil: until }).where(eq(channelTokens.channelId, channelId)).run()
  },
  /** The per-API quotas (api → until ms) as JSON text; null clears them all. */
  setApiQuotas: (channelId: string, apiQuotas: string | null): void => {
    orm.update(channelTokens).set({ apiQuotas }).where(eq(channelTokens.channelId, channelId)).run()
  },
})
