/** @module Channel rows (PostgreSQL; semantics: ../sqlite/channels.repo.ts). */
import { asc, eq, getTableColumns, sql } from 'drizzle-orm'
import type { ChannelInput, ChannelRow, ChannelsRepo } from '../contract'
import type { PgOrm } from './orm'
import { channels } from './schema'
import { channelColumns } from '../channel-columns'

export const channelsRepo = (orm: PgOrm): ChannelsRepo => ({
  get: async (id) => (await orm.select().from(channels).where(eq(channels.id, id)))[0],
  list: () => orm.select().from(channels).orderBy(asc(channels.createdAt), asc(channels.id)),
  upsert: async (c: ChannelInput, now: number) => {
    const values = channelColumns(c, now)
    // xmax = 0 on the returned row: this statement inserted it (an update leaves its own xid there), so
    // "created" comes from the one statement, not from a read before it.
    const [r] = await orm.insert(channels).values({ id: c.id, ...values, createdAt: now })
      .onConflictDoUpdate({ target: channels.id, set: values })
      .returning({ ...getTableColumns(channels), created: sql<boolean>`(xmax = 0)` })
    const { created, ...row } = r!
    return { created, row: row as ChannelRow }
  },
})
