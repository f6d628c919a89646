/** @module Bindings (PostgreSQL; semantics: ../sqlite/bindings.repo.ts): the unique (channel, openid) index decides. */
import { and, asc, eq, gt, type SQL } from 'drizzle-orm'
import type { BindingsRepo } from '../contract'
import type { PgOrm } from './orm'
import { bindings } from './schema'

export const bindingsRepo = (orm: PgOrm): BindingsRepo => ({
  bind: async (p) =>
    (await orm.insert(bindings).values({ id: p.id, channelId: p.channelId, openid: p.openid, subject: p.subject, status: 'active', code: p.code, boundAt: p.now, updatedAt: p.now })
      .onConflictDoUpdate({ target: [bindings.channelId, bindings.openid], set: { subject: p.subject, status: 'active', code: p.code, boundAt: p.now, updatedAt: p.now } })
      .returning())[0]!,
  bindIfUnbound: async (p) =>
    (await orm.insert(bindings).values({ id: p.id, channelId: p.channelId, openid: p.openid, subject: p.subject, status: 'active', code: p.code, boundAt: p.now, updatedAt: p.now })
      .onConflictDoNothing({ target: [bindings.channelId, bindings.openid] })
      .returning())[0],
  setStatus: async (p) =>
    (await orm.update(bindings).set({ status: p.status, updatedAt: p.now })
      .where(and(eq(bindings.channelId, p.channelId), eq(bindings.openid, p.openid))).returning({ seq: bindings.seq })).length > 0,
  get: async (id) => (await orm.select().from(bindings).where(eq(bindings.id, id)))[0],
  byOpenid: async (channelId, openid) => (await orm.select().from(bindings).where(and(eq(bindings.channelId, channelId), eq(bindings.openid, openid))))[0],
  list: (f) => {
    const where: SQL[] = []
    if (f.channelId !== undefined) where.push(eq(bindings.channelId, f.channelId))
    if (f.subject !== undefined) where.push(eq(bindings.subject, f.subject))
    if (f.openid !== undefined) where.push(eq(bindings.openid, f.openid))
    if (f.afterSeq !== undefined) where.push(gt(bindings.seq, f.afterSeq))
    return orm.select().from(bindings).where(and(...where)).orderBy(asc(bindings.seq)).limit(f.limit)
  },
  delete: async (id) => (await orm.delete(bindings).where(eq(bindings.id, id)).returning({ seq: bindings.seq })).length > 0,
})
