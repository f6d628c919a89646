/**
 * @module Opens a PostgreSQL database (WXGATE_DB=postgres://…, SPEC §8) as the store contract's Db: a
 * Bun.SQL pool, drizzle over it (drizzle-orm/bun-sql), transactions, the configuration version, ping.
 *
 * What Bun.SQL does (Bun 1.4, found by experiment; test/store/postgres-db.test.ts holds it to it):
 * - int8 columns (bigint, count(*)) come back as strings, int4 as numbers, booleans as booleans: drizzle's
 *   `bigint({ mode: 'number' })` columns Number() them; raw statements cast (`count(*)::int`) or Number().
 *   A JS number bound as a parameter is sent as int4 when it fits, else as a wider type.
 * - A string bound to a `$1::jsonb` parameter arrives as a JSON string scalar: cast `$1::text::jsonb`.
 * - The pool reconnects by itself: after the server stops, each pooled connection fails once (57P01 or
 *   "connection closed"), new ones are refused (ERR_POSTGRES_CONNECTION_REFUSED); once the server is back
 *   the next query opens a new connection. So one Db outlives a server restart without being reopened.
 * - Errors: see errors.ts (SQLSTATE in `errno`, Bun's name in `code`).
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { drizzle } from 'drizzle-orm/bun-sql'
import type { Logger } from '../../lib/log'
import type { Db, DbStats, Store, TxOptions } from '../contract'
import { TxMisuseError } from '../sqlite/db'
import { isRetryable, postgresSecrets, shownPostgresUrl, sqlState, toStoreError } from './errors'
import { migratePostgres } from './migrate'
import type { PgOrm } from './orm'
import * as schema from './schema'
import { postgresStore } from './store'

export { DatabaseUnavailableError, postgresSecrets, shownPostgresUrl } from './errors'
export { TxMisuseError }

export interface PostgresDb extends Db {
  readonly kind: 'postgres'
  /** The Bun.SQL pool (for the migrations, doctor and tests). */
  readonly sql: InstanceType<typeof Bun.SQL>
  /** Applies the embedded migrations not applied yet (migrate.ts); their names. */
  migrate(now?: number): Promise<string[]>
  /** For doctor: the migrations applied (oldest first) and the server's version. */
  check(): Promise<{ migrations: string[]; version: string }>
}

export interface OpenPostgresOptions {
  /** The pool's size (connections); default 10. */
  max?: number
  /** Gets the password as a secret, and a line when the configuration version cannot be read. */
  log?: Logger
  /** How often the configuration version is read (ms); default 500. */
  pollMs?: number
}

/** Deadlocks and serialization failures: fn runs again, at most this many more times. */
const MAX_RERUNS = 3
const PING_TIMEOUT_MS = 2_000

