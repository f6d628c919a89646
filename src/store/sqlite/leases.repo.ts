/** @module Named leases and shared token buckets (leases, rate_buckets: see schema.ts and the contract). */
import { and, eq, sql } from 'drizzle-orm'
import type { LeasesRepo, RateBucketsRepo } from '../contract'
import type { Drizzle } from './db'
import { leases, rateBuckets } from './schema'

export const leasesRepo = (orm: Drizzle): LeasesRepo => ({
  acquire: (name, owner, until, now) =>
    // One statement: the row is taken only where it is free, lapsed or ours (the WHERE of the upsert decides).
    orm.insert(leases).values({ name, owner, until }).onConflictDoUpdate({
      target: leases.name,
      set: { owner, until },
      where: sql`${leases.until} <= ${now} OR ${leases.owner} = ${owner}`,
    }).returning({ owner: leases.owner }).all().length === 1,
  release: (name, owner) => {
    orm.delete(leases).where(and(eq(leases.name, name), eq(leases.owner, owner))).run()
  },
  get: (name) => orm.select().from(leases).where(eq(leases.name, name)).get(),
})

/** Refill and take (shared with PostgreSQL's repository): what is left after taking up to `want`. */
export const takeFrom = (b: { tokens: number; refilledAt: number } | undefined, want: number, p: { ratePerSecond: number; burst: number; now: number }) => {
  const level = b ? Math.min(p.burst, b.tokens + (Math.max(0, p.now - b.refilledAt) / 1000) * p.ratePerSecond) : p.burst
  const took = Math.max(0, Math.min(want, Math.floor(level)))
  return { took, left: level - took }
}

export const rateBucketsRepo = (orm: Drizzle): RateBucketsRepo => ({
  take: (name, want, p) => {
    // SQLite runs one writer at a time: the read and the write below cannot interleave with another taker's.
    const b = orm.select().from(rateBuckets).where(eq(rateBuckets.name, name)).get()
    const { took, left } = takeFrom(b, want, p)
    orm.insert(rateBuckets).values({ name, tokens: left, refilledAt: p.now })
      .onConflictDoUpdate({ target: rateBuckets.name, set: { tokens: left, refilledAt: p.now } }).run()
    return took
  },
  giveBack: (name, n) => {
    if (n > 0) orm.update(rateBuckets).set({ tokens: sql`${rateBuckets.tokens} + ${n}` }).where(eq(rateBuckets.name, name)).run()
  },
})
