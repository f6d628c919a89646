/**
 * @module Opens the SQLite database once with the pragmas every connection needs, and serialises
 * write transactions.
 *
 * bun:sqlite is synchronous and one connection carries one transaction at a time, so a transaction
 * that awaits (a callback handler may be async) must not share the connection with another writer.
 * `db.tx(fn)` queues transactions and runs them one at a time (with group commit, below); fn's writes
 * commit together, or roll back when it throws. Every write in the process goes through it.
 * (SQLite-only detail, kept in the store.)
 */
import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { drizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import * as schema from './schema'

export type Drizzle = BunSQLiteDatabase<typeof schema>

export interface TxOptions {
  /**
   * false: fn makes at most one write statement, so that statement's own atomicity is enough and the
   * per-transaction SAVEPOINT (two statements) is skipped. For the hottest path only (a callback no rule
   * handles: one INSERT); anything that may write twice must keep the default.
   */
  savepoint?: boolean
}

export interface Db {
  readonly sqlite: Database
  readonly orm: Drizzle
  /** Runs fn inside one write transaction, after every earlier transaction has finished. */
  tx<T>(fn: (orm: Drizzle) => T | Promise<T>, opts?: TxOptions): Promise<T>
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
  const begin = sqlite.prepare('BEGIN IMMEDIATE')
  const commit = sqlite.prepare('COMMIT')
  const rollback = sqlite.prepare('ROLLBACK')
  /**
   * Group commit: transactions queued while another batch commits run together in one BEGIN IMMEDIATE …
   * COMMIT, each inside its own SAVEPOINT, so each still commits or rolls back as a whole but the batch
   * pays for one commit (the WAL write is most of a small transaction's cost). Nobody is answered before
   * the COMMIT, so a crash mid-batch loses only work that was never acknowledged.
   */
  interface Job { fn: (orm: Drizzle) => unknown; savepoint: boolean; resolve: (v: unknown) => void; reject: (e: unknown) => void }
  const queue: Job[] = []
  let draining = false
  const MAX_BATCH = 128
  const savepoint = sqlite.prepare('SAVEPOINT tx')
  const release = sqlite.prepare('RELEASE tx')
  const rollbackTo = sqlite.prepare('ROLLBACK TO tx')

  const drain = async () => {
    draining = true
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, MAX_BATCH)
        const results: { ok: boolean; value: unknown }[] = []
        try {
          begin.run()
        } catch (e) {
          for (const j of batch) j.reject(e)
          continue
        }
        for (const job of batch) {
          if (job.savepoint) savepoint.run()
          try {
            const value = await job.fn(orm)
            if (job.savepoint) release.run()
            results.push({ ok: true, value })
          } catch (e) {
            if (job.savepoint && sqlite.inTransaction) { rollbackTo.run(); release.run() }
            results.push({ ok: false, value: e })
          }
        }
        try {
          commit.run()
        } catch (e) {
          if (sqlite.inTransaction) rollback.run()
          for (const j of batch) j.reject(e)
          continue
        }
        batch.forEach((j, i) => (results[i]!.ok ? j.resolve(results[i]!.value) : j.reject(results[i]!.value)))
      }
    } finally {
      draining = false
    }
  }

  const tx = <T>(fn: (orm: Drizzle) => T | Promise<T>, opts: TxOptions = {}): Promise<T> => new Promise<T>((resolve, reject) => {
    queue.push({ fn, savepoint: opts.savepoint ?? true, resolve: resolve as (v: unknown) => void, reject })
    // Start after the current I/O callbacks (setImmediate), so that the requests Bun delivered in this
    // turn of the event loop share the batch and its one COMMIT.
    if (!draining) { draining = true; setImmediate(() => void drain()) }
  })

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
