/** @module Inbound callback rows: the dedup record and the first attempt's reply. */
import { and, count, eq, lt } from 'drizzle-orm'
import type { Drizzle } from './db'
import { inboundMessages } from './schema'

export type InboundRow = typeof inboundMessages.$inferSelect
export type InboundInsert = typeof inboundMessages.$inferInsert

export const inboundRepo = (orm: Drizzle) => ({
  /** The stored reply of an already handled message, if any. */
  findReply: (channelId: string, dedupKey: string): string | undefined =>
    orm.select({ reply: inboundMessages.reply }).from(inboundMessages)
      .where(and(eq(inboundMessages.channelId, channelId), eq(inboundMessages.dedupKey, dedupKey))).get()?.reply,
  /**
   * Records the message; false when (channel, dedup key) is already there. The unique index decides,
   * not a read before the write.
   */
  insert: (row: InboundInsert): boolean =>
    orm.insert(inboundMessages).values(row).onConflictDoNothing().returning({ id: inboundMessages.id }).all().length > 0,
  setReply: (channelId: string, dedupKey: string, reply: string, handledBy: string): void => {
    orm.update(inboundMessages).set({ reply, handledBy })
      .where(and(eq(inboundMessages.channelId, channelId), eq(inboundMessages.dedupKey, dedupKey))).run()
  },
  count: (channelId?: string): number =>
    orm.select({ n: count() }).from(inboundMessages).where(channelId ? eq(inboundMessages.channelId, channelId) : undefined).get()?.n ?? 0,
  /** Deletes rows received before `before` (ms). */
  pruneBefore: (before: number): number => orm.delete(inboundMessages).where(lt(inboundMessages.receivedAt, before)).returning({ id: inboundMessages.id }).all().length,
})
