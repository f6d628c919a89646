/** @module Named leases and shared token buckets (PostgreSQL; semantics: ../sqlite/leases.repo.ts). */
import { and, eq, sql } from 'drizzle-orm'
import type { LeasesRepo, RateBucketsRepo } from '../contract'
import { takeFrom } from '../sqlite/leases.repo'
import type { PgOrm } from './orm'
import { leases, rateBuckets } from './schema'

export const leasesRepo = (orm: PgOrm): LeasesRepo => ({
  acquire: async (name, owner, until, now) =>
    // ON CONFLICT … WHERE: a concurrent acquirer waits on the row and re-checks the WHERE against its new value.
    (await orm.insert(leases).values({ name, owner, until }).onConflictDoUpdate({
      target: leases.name,
      set: { owner, until },
      where: sql`${leases.until} <= ${now} OR ${leases.owner} = ${owner}`,
    }).returning({ owner: leases.owner })).length === 1,
  release: async (name, owner) => {
    await orm.delete(leases).where(and(eq(leases.name, name), eq(leases.owner, owner)))
  },
  get: async (name) => (await orm.select().from(leases).where(eq(leases.name, name)))[0],
})

export const rateBucketsRepo = (orm: PgOrm): RateBucketsRepo => ({
  take: async (name, want, p) => {
    // The row exists first, then is locked: two instances taking at once are serialized here (FOR UPDATE).
    await orm.insert(rateBuckets).values({ name, tokens: p.burst, refilledAt: p.now }).onConflictDoNothing()
    const [b] = await orm.select().from(rateBuckets).where(eq(rateBuckets.name, name)).for('update')
    const { took, left } = takeFrom(b, want, p)
    await orm.update(rateBuckets).set({ tokens: left, refilledAt: Math.max(p.now, b?.refilledAt ?? 0) }).where(eq(rateBuckets.name, name))
    return took
  },
  giveBack: async (name, n) => {
    if (n > 0) await orm.update(rateBuckets).set({ tokens: sql`${rateBuckets.tokens} + ${n}` }).where(eq(rateBuckets.name, name))
  },
})
