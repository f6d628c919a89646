/** @module The outbox (see schema.ts): send requests with their idempotency keys, messages, attempts. */
import { and, asc, desc, eq, gte, inArray, lt, lte, min, or, sql, type SQL } from 'drizzle-orm'
import type { Drizzle } from './db'
import { messageAttempts, messages, sendRequests } from './schema'

export type MessageRow = typeof messages.$inferSelect
export type NewMessage = typeof messages.$inferInsert
export type SendRequestRow = typeof sendRequests.$inferSelect
export type MessageStatus = 'queued' | 'sending' | 'sent' | 'delivered' | 'failed'

export interface MessageFilter {
  channelId?: string
  subject?: string
  status?: MessageStatus
  /** createdAt >= since (ms) */
  since?: number
  /** Newest first: only rows with seq below this (pagination cursor). */
  beforeSeq?: number
  limit: number
}

export const messagesRepo = (orm: Drizzle) => ({
  /** false when this API key already used this idempotency key (the unique index decides). */
  insertRequest: (row: SendRequestRow): boolean =>
    orm.insert(sendRequests).values(row).onConflictDoNothing().returning({ id: sendRequests.id }).all().length > 0,
  findRequest: (apiKeyId: string, idempotencyKey: string): SendRequestRow | undefined =>
    orm.select().from(sendRequests).where(and(eq(sendRequests.apiKeyId, apiKeyId), eq(sendRequests.idempotencyKey, idempotencyKey))).get(),
  forgetRequest: (apiKeyId: string, idempotencyKey: string): void => {
    orm.delete(sendRequests).where(and(eq(sendRequests.apiKeyId, apiKeyId), eq(sendRequests.idempotencyKey, idempotencyKey))).run()
  },
  insertMessages: (rows: NewMessage[]): void => {
    // SQLite limits the variables of one statement: chunks of 50 rows × 17 columns stay well inside it.
    for (let i = 0; i < rows.length; i += 50) orm.insert(messages).values(rows.slice(i, i + 50)).run()
  },
  get: (id: string): MessageRow | undefined => orm.select().from(messages).where(eq(messages.id, id)).get(),
  getMany: (ids: string[]): MessageRow[] => (ids.length ? orm.select().from(messages).where(inArray(messages.id, ids)).all() : []),
  list: (f: MessageFilter): MessageRow[] => {
    const where: SQL[] = []
    if (f.channelId !== undefined) where.push(eq(messages.channelId, f.channelId))
    if (f.subject !== undefined) where.push(eq(messages.subject, f.subject))
    if (f.status !== undefined) where.push(eq(messages.status, f.status))
    if (f.since !== undefined) where.push(gte(messages.createdAt, f.since))
    if (f.beforeSeq !== undefined) where.push(lt(messages.seq, f.beforeSeq))
    return orm.select().from(messages).where(and(...where)).orderBy(desc(messages.seq)).limit(f.limit).all()
  },
  /** Channels that have queued messages due now. */
  dueChannels: (now: number): string[] =>
    orm.selectDistinct({ channelId: messages.channelId }).from(messages)
      .where(and(eq(messages.status, 'queued'), lte(messages.nextAttemptAt, now))).all().map((r) => r.channelId),
  /** A channel's queued messages that are due, oldest first. */
  due: (channelId: string, now: number, limit: number): MessageRow[] =>
    orm.select().from(messages).where(and(eq(messages.status, 'queued'), eq(messages.channelId, channelId), lte(messages.nextAttemptAt, now)))
      .orderBy(asc(messages.seq)).limit(limit).all(),
  /** When the next queued message falls due, if any. */
  nextDueAt: (): number | undefined =>
    orm.select({ at: min(messages.nextAttemptAt) }).from(messages).where(eq(messages.status, 'queued')).get()?.at ?? undefined,
  /** queued → sending, counting the call about to be made; undefined when someone else took it. */
  claim: (id: string): MessageRow | undefined =>
    orm.update(messages).set({ status: 'sending', attempts: sql`${messages.attempts} + 1` })
      .where(and(eq(messages.id, id), eq(messages.status, 'queued'))).returning().get(),
  /** After a crash: what was being sent goes back to the queue (sent again with the same client_msg_id). */
  requeueSending: (now: number): number =>
    orm.update(messages).set({ status: 'queued', nextAttemptAt: now }).where(eq(messages.status, 'sending')).returning({ id: messages.id }).all().length,
  /** `extraCalls` corrects the count made at claim: a token refresh retry is a second call, no call at all is -1. */
  markSent: (id: string, p: { wechatMsgId: string; now: number; extraCalls: number }): void => {
    orm.update(messages).set({ status: 'sent', wechatMsgId: p.wechatMsgId, sentAt: p.now, errcode: null, error: null, attempts: sql`${messages.attempts} + ${p.extraCalls}` })
      .where(and(eq(messages.id, id), eq(messages.status, 'sending'))).run()
  },
  markRetry: (id: string, p: { nextAttemptAt: number; errcode: number | null; error: string; extraCalls: number }): void => {
    orm.update(messages).set({ status: 'queued', nextAttemptAt: p.nextAttemptAt, errcode: p.errcode, error: p.error, attempts: sql`${messages.attempts} + ${p.extraCalls}` })
      .where(and(eq(messages.id, id), eq(messages.status, 'sending'))).run()
  },
  markFailed: (id: string, p: { errcode: number | null; error: string; now: number; extraCalls: number }): void => {
    orm.update(messages).set({ status: 'failed', errcode: p.errcode, error: p.error, finishedAt: p.now, attempts: sql`${messages.attempts} + ${p.extraCalls}` })
      .where(and(eq(messages.id, id), eq(messages.status, 'sending'))).run()
  },
  addAttempt: (a: typeof messageAttempts.$inferInsert): void => {
    orm.insert(messageAttempts).values(a).run()
  },
  attemptsOf: (messageId: string) => orm.select().from(messageAttempts).where(eq(messageAttempts.messageId, messageId)).orderBy(asc(messageAttempts.id)).all(),
  /** TEMPLATESENDJOBFINISH: a `sent` message with this msgid becomes delivered or failed. */
  finishByWechatMsgId: (p: { channelId: string; wechatMsgId: string; status: 'delivered' | 'failed'; error: string | null; now: number }): MessageRow | undefined =>
    orm.update(messages).set({ status: p.status, error: p.error, finishedAt: p.now })
      .where(and(eq(messages.channelId, p.channelId), eq(messages.wechatMsgId, p.wechatMsgId), eq(messages.status, 'sent'))).returning().get(),
  /** Deletes finished messages (sent, delivered, failed) older than `before`, with their attempts, and old send requests. */
  prune: (p: { finishedBefore: number; requestsBefore: number }): number => {
    const done = or(
      and(inArray(messages.status, ['delivered', 'failed']), lt(messages.finishedAt, p.finishedBefore)),
      and(eq(messages.status, 'sent'), lt(messages.sentAt, p.finishedBefore)),
    )
    const gone = orm.delete(messages).where(done).returning({ id: messages.id }).all().map((r) => r.id)
    for (let i = 0; i < gone.length; i += 500) orm.delete(messageAttempts).where(inArray(messageAttempts.messageId, gone.slice(i, i + 500))).run()
    orm.delete(sendRequests).where(lt(sendRequests.createdAt, p.requestsBefore)).run()
    return gone.length
  },
})
