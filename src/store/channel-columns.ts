/**
 * @module The columns a channel upsert writes, from its input: the same on SQLite and PostgreSQL
 * (sqlite/channels.repo.ts, postgres/channels.repo.ts). Replies are stored as JSON text; an undefined
 * `replies` or `name` leaves the stored value as it is, null clears it.
 */
import type { ChannelInput } from './contract'

export const channelColumns = (c: ChannelInput, now: number) => ({
  appId: c.appId,
  appSecret: c.appSecret,
  token: c.token,
  aesKey: c.aesKey ?? null,
  ...(c.replies !== undefined ? { replies: c.replies === null ? null : JSON.stringify(c.replies) } : {}),
  ...(c.name !== undefined ? { name: c.name } : {}),
  updatedAt: now,
})
