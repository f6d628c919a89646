/**
 * @module Applies the embedded migrations (drizzle-kit SQL, see migrations.manifest.ts) that the
 * database has not seen yet, all inside one BEGIN IMMEDIATE so two processes starting at once cannot
 * both apply them.
 */
import type { Database } from 'bun:sqlite'
import { migrations as embedded } from './migrations.manifest'

export const migrate = (sqlite: Database, list: { name: string; sql: string }[] = embedded, now = Date.now()): string[] => {
  sqlite.exec('CREATE TABLE IF NOT EXISTS _wxgate_migrations (name TEXT PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)')
  // Migrations run before anything is served, so here (only) the event loop may wait for another
  // process's write lock; the connection's own short busy_timeout is restored afterwards.
  const busy = (sqlite.query('PRAGMA busy_timeout').get() as { timeout: number }).timeout
  sqlite.exec('PRAGMA busy_timeout = 10000')
  try {
    sqlite.exec('BEGIN IMMEDIATE')
  } finally {
    sqlite.exec(`PRAGMA busy_timeout = ${busy}`)
  }
  try {
    const done = new Set(sqlite.query('SELECT name FROM _wxgate_migrations').all().map((r) => (r as { name: string }).name))
    const applied: string[] = []
    for (const m of list) {
      if (done.has(m.name)) continue
      for (const stmt of m.sql.split('--> statement-breakpoint')) {
        if (stmt.trim()) sqlite.exec(stmt)
      }
      sqlite.query('INSERT INTO _wxgate_migrations (name, applied_at) VALUES (?, ?)').run(m.name, now)
      applied.push(m.name)
    }
    sqlite.exec('COMMIT')
    return applied
  } catch (e) {
    sqlite.exec('ROLLBACK')
    throw e
  }
}
