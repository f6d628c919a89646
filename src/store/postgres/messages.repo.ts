/** @module The outbox (PostgreSQL; semantics: ../sqlite/messages.repo.ts): send requests, messages, attempts. */
import { and, asc, desc, eq, gte, inArray, isNull, lt, lte, ne, or, sql, type SQL } from 'drizzle-orm'
import type { MessagesRepo } from '../contract'
import { rowsOf, type PgOrm } from './orm'
import { messageAttempts, messages, sendRequests } from './schema'

export const messagesRepo = (orm: PgOrm): MessagesRepo => {
  /** Back to the queue, due now, without a claim, uncertain since its last call (as on SQLite). */
  const requeue = async (now: number, where: SQL | undefined): Promise<number> =>
    (await orm.update(messages).set({ status: 'queued', nextAttemptAt: now, leaseOwner: null, leaseUntil: null, uncertainSince: sql`coalesce(${messages.uncertainSince}, ${messages.lastCallAt}, ${now}::bigint)` })
      .where(where).returning({ id: messages.id })).length
  /** A result's row: still `sending` and still `owner`'s (not taken over meanwhile). */
  const held = (id: string, owner: string) => and(eq(messages.id, id), eq(messages.status, 'sending'), eq(messages.leaseOwner, owner))
  return {
    insertRequest: async (row) => (await orm.insert(sendRequests).values(row).onConflictDoNothing().returning({ id: sendRequests.id })).length > 0,
    findRequest: async (apiKeyId, idempotencyKey) =>
      (await orm.select().from(sendRequests).where(and(eq(sendRequests.apiKeyId, apiKeyId), eq(sendRequests.idempotencyKey, idempotencyKey))))[0],
    forgetRequest: async (apiKeyId, idempotencyKey, before) => {
      await orm.delete(sendRequests).where(and(eq(sendRequests.apiKeyId, apiKeyId), eq(sendRequests.idempotencyKey, idempotencyKey), lt(sendRequests.createdAt, before)))
    },
    /** One multi-row INSERT: seq follows the order of `rows` (PostgreSQL evaluates VALUES' defaults in order). */
    insertMessages: async (rows) => {
      if (rows.length === 0) return
      await orm.insert(messages).values(rows.map((r) => ({ type: 'template', fallback: null, sentAs: null, ...r })))
    },
    get: async (id) => (await orm.select().from(messages).where(eq(messages.id, id)))[0],
    getMany: async (ids) => (ids.length ? orm.select().from(messages).where(inArray(messages.id, ids)) : []),
    list: (f) => {
      const where: SQL[] = []
      if (f.channelId !== undefined) where.push(eq(messages.channelId, f.channelId))
      if (f.subject !== undefined) where.push(eq(messages.subject, f.subject))
      if (f.status !== undefined) where.push(eq(messages.status, f.status))
      if (f.templateId !== undefined) where.push(eq(messages.templateId, f.templateId))
      if (f.since !== undefined) where.push(gte(messages.createdAt, f.since))
      if (f.beforeSeq !== undefined) where.push(lt(messages.seq, f.beforeSeq))
      return orm.select().from(messages).where(and(...where)).orderBy(desc(messages.seq)).limit(f.limit)
    },
    // `status = 'queued'` as a literal, so the planner can match the partial indexes (as on SQLite).
    due: (channelId, now, limit) =>
      orm.select().from(messages).where(and(sql`${messages.status} = 'queued'`, eq(messages.channelId, channelId), lte(messages.nextAttemptAt, now)))
        .orderBy(asc(messages.nextAttemptAt), asc(messages.seq)).limit(limit),
    dueCustom: (channelId, now, limit) =>
      orm.select().from(messages).where(and(sql`${messages.status} = 'queued' AND ${messages.type} <> 'template'`, eq(messages.channelId, channelId), lte(messages.nextAttemptAt, now)))
        .orderBy(asc(messages.nextAttemptAt), asc(messages.seq)).limit(limit),
    /**
     * One conditional UPDATE, no SELECT … FOR UPDATE: with two instances claiming at once, the second UPDATE
     * waits for the first's commit, re-evaluates its WHERE on the new row (READ COMMITTED) and matches nothing.
     */
    // FOR UPDATE SKIP LOCKED: a row another instance is claiming right now (its transaction holds the row) is
    // skipped at once instead of waited for; it is that instance's. A queued row nobody holds is claimed.
    claim: async (id, p) =>
      (await orm.update(messages).set({ status: 'sending', attempts: sql`${messages.attempts} + 1`, lastCallAt: p.now, leaseOwner: p.owner, leaseUntil: p.leaseUntil })
        .where(and(eq(messages.status, 'queued'), sql`${messages.id} = (SELECT m.id FROM messages m WHERE m.id = ${id} AND m.status = 'queued' FOR UPDATE SKIP LOCKED)`)).returning())[0],
    renewLeases: async (owner, until) =>
      (await orm.update(messages).set({ leaseUntil: until }).where(and(eq(messages.status, 'sending'), eq(messages.leaseOwner, owner))).returning({ id: messages.id })).length,
    countsSince: async (since) => rowsOf<{ channelId: string; status: string; n: number }>(orm.execute(sql`
      SELECT channel_id AS "channelId", status, count(*)::int AS n FROM messages WHERE created_at >= ${since} GROUP BY channel_id, status ORDER BY channel_id, status`)),
    outboxDepth: async () => {
      // As on SQLite: per (status, channel) the count and the creation time of its first (min seq) row.
      const groups = await rowsOf<{ channelId: string; n: number; oldest: string }>(orm.execute(sql`
        SELECT g.channel_id AS "channelId", g.n AS "n", m.created_at AS "oldest"
        FROM (SELECT status, channel_id, count(*)::int AS n, min(seq) AS first FROM messages
              WHERE status IN ('queued', 'sending') GROUP BY status, channel_id) AS g
        JOIN messages AS m ON m.seq = g.first
        ORDER BY g.channel_id, g.status`))
      const out = new Map<string, { channelId: string; depth: number; oldestCreatedAt: number | null }>()
      for (const g of groups) {
        const oldest = Number(g.oldest)
        const c = out.get(g.channelId)
        if (!c) out.set(g.channelId, { channelId: g.channelId, depth: g.n, oldestCreatedAt: oldest })
        else { c.depth += g.n; c.oldestCreatedAt = Math.min(c.oldestCreatedAt ?? oldest, oldest) }
      }
      return [...out.values()]
    },
    requeueSending: (now) => requeue(now, eq(messages.status, 'sending')),
    requeueLapsed: (now, p) => {
      const lapsed = or(isNull(messages.leaseUntil), lte(messages.leaseUntil, now))
      const others = or(isNull(messages.leaseOwner), ne(messages.leaseOwner, p.owner))
      return requeue(now, and(eq(messages.status, 'sending'), p.includeOwn ? or(lapsed, eq(messages.leaseOwner, p.owner)) : and(lapsed, others)))
    },
    markSent: async (id, p) =>
      (await orm.update(messages).set({
        status: 'sent', wechatMsgId: p.wechatMsgId, sentAs: sql`coalesce(${p.sentAs ?? null}::text, ${messages.sentAs})`, sentAt: p.now, errcode: null, error: null,
        attempts: sql`${messages.attempts} + ${p.extraCalls}`, leaseOwner: null, leaseUntil: null,
      }).where(held(id, p.owner)).returning({ id: messages.id })).length > 0,
    markRetry: async (id, p) =>
      (await orm.update(messages).set({
        ...(p.sentAs ? { sentAs: p.sentAs } : {}),
        status: 'queued', nextAttemptAt: p.nextAttemptAt, errcode: p.errcode, error: p.error, attempts: sql`${messages.attempts} + ${p.extraCalls}`, leaseOwner: null, leaseUntil: null,
        ...(p.uncertainSince != null ? { uncertainSince: sql`coalesce(${messages.uncertainSince}, ${p.uncertainSince}::bigint)` } : {}),
      }).where(held(id, p.owner)).returning({ id: messages.id })).length > 0,
    markFailed: async (id, p) =>
      (await orm.update(messages).set({
        ...(p.sentAs ? { sentAs: p.sentAs } : {}),
        status: 'failed', errcode: p.errcode, error: p.error, finishedAt: p.now, attempts: sql`${messages.attempts} + ${p.extraCalls}`, leaseOwner: null, leaseUntil: null,
      }).where(held(id, p.owner)).returning({ id: messages.id })).length > 0,
    addAttempt: async (a) => { await orm.insert(messageAttempts).values(a) },
    attemptsOf: (messageId) => orm.select().from(messageAttempts).where(eq(messageAttempts.messageId, messageId)).orderBy(asc(messageAttempts.id)),
    finishByWechatMsgId: async (p) =>
      (await orm.update(messages).set({ status: p.status, error: p.error, finishedAt: p.now })
        .where(and(eq(messages.channelId, p.channelId), eq(messages.wechatMsgId, p.wechatMsgId), eq(messages.status, 'sent'))).returning())[0],
    seqRange: async () => {
      const [r] = await orm.select({ min: sql<number | null>`min(${messages.seq})`.mapWith(Number), max: sql<number | null>`max(${messages.seq})`.mapWith(Number) }).from(messages)
      return r?.min != null && r.max != null ? { min: r.min, max: r.max } : undefined
    },
    pruneWindow: async (p) => {
      const done = or(
        and(inArray(messages.status, ['delivered', 'failed']), lt(messages.finishedAt, p.finishedBefore)),
        and(eq(messages.status, 'sent'), lt(messages.sentAt, p.finishedBefore)),
      )
      const gone = (await orm.delete(messages).where(and(gte(messages.seq, p.fromSeq), lt(messages.seq, p.fromSeq + p.window), done))
        .returning({ id: messages.id })).map((r) => r.id)
      for (let i = 0; i < gone.length; i += 500) await orm.delete(messageAttempts).where(inArray(messageAttempts.messageId, gone.slice(i, i + 500)))
      return gone.length
    },
    pruneRequests: async (p) =>
      (await orm.delete(sendRequests).where(inArray(sendRequests.id,
        orm.select({ id: sendRequests.id }).from(sendRequests).where(lt(sendRequests.createdAt, p.before)).orderBy(asc(sendRequests.createdAt)).limit(p.limit),
      )).returning({ id: sendRequests.id })).length,
  }
}
