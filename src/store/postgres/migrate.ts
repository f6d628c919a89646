/**
 * @module Applies the embedded PostgreSQL migrations (migrations-pg/, see migrations.manifest.ts) that the
 * database has not seen yet, in one transaction under a transaction-level advisory lock (PROTOCOL §9.6): two
 * instances starting together on an empty database migrate it once, the second waiting for the first and
 * then finding nothing left to do (SPEC §8). PostgresDb.migrate() (db.ts) runs it.
 */
import { migrations as embedded } from './migrations.manifest'

/** The advisory lock key of migrations (any constant bigint; ours). */
export const MIGRATION_LOCK = 7_362_011_001

export const migratePostgres = async (sql: InstanceType<typeof Bun.SQL>, list: { name: string; sql: string }[] = embedded, now = Date.now()): Promise<string[]> =>
  sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`
    await tx`CREATE TABLE IF NOT EXISTS _wxgate_migrations (name text PRIMARY KEY NOT NULL, applied_at bigint NOT NULL)`
    const done = new Set(((await tx`SELECT name FROM _wxgate_migrations`) as { name: string }[]).map((r) => r.name))
    const applied: string[] = []
    for (const m of list) {
      if (done.has(m.name)) continue
      for (const stmt of m.sql.split('--> statement-breakpoint')) if (stmt.trim()) await tx.unsafe(stmt)
      await tx`INSERT INTO _wxgate_migrations (name, applied_at) VALUES (${m.name}, ${now})`
      applied.push(m.name)
    }
    return applied
  })
