/** @module Channel rows. */
import { asc, eq } from 'drizzle-orm'
import type { Drizzle } from './db'
import { channels } from './schema'

export type ChannelRow = typeof channels.$inferSelect

export interface ChannelInput {
  id: string
  appId: string
  appSecret: string
  token: string
  aesKey?: string | null
  replies?: Record<string, string> | null
  /** Display name; undefined leaves the stored one as it is, null clears it. */
  name?: string | null
}

export const channelsRepo = (orm: Drizzle) => ({
  get: (id: string): ChannelRow | undefined => orm.select().from(channels).where(eq(channels.id, id)).get(),
  list: (): ChannelRow[] => orm.select().from(channels).orderBy(asc(channels.createdAt), asc(channels.id)).all(),
  /** Inserts or updates by id; tells which. Must run inside db.tx. */
  upsert: (c: ChannelInput, now: number): { created: boolean; row: ChannelRow } => {
    const existing = orm.select({ id: channels.id }).from(channels).where(eq(channels.id, c.id)).get()
    const values = {
      appId: c.appId,
      appSecret: c.appSecret,
      token: c.token,
      aesKey: c.aesKey ?? null,
      ...(c.replies !== undefined ? { replies: c.replies === null ? null : JSON.stringify(c.replies) } : {}),
      ...(c.name !== undefined ? { name: c.name } : {}),
      updatedAt: now,
    }
    const row = orm.insert(channels).values({ id: c.id, ...values, createdAt: now })
      .onConflictDoUpdate({ target: channels.id, set: values }).returning().get()
    return { created: !existing, row }
  },
})
