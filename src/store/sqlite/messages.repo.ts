/** @module The outbox (see schema.ts): send requests with their idempotency keys, messages, attempts. */
import { and, asc, desc, eq, gte, inArray, isNull, lt, lte, ne, or, sql, type SQL } from 'drizzle-orm'
import type { Drizzle } from './db'
import { messageAttempts, messages, sendRequests } from './schema'
import type { MessageRow, NewMessage, SendRequestRow, MessageFilter } from '../contract'

/** The rows and inputs are the store contract's (../contract.ts). */
export type { MessageRow, NewMessage, SendRequestRow, MessageStatus, MessageFilter } from '../contract'

const p = sql.placeholder
/**
 * The statements of the hot paths (accepting a send, the outbox pass, recording a result), built and
 * prepared once per connection: drizzle re-building and SQLite re-preparing them cost ~30% of an accept.
 */
const prepare = (orm: Drizzle) => ({
  findRequest: orm.select().from(sendRequests).where(and(eq(sendRequests.apiKeyId, p('apiKeyId')), eq(sendRequests.idempotencyKey, p('key')))).prepare(),
  insertRequest: orm.insert(sendRequests).values({ id: p('id'), apiKeyId: p('apiKeyId'), idempotencyKey: p('idempotencyKey'), bodyHash: p('bodyHash'), answer: p('answer'), createdAt: p('createdAt') })
    .onConflictDoNothing().returning({ id: sendRequests.id }).prepare(),
  insertMessage: orm.insert(messages).values({
    id: p('id'), requestId: p('requestId'), channelId: p('channelId'), openid: p('openid'), subject: p('subject'), templateId: p('templateId'), payload: p('payload'),
    type: p('type'), fallback: p('fallback'), sentAs: p('sentAs'), status: p('status'), attempts: p('attempts'), errcode: p('errcode'), error: p('error'), wechatMsgId: p('wechatMsgId'), nextAttemptAt: p('nextAttemptAt'),
    createdAt: p('createdAt'), sentAt: p('sentAt'), finishedAt: p('finishedAt'),
  }).prepare(),
  // `status = 'queued'` as a literal, not a parameter: SQLite uses a partial index only when the query's
  // WHERE visibly implies the index's.
  due: orm.select().from(messages).where(and(sql`${messages.status} = 'queued'`, eq(messages.channelId, p('channelId')), lte(messages.nextAttemptAt, p('now'))))
    .orderBy(asc(messages.nextAttemptAt), asc(messages.seq)).limit(p('limit')).prepare(),
  dueCustom: orm.select().from(messages).where(and(sql`${messages.status} = 'queued' AND ${messages.type} <> 'template'`, eq(messages.channelId, p('channelId')), lte(messages.nextAttemptAt, p('now'))))
    .orderBy(asc(messages.nextAttemptAt), asc(messages.seq)).limit(p('limit')).prepare(),
  claim: orm.update(messages).set({ status: 'sending', attempts: sql`${messages.attempts} + 1`, lastCallAt: sql`${p('now')}`, leaseOwner: sql`${p('owner')}`, leaseUntil: sql`${p('leaseUntil')}` })
    .where(and(eq(messages.id, p('id')), eq(messages.status, 'queued'))).returning().prepare(),
  markSent: orm.update(messages).set({
    status: 'sent', wechatMsgId: sql`${p('wechatMsgId')}`, sentAs: sql`coalesce(${p('sentAs')}, ${messages.sentAs})`, sentAt: sql`${p('now')}`, errcode: null, error: null,
    attempts: sql`${messages.attempts} + ${p('extraCalls')}`, leaseOwner: null, leaseUntil: null,
  }).where(and(eq(messages.id, p('id')), eq(messages.status, 'sending'), eq(messages.leaseOwner, p('owner')))).prepare(),
  addAttempt: orm.insert(messageAttempts).values({ messageId: p('messageId'), at: p('at'), durationMs: p('durationMs'), outcome: p('outcome'), errcode: p('errcode'), error: p('error') }).prepare(),
})
const cache = new WeakMap<Drizzle, ReturnType<typeof prepare>>()
const statements = (orm: Drizzle) => {
  let st = cache.get(orm)
  if (!st) cache.set(orm, (st = prepare(orm)))
  return st
}

