/**
 * @module Opens the SQLite database once with the pragmas every connection needs, and serialises
 * write transactions.
 *
 * bun:sqlite is synchronous and one connection carries one transaction at a time, so a transaction
 * that awaits (a callback handler may be async) must not share the connection with another writer.
 * `db.tx(fn)` queues transactions behind an async lock: BEGIN IMMEDIATE → fn → COMMIT, or ROLLBACK
 * when fn throws. Every write in the process goes through it. (SQLite-only detail, kept in the store.)
 */
import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { drizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from './schema'

export type Drizzle = BunSQLiteDatabase<typeof schema>

export interface Db {
  readonly sqlite: Database
  readonly orm: Drizzle
  /** Runs fn inside one write transaction, after every earlier transaction has finished. */
  tx<T>(fn: (orm: Drizzle) => T | Promise<T>): Promise<T>
  /**
   * Changes whenever another connection (another process: the CLI) commits; our own commits leave it
   * alone. Lets in-memory caches notice outside changes at the cost of one PRAGMA.
   */
  dataVersion(): number
  /** Is the database answering? (for /readyz) */
  ping(): boolean
  close(): void
}

export const openDb = (path: string): Db => {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const sqlite = new Database(path, { create: true, strict: true })
  sqlite.exec('PRAGMA journal_mode = WAL')
  sqlite.exec('PRAGMA synchronous = NORMAL')
  sqlite.exec('PRAGMA busy_timeout = 5000')
  sqlite.exec('PRAGMA foreign_keys = ON')
  const orm = drizzle({ client: sqlite, schema })

  const dataVersionStmt = sqlite.prepare('PRAGMA data_version')
  let tail: Promise<unknown> = Promise.resolve()
  const tx = <T>(fn: (orm: Drizzle) => T | Promise<T>): Promise<T> => {
    const run = async (): Promise<T> => {
      sqlite.exec('BEGIN IMMEDIATE')
      try {
        const out = await fn(orm)
        sqlite.exec('COMMIT')
        return out
      } catch (e) {
        if (sqlite.inTransaction) sqlite.exec('ROLLBACK')
        throw e
      }
    }
    const result = tail.then(run, run)
    tail = result.catch(() => undefined)
    return result
  }

  return {
    sqlite,
    orm,
    tx,
    dataVersion: () => (dataVersionStmt.get() as { data_version: number }).data_version,
    ping: () => {
      try {
        return sqlite.query('SELECT 1 AS ok').get() !== null
      } catch {
        return false
      }
    },
    close: () => sqlite.close(),
  }
}
