/** @module Console sessions (console_sessions: see schema.ts and the contract's ConsoleSessionsRepo). */
import { and, eq, lt } from 'drizzle-orm'
import type { ConsoleSessionsRepo } from '../contract'
import type { Drizzle } from './db'
import { consoleSessions } from './schema'

export const consoleSessionsRepo = (orm: Drizzle): ConsoleSessionsRepo => ({
  insert: (row) => { orm.insert(consoleSessions).values(row).run() },
  get: (id) => orm.select().from(consoleSessions).where(eq(consoleSessions.id, id)).get(),
  // Forward only (in the WHERE): a slower request that read the clock earlier cannot move it back.
  touch: (id, at) => {
    orm.update(consoleSessions).set({ lastSeenAt: at }).where(and(eq(consoleSessions.id, id), lt(consoleSessions.lastSeenAt, at))).run()
  },
  delete: (id) => orm.delete(consoleSessions).where(eq(consoleSessions.id, id)).returning({ id: consoleSessions.id }).all().length > 0,
  // Walks console_sessions_key_idx.
  deleteByKey: (keyId) => orm.delete(consoleSessions).where(eq(consoleSessions.keyId, keyId)).returning({ id: consoleSessions.id }).all().length,
  // Walks console_sessions_last_seen_idx.
  pruneIdle: (before) => orm.delete(consoleSessions).where(lt(consoleSessions.lastSeenAt, before)).returning({ id: consoleSessions.id }).all().length,
})