export const openPostgres = async (url: string, opts: OpenPostgresOptions = {}): Promise<PostgresDb> => {
  const shown = shownPostgresUrl(url)
  const secrets = postgresSecrets(url)
  for (const s of secrets) opts.log?.addSecret(s)
  const fail = (e: unknown) => toStoreError(e, shown, secrets)
  // connectionTimeout (s): a server that does not answer fails a query in seconds, not after the OS's TCP timeout.
  const sql = new Bun.SQL(url, { max: opts.max ?? 10, connectionTimeout: 10, idleTimeout: 60 })
  const orm: PgOrm = drizzle({ client: sql, schema })
  try {
    await sql`SELECT 1`
  } catch (e) {
    await sql.close().catch(() => undefined)
    throw fail(e)
  }

  const stats: DbStats = { batches: 0, jobs: 0, busyRetries: 0 }
  /** A callback after a commit (Store.afterCommit) that throws is logged: the transaction did commit. */
  const runAfterCommit = (f: () => void) => {
    try { f() } catch (e) { opts.log?.error('a callback after a commit failed', { error: e }) }
  }
  /** Set while a transaction function runs (and in everything it awaits): db.tx there is a nested transaction. */
  const inTx = new AsyncLocalStorage<true>()
  const read = postgresStore(orm, fail)

  // ---- the configuration version ------------------------------------------------------------------------
  // A one-row table that statement-level triggers bump (migrations-pg/0002_config_version.sql), read every
  // pollMs: dataVersion() must answer synchronously on every request, so it returns the last value read.
  // A change on another instance is seen within pollMs plus one round trip (SPEC §8: within 2 s).
  let version = 0
  let polling: Promise<void> | undefined
  let pollFailing = false
  const poll = (): Promise<void> => (polling ??= (async () => {
    try {
      const [r] = (await sql`SELECT v FROM _wxgate_config_version`) as { v: string }[]
      version = Number(r?.v ?? 0)
      if (pollFailing) opts.log?.info('the configuration version can be read again')
      pollFailing = false
    } catch (e) {
      // Before the migrations (42P01: no such table) the version stays 0; a lost server keeps the last value.
      if (sqlState(e) !== '42P01' && !pollFailing) opts.log?.warn('cannot read the configuration version', { error: String((fail(e) as Error)?.message ?? e) })
      pollFailing = sqlState(e) !== '42P01'
    } finally {
      polling = undefined
    }
  })())
  await poll()
  const timer = setInterval(() => void poll(), opts.pollMs ?? 500)
  timer.unref()

  let closed = false

  /**
   * One PostgreSQL transaction (READ COMMITTED, the server's default) through drizzle's, on one pooled
   * connection; fn gets a Store bound to it. TxOptions do not apply here and are ignored: `savepoint` saves
   * SQLite's per-job SAVEPOINT inside a group-commit batch (a transaction here is its own, with no
   * savepoint), and `lazyMs` lets SQLite wait to share a batch's fsync (each PostgreSQL transaction commits
   * on its own connection; waiting would only hold it).
   */
  const tx = <T>(fn: (s: Store) => T | Promise<T>, _opts?: TxOptions): Promise<T> => {
    if (inTx.getStore()) throw new TxMisuseError('db.tx called inside a transaction: transactions do not nest (write through the store you were given)')
    if (closed) return Promise.reject(new Error('the database is closed'))
    stats.jobs++
    return (async () => {
      for (let run = 0; ; run++) {
        // Run again after a deadlock: the callbacks of the run that rolled back are dropped with it.
        const after: (() => void)[] = []
        try {
          const value = await orm.transaction((t) => inTx.run(true, async () => fn(postgresStore(t, fail, (f) => { after.push(f) }))))
          stats.batches++
          for (const f of after) runAfterCommit(f)
          return value
        } catch (e) {
          if (run < MAX_RERUNS && isRetryable(e)) { stats.busyRetries++; continue }
          throw fail(e)
        }
      }
    })()
  }

  return {
    kind: 'postgres',
    // Several instances may serve one PostgreSQL database (SPEC §8).
    shared: true,
    sql,
    read,
    tx,
    dataVersion: () => version,
    ping: async () => {
      let t: ReturnType<typeof setTimeout> | undefined
      try {
        const timeout = new Promise<false>((resolve) => { t = setTimeout(() => resolve(false), PING_TIMEOUT_MS) })
        return await Promise.race([sql`SELECT 1 AS ok`.then(() => true), timeout])
      } catch {
        return false
      } finally {
        clearTimeout(t)
      }
    },
    stats: () => ({ ...stats }),
    migrate: async (now = Date.now()) => {
      try {
        const applied = await migratePostgres(sql, undefined, now)
        await poll()
        return applied
      } catch (e) {
        throw fail(e)
      }
    },
    check: async () => {
      try {
        const [v] = (await sql`SELECT current_setting('server_version') AS v, to_regclass('_wxgate_migrations') IS NOT NULL AS migrated`) as { v: string; migrated: boolean }[]
        const names = v!.migrated ? ((await sql`SELECT name FROM _wxgate_migrations ORDER BY name`) as { name: string }[]).map((r) => r.name) : []
        return { migrations: names, version: v!.v }
      } catch (e) {
        throw fail(e)
      }
    },
    close: async () => {
      if (closed) return
      closed = true
      clearInterval(timer)
      await polling?.catch(() => undefined)
      await sql.close()
    },
  }
}