/** The SQL text of the outbox's due scan, for the test that checks its query plan (EXPLAIN QUERY PLAN). */
export const dueScanSql = (orm: Drizzle): string => statements(orm).due.getQuery().sql
/** The SQL text of the customer-service due scan (the same plan test). */
export const dueCustomScanSql = (orm: Drizzle): string => statements(orm).dueCustom.getQuery().sql

/** Rows changed by a run() (bun:sqlite's answer; drizzle types it loosely). */
const changes = (r: unknown): number => (r as { changes: number }).changes

export const messagesRepo = (orm: Drizzle) => {
  /**
   * Back to the queue, due now, without a claim: sent again with the same client_msg_id. Its last call may
   * have reached WeChat: uncertain since that call started (the 9-minute rule).
   */
  const requeue = (now: number, where: SQL | undefined): number =>
    orm.update(messages).set({ status: 'queued', nextAttemptAt: now, leaseOwner: null, leaseUntil: null, uncertainSince: sql`coalesce(${messages.uncertainSince}, ${messages.lastCallAt}, ${now})` })
      .where(where).returning({ id: messages.id }).all().length
  return {
    /** false when this API key already used this idempotency key (the unique index decides). */
    insertRequest: (row: SendRequestRow): boolean => statements(orm).insertRequest.all({ ...row }).length > 0,
    findRequest: (apiKeyId: string, idempotencyKey: string): SendRequestRow | undefined => statements(orm).findRequest.get({ apiKeyId, key: idempotencyKey }),
    forgetRequest: (apiKeyId: string, idempotencyKey: string, before: number): void => {
      orm.delete(sendRequests).where(and(eq(sendRequests.apiKeyId, apiKeyId), eq(sendRequests.idempotencyKey, idempotencyKey), lt(sendRequests.createdAt, before))).run()
    },
    insertMessages: (rows: NewMessage[]): void => {
      const st = statements(orm).insertMessage
      for (const r of rows) st.run({ type: 'template', fallback: null, sentAs: null, ...r })
    },
    get: (id: string): MessageRow | undefined => orm.select().from(messages).where(eq(messages.id, id)).get(),
    getMany: (ids: string[]): MessageRow[] => (ids.length ? orm.select().from(messages).where(inArray(messages.id, ids)).all() : []),
    list: (f: MessageFilter): MessageRow[] => {
      const where: SQL[] = []
      if (f.channelId !== undefined) where.push(eq(messages.channelId, f.channelId))
      if (f.subject !== undefined) where.push(eq(messages.subject, f.subject))
      if (f.status !== undefined) where.push(eq(messages.status, f.status))
      if (f.templateId !== undefined) where.push(eq(messages.templateId, f.templateId))
      if (f.since !== undefined) where.push(gte(messages.createdAt, f.since))
      if (f.beforeSeq !== undefined) where.push(lt(messages.seq, f.beforeSeq))
      return orm.select().from(messages).where(and(...where)).orderBy(desc(messages.seq)).limit(f.limit).all()
    },
    /**
     * A channel's queued messages that are due, the longest due first (ties — one request's recipients — in
     * acceptance order). Walks the partial index (channel_id, next_attempt_at, seq) WHERE status = 'queued'
     * in order and stops after `limit` rows: rows not yet due are never visited and nothing is sorted, so a
     * pass costs the same with 100k messages waiting for a retry as with none.
     */
    due: (channelId: string, now: number, limit: number): MessageRow[] => statements(orm).due.all({ channelId, now, limit }),
    /** The same for customer-service messages only (the partial index messages_queued_custom_due_idx). */
    dueCustom: (channelId: string, now: number, limit: number): MessageRow[] => statements(orm).dueCustom.all({ channelId, now, limit }),
    /** queued → sending by `owner` until `leaseUntil`, counting the call about to be made (at `now`); undefined when someone else took it. */
    claim: (id: string, p: { owner: string; now: number; leaseUntil: number }): MessageRow | undefined => statements(orm).claim.get({ id, ...p }),
    /** The lease of every row `owner` is sending moves to `until` (the (status, channel_id, seq) index finds the `sending` rows). */
    renewLeases: (owner: string, until: number): number => changes(orm.update(messages).set({ leaseUntil: until })
      .where(and(eq(messages.status, 'sending'), eq(messages.leaseOwner, owner))).run()),
    /**
     * The outbox per channel (queued + sending) with the creation time of its oldest message, for /metrics.
     * Walks the (status, channel_id, seq) index over the queued and sending rows only, in index order (no
     * temporary B-tree, no table reads: count and min(seq) come from the index), then reads one row per
     * (status, channel) group by rowid for its created_at. Cost grows with the backlog, not with the
     * messages kept: ~0.6 ms per 10k queued rows (108k queued among 500k rows: 6.5 ms). seq order is
     * acceptance order, so the row of min(seq) is the oldest.
     */
    countsSince: (since: number): { channelId: string; status: string; n: number }[] =>
      orm.all<{ channelId: string; status: string; n: number }>(sql`SELECT channel_id AS channelId, status, count(*) AS n FROM messages WHERE created_at >= ${since} GROUP BY channel_id, status ORDER BY channel_id, status`),
    outboxDepth: (): { channelId: string; depth: number; oldestCreatedAt: number | null }[] => {
      const groups = orm.all<{ channelId: string; n: number; oldest: number }>(sql`
        SELECT g.channel_id AS channelId, g.n AS n, m.created_at AS oldest
        FROM (SELECT status, channel_id, count(*) AS n, min(seq) AS first FROM messages
              WHERE status IN ('queued', 'sending') GROUP BY status, channel_id) AS g
        JOIN messages AS m ON m.seq = g.first`)
      const out = new Map<string, { channelId: string; depth: number; oldestCreatedAt: number | null }>()
      for (const g of groups) {
        const c = out.get(g.channelId)
        if (!c) out.set(g.channelId, { channelId: g.channelId, depth: g.n, oldestCreatedAt: g.oldest })
        else { c.depth += g.n; c.oldestCreatedAt = Math.min(c.oldestCreatedAt ?? g.oldest, g.oldest) }
      }
      return [...out.values()]
    },
    /**
     * After a crash or a stop: what was being sent goes back to the queue (sent again with the same
     * client_msg_id). Its last call may have reached WeChat: uncertain since that call started.
     */
    requeueSending: (now: number): number => requeue(now, eq(messages.status, 'sending')),
    /** The takeover (see the contract): lapsed `sending` rows but `owner`'s, or `owner`'s too with includeOwn. */
    requeueLapsed: (now: number, p: { owner: string; includeOwn?: boolean }): number => {
      const lapsed = or(isNull(messages.leaseUntil), lte(messages.leaseUntil, now))
      const others = or(isNull(messages.leaseOwner), ne(messages.leaseOwner, p.owner))
      return requeue(now, and(eq(messages.status, 'sending'), p.includeOwn ? or(lapsed, eq(messages.leaseOwner, p.owner)) : and(lapsed, others)))
    },
    /**
     * `extraCalls` corrects the count made at claim: a token refresh retry is a second call, no call at all is -1.
     * A customer-service message has no msgid (null); `sentAs` 'template' when its fallback went instead.
     */
    markSent: (id: string, p: { owner: string; wechatMsgId: string | null; now: number; extraCalls: number; sentAs?: string | null }): boolean =>
      changes(statements(orm).markSent.run({ id, ...p, sentAs: p.sentAs ?? null })) > 0,
    /** `uncertainSince`: the start of the first call whose answer was lost, if any (kept once set). */
    markRetry: (id: string, p: { owner: string; nextAttemptAt: number; errcode: number | null; error: string; extraCalls: number; uncertainSince?: number | null; sentAs?: string | null }): boolean =>
      changes(orm.update(messages).set({
        ...(p.sentAs ? { sentAs: p.sentAs } : {}),
        status: 'queued', nextAttemptAt: p.nextAttemptAt, errcode: p.errcode, error: p.error, attempts: sql`${messages.attempts} + ${p.extraCalls}`, leaseOwner: null, leaseUntil: null,
        ...(p.uncertainSince != null ? { uncertainSince: sql`coalesce(${messages.uncertainSince}, ${p.uncertainSince})` } : {}),
      })
        .where(and(eq(messages.id, id), eq(messages.status, 'sending'), eq(messages.leaseOwner, p.owner))).run()) > 0,
    markFailed: (id: string, p: { owner: string; errcode: number | null; error: string; now: number; extraCalls: number; sentAs?: string | null }): boolean =>
      changes(orm.update(messages).set({
        ...(p.sentAs ? { sentAs: p.sentAs } : {}),
        status: 'failed', errcode: p.errcode, error: p.error, finishedAt: p.now, attempts: sql`${messages.attempts} + ${p.extraCalls}`, leaseOwner: null, leaseUntil: null,
      })
        .where(and(eq(messages.id, id), eq(messages.status, 'sending'), eq(messages.leaseOwner, p.owner))).run()) > 0,
    addAttempt: (a: Required<Omit<typeof messageAttempts.$inferInsert, 'id'>>): void => {
      statements(orm).addAttempt.run(a)
    },
    attemptsOf: (messageId: string) => orm.select().from(messageAttempts).where(eq(messageAttempts.messageId, messageId)).orderBy(asc(messageAttempts.id)).all(),
    /** TEMPLATESENDJOBFINISH: a `sent` message with this msgid becomes delivered or failed. */
    finishByWechatMsgId: (p: { channelId: string; wechatMsgId: string; status: 'delivered' | 'failed'; error: string | null; now: number }): MessageRow | undefined =>
      orm.update(messages).set({ status: p.status, error: p.error, finishedAt: p.now })
        .where(and(eq(messages.channelId, p.channelId), eq(messages.wechatMsgId, p.wechatMsgId), eq(messages.status, 'sent'))).returning().get(),
    /** The seq range of the table (for walking it in windows), or undefined when empty. */
    seqRange: (): { min: number; max: number } | undefined => {
      const [r] = orm.select({ min: sql<number | null>`min(${messages.seq})`, max: sql<number | null>`max(${messages.seq})` }).from(messages).all()
      return r?.min != null && r.max != null ? { min: r.min, max: r.max } : undefined
    },
    /**
     * One chunk of the prune: deletes the finished messages (sent, delivered, failed) that finished before
     * `finishedBefore` among seq in [fromSeq, fromSeq + window), with their attempts. A window is read by
     * rowid, so a chunk costs the same wherever it lies and however many rows the table keeps: each
     * transaction stays short, and the caller yields to the event loop between chunks.
     */
    pruneWindow: (p: { finishedBefore: number; fromSeq: number; window: number }): number => {
      const done = or(
        and(inArray(messages.status, ['delivered', 'failed']), lt(messages.finishedAt, p.finishedBefore)),
        and(eq(messages.status, 'sent'), lt(messages.sentAt, p.finishedBefore)),
      )
      const gone = orm.delete(messages).where(and(gte(messages.seq, p.fromSeq), lt(messages.seq, p.fromSeq + p.window), done))
        .returning({ id: messages.id }).all().map((r) => r.id)
      for (let i = 0; i < gone.length; i += 500) orm.delete(messageAttempts).where(inArray(messageAttempts.messageId, gone.slice(i, i + 500))).run()
      return gone.length
    },
    /** Deletes up to `limit` send requests older than `before` (oldest first, by the created_at index); the count deleted. */
    pruneRequests: (p: { before: number; limit: number }): number =>
      orm.delete(sendRequests).where(inArray(sendRequests.id,
        orm.select({ id: sendRequests.id }).from(sendRequests).where(lt(sendRequests.createdAt, p.before)).orderBy(asc(sendRequests.createdAt)).limit(p.limit),
      )).returning({ id: sendRequests.id }).all().length,
  }
}
