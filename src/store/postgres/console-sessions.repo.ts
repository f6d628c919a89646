/** @module Console sessions (PostgreSQL; semantics: ../sqlite/console-sessions.repo.ts). */
import { and, eq, lt } from 'drizzle-orm'
import type { ConsoleSessionsRepo } from '../contract'
import type { PgOrm } from './orm'
import { consoleSessions } from './schema'

export const consoleSessionsRepo = (orm: PgOrm): ConsoleSessionsRepo => ({
  insert: async (row) => { await orm.insert(consoleSessions).values(row) },
  get: async (id) => (await orm.select().from(consoleSessions).where(eq(consoleSessions.id, id)))[0],
  // Forward only (in the WHERE, re-checked on the row's newest version): instances touching at once never move it back.
  touch: async (id, at) => {
    await orm.update(consoleSessions).set({ lastSeenAt: at }).where(and(eq(consoleSessions.id, id), lt(consoleSessions.lastSeenAt, at)))
  },
  delete: async (id) => (await orm.delete(consoleSessions).where(eq(consoleSessions.id, id)).returning({ id: consoleSessions.id })).length > 0,
  deleteByKey: async (keyId) => (await orm.delete(consoleSessions).where(eq(consoleSessions.keyId, keyId)).returning({ id: consoleSessions.id })).length,
  pruneIdle: async (before) => (await orm.delete(consoleSessions).where(lt(consoleSessions.lastSeenAt, before)).returning({ id: consoleSessions.id })).length,
})
