/** @module Channel rows. */
import { asc, eq } from 'drizzle-orm'
import type { Drizzle } from './db'
import { channels } from './schema'
import { channelColumns } from '../channel-columns'
import type { ChannelRow, ChannelInput } from '../contract'

/** The rows and inputs are the store contract's (../contract.ts). */
export type { ChannelRow, ChannelInput } from '../contract'

export const channelsRepo = (orm: Drizzle) => ({
  get: (id: string): ChannelRow | undefined => orm.select().from(channels).where(eq(channels.id, id)).get(),
  list: (): ChannelRow[] => orm.select().from(channels).orderBy(asc(channels.createdAt), asc(channels.id)).all(),
  /** Inserts or updates by id; tells which. Must run inside db.tx. */
  upsert: (c: ChannelInput, now: number): { created: boolean; row: ChannelRow } => {
    const existing = orm.select({ id: channels.id }).from(channels).where(eq(channels.id, c.id)).get()
    const values = channelColumns(c, now)
    const row = orm.insert(channels).values({ id: c.id, ...values, createdAt: now })
      .onConflictDoUpdate({ target: channels.id, set: values }).returning().get()
    return { created: !existing, row }
  },
})
