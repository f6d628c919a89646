/**
 * @module WXGATE_DB → the store (SPEC §8): a `postgres://` or `postgresql://` URL opens PostgreSQL, anything
 * else is a SQLite file. Opening also applies the embedded migrations (PostgreSQL: under an advisory lock, so
 * instances started together on an empty database migrate it once). The only place that picks the store.
 */
import type { Logger } from '../lib/log'
import type { Db } from './contract'
import type { PostgresDb } from './postgres/db'
import { shownPostgresUrl } from './postgres/errors'
import { openDb, shownDbPath, type SqliteDb } from './sqlite/db'
import { migrate } from './sqlite/migrate'

export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//i.test(db)

/** WXGATE_DB as the CLI and the logs show it: a SQLite path made absolute, a PostgreSQL URL without its password. */
export const shownDb = (db: string): string => (isPostgresUrl(db) ? shownPostgresUrl(db) : shownDbPath(db))

export interface OpenStoreOptions {
  /** Gets the PostgreSQL password as a secret (never logged). */
  log?: Logger
  now?: number
  /** PostgreSQL's pool size (default 10). */
  max?: number
}

/** Opens WXGATE_DB and applies what migrations are pending; `applied` names them. */
export const openStore = async (db: string, o: OpenStoreOptions = {}): Promise<{ db: Db; applied: string[] }> => {
  if (isPostgresUrl(db)) {
    // Loaded only for PostgreSQL: the SQLite gateway's start and memory do not pay for its driver and schema.
    const { openPostgres } = await import('./postgres/db')
    const pg: PostgresDb = await openPostgres(db, { log: o.log, max: o.max })
    try {
      return { db: pg, applied: await pg.migrate(o.now) }
    } catch (e) {
      await pg.close().catch(() => undefined)
      throw e
    }
  }
  const sqlite: SqliteDb = openDb(db)
  try {
    return { db: sqlite, applied: migrate(sqlite.sqlite, undefined, o.now) }
  } catch (e) {
    await sqlite.close()
    throw e
  }
}
