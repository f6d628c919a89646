/** @module Bindings (OpenID ↔ subject, see schema.ts): upsert under the unique (channel, openid) index, status, list, delete. */
import { and, asc, eq, gt, sql, type SQL } from 'drizzle-orm'
import type { Drizzle } from './db'
import { bindings } from './schema'
import type { BindingRow, BindingStatus, BindingFilter } from '../contract'

/** The rows and inputs are the store contract's (../contract.ts). */
export type { BindingRow, BindingStatus, BindingFilter } from '../contract'

/** Prepared once per connection: looked up for every OpenID of every send. */
const byOpenidCache = new WeakMap<Drizzle, ReturnType<typeof prepareByOpenid>>()
const prepareByOpenid = (orm: Drizzle) =>
  orm.select().from(bindings).where(and(eq(bindings.channelId, sql.placeholder('channelId')), eq(bindings.openid, sql.placeholder('openid')))).prepare()

export const bindingsRepo = (orm: Drizzle) => ({
  /**
   * Binds the OpenID to the subject: a new row, or the existing row of this (channel, openid) moved to
   * this subject and made active again. One statement: the unique index decides, not a read.
   */
  bind: (p: { id: string; channelId: string; openid: string; subject: string; code: string; now: number }): BindingRow =>
    orm.insert(bindings).values({ id: p.id, channelId: p.channelId, openid: p.openid, subject: p.subject, status: 'active', code: p.code, boundAt: p.now, updatedAt: p.now })
      .onConflictDoUpdate({ target: [bindings.channelId, bindings.openid], set: { subject: p.subject, status: 'active', code: p.code, boundAt: p.now, updatedAt: p.now } })
      .returning().get()!,
  /**
   * Binds the OpenID to the subject only if this (channel, openid) has no binding at all: one INSERT … ON
   * CONFLICT DO NOTHING, so the unique index decides, not a read. Undefined when the OpenID is bound already.
   */
  bindIfUnbound: (p: { id: string; channelId: string; openid: string; subject: string; code: string; now: number }): BindingRow | undefined =>
    orm.insert(bindings).values({ id: p.id, channelId: p.channelId, openid: p.openid, subject: p.subject, status: 'active', code: p.code, boundAt: p.now, updatedAt: p.now })
      .onConflictDoNothing({ target: [bindings.channelId, bindings.openid] })
      .returning().get(),
  /** Sets the status of this OpenID's binding, if it has one; true when a row changed. */
  setStatus: (p: { channelId: string; openid: string; status: BindingStatus; now: number }): boolean =>
    orm.update(bindings).set({ status: p.status, updatedAt: p.now })
      .where(and(eq(bindings.channelId, p.channelId), eq(bindings.openid, p.openid)))
      .returning({ seq: bindings.seq }).all().length > 0,
  get: (id: string): BindingRow | undefined => orm.select().from(bindings).where(eq(bindings.id, id)).get(),
  byOpenid: (channelId: string, openid: string): BindingRow | undefined => {
    let st = byOpenidCache.get(orm)
    if (!st) byOpenidCache.set(orm, (st = prepareByOpenid(orm)))
    return st.get({ channelId, openid })
  },
  list: (f: BindingFilter): BindingRow[] => {
    const where: SQL[] = []
    if (f.channelId !== undefined) where.push(eq(bindings.channelId, f.channelId))
    if (f.subject !== undefined) where.push(eq(bindings.subject, f.subject))
    if (f.openid !== undefined) where.push(eq(bindings.openid, f.openid))
    if (f.afterSeq !== undefined) where.push(gt(bindings.seq, f.afterSeq))
    return orm.select().from(bindings).where(and(...where)).orderBy(asc(bindings.seq)).limit(f.limit).all()
  },
  delete: (id: string): boolean => orm.delete(bindings).where(eq(bindings.id, id)).returning({ seq: bindings.seq }).all().length > 0,
})
