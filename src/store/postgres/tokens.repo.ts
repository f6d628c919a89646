/** @module Access-token rows (PostgreSQL; semantics: ../sqlite/tokens.repo.ts). */
import { and, eq, ne, sql } from 'drizzle-orm'
import type { TokensRepo } from '../contract'
import type { PgOrm } from './orm'
import { channelTokens } from './schema'

export const tokensRepo = (orm: PgOrm): TokensRepo => ({
  get: async (channelId) => (await orm.select().from(channelTokens).where(eq(channelTokens.channelId, channelId)))[0],
  expiries: () => orm.select({ channelId: channelTokens.channelId, expiresAt: channelTokens.expiresAt }).from(channelTokens),
  ensureDay: async (channelId, day) => {
    await orm.insert(channelTokens).values({ channelId, day }).onConflictDoNothing()
    await orm.update(channelTokens).set({ day, refreshesToday: 0, forceRefreshesToday: 0 })
      .where(and(eq(channelTokens.channelId, channelId), ne(channelTokens.day, day)))
  },
  storeToken: async (channelId, p) => {
    await orm.update(channelTokens).set({
      accessToken: p.accessToken,
      expiresAt: p.expiresAt,
      refreshedAt: p.now,
      refreshesToday: sql`${channelTokens.refreshesToday} + 1`,
      ...(p.forced ? { forceRefreshesToday: sql`${channelTokens.forceRefreshesToday} + 1`, lastForceAt: p.now } : {}),
      lastError: null,
    }).where(eq(channelTokens.channelId, channelId))
  },
  countForceAttempt: async (channelId, now) => {
    await orm.update(channelTokens).set({ forceRefreshesToday: sql`${channelTokens.forceRefreshesToday} + 1`, lastForceAt: now })
      .where(eq(channelTokens.channelId, channelId))
  },
  invalidateIf: async (channelId, failing) =>
    (await orm.update(channelTokens).set({ accessToken: null, expiresAt: null })
      .where(and(eq(channelTokens.channelId, channelId), eq(channelTokens.accessToken, failing)))
      .returning({ id: channelTokens.channelId })).length > 0,
  setError: async (channelId, lastError) => { await orm.update(channelTokens).set({ lastError }).where(eq(channelTokens.channelId, channelId)) },
  setQuotaUntil: async (channelId, until) => { await orm.update(channelTokens).set({ quotaUntil: until }).where(eq(channelTokens.channelId, channelId)) },
  setApiQuotas: async (channelId, apiQuotas) => { await orm.update(channelTokens).set({ apiQuotas }).where(eq(channelTokens.channelId, channelId)) },
})
