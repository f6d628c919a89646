/**
 * @module Opens the SQLite database once with the pragmas every connection needs, and serialises
 * write transactions.
 *
 * bun:sqlite is synchronous and one connection carries one transaction at a time. `db.tx(fn)` queues
 * transactions and runs them one at a time (with group commit, below); fn's writes commit together, or
 * roll back when it throws. Every write in the process goes through it. The rules that keep one slow or
 * broken transaction from stalling every other write (SQLite-only details, kept in the store):
 * - fn awaits only the store it is given (its calls answer synchronously here, so a job settles within
 *   microtasks): awaiting the network or a timer would hold the only write transaction meanwhile (stalling
 *   every other write, and letting readers of this connection see rows that may still roll back). Do the
 *   I/O (a WeChat call, a hook) before or after.
 * - tx never nests: db.tx called while a transaction function runs (AsyncLocalStorage tells) throws at once
 *   (a nested one queued behind its own caller would wait for it forever).
 * - The write lock is never waited for on the event loop: busy_timeout is a few milliseconds, and a
 *   BEGIN IMMEDIATE that finds another process holding the lock (the CLI, a backup) is retried with
 *   backoff from a timer, up to LOCK_WAIT_MS; then the batch fails with DatabaseBusyError.
 * - An error that aborts the whole transaction (SQLITE_FULL, SQLITE_IOERR, a RAISE(ROLLBACK)) ends the
 *   batch there: the jobs already run were rolled back with it and are rejected with that error as the
 *   cause, the jobs not yet run are rejected without running (never in autocommit), and the next batch
 *   starts afresh.
 */
import { Database } from 'bun:sqlite'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { AsyncLocalStorage } from 'node:async_hooks'
import { drizzle, type BunSQLiteDatabase } from 'drizzle-orm/bun-sqlite'
import { AppError } from '../../lib/errors'
import type { Awaitable, Db, DbStats, Store, TxOptions } from '../contract'
import * as schema from './schema'
import { sqliteStore } from './store'
import { wrapMethods } from '../wrap-methods'

export type Drizzle = BunSQLiteDatabase<typeof schema>

export type { DbStats, TxOptions } from '../contract'

/** The SQLite database: the store contract plus the connection, for what is SQLite's own (migrations, doctor, tests). */
export interface SqliteDb extends Db {
  readonly kind: 'sqlite'
  readonly shared: false
  readonly sqlite: Database
  readonly orm: Drizzle
  close(): Promise<void>
}

/** Thrown when another connection keeps the write lock longer than the wait limit. Nothing was stored. */
export class DatabaseBusyError extends AppError {
  override name = 'DatabaseBusyError'
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('database_locked', 503, message, opts)
  }
}

/** The database could not be written (disk full, I/O error, read-only file). Nothing was stored. */
export class StorageUnavailableError extends AppError {
  override name = 'StorageUnavailableError'
  constructor(cause: unknown) {
    super('storage_unavailable', 503, `the database cannot be written (${(cause as Error)?.message ?? String(cause)}): nothing was stored; check the disk under WXGATE_DB, then retry`, { cause })
  }
}

/** Thrown by db.tx for a transaction function that breaks the rules above (async, nested). */
export class TxMisuseError extends Error {
  override name = 'TxMisuseError'
}

/** Thrown for the jobs of a batch whose transaction another job's error aborted; `cause` is that error. */
export class TxAbortedError extends AppError {
  override name = 'TxAbortedError'
  constructor(cause: unknown) {
    super('transaction_aborted', 503, `the transaction was rolled back by an error in the same batch (${(cause as Error)?.message ?? String(cause)}): nothing was stored; retry`, { cause })
  }
}

const TICK = Symbol('tick')

/** The store with a check before every call (the transaction functions' store, see runJob). */
const guardStore = (store: Store, check: () => void): Store =>
  Object.fromEntries(Object.entries(store).map(([name, repo]) =>
    [name, typeof repo === 'function' ? repo : wrapMethods(repo as object, (f) => (...a) => { check(); return f(...a) })])) as unknown as Store

const STORAGE_CODES = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOMEM|NOTADB)/
/** SQLite's errors that say the disk, not the transaction's own logic, failed become one 503 error. */
const asStorageError = (e: unknown): unknown => {
  const code = (e as { code?: unknown })?.code
  return typeof code === 'string' && STORAGE_CODES.test(code) ? new StorageUnavailableError(e) : e
}

export interface OpenDbOptions {
  /** How long a batch waits for another connection's write lock before failing (ms). */
  lockWaitMs?: number
}

/** SQLite's own wait for a lock, on the event loop: short, so nothing stalls for more than a few ms. */
const BUSY_TIMEOUT_MS = 3
const LOCK_WAIT_MS = 30_000
const MAX_BATCH = 128

const isBusy = (e: unknown): boolean => {
  const code = (e as { code?: unknown })?.code
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'))
}

/** The database path as the CLI and the logs show it: absolute (so a wrong working folder shows), `:memory:` as is. */
export const shownDbPath = (path: string): string => (path === ':memory:' ? path : resolve(path))

/** The file could not be opened or created (permissions, a missing or wrong folder). The message says what to do. */
export class DatabaseOpenError extends AppError {
  override name = 'DatabaseOpenError'
  constructor(message: string, cause: unknown) {
    super('database_unavailable', 503, message, { cause })
  }
}

/**
 * Creates what is missing privately: the folders 0700, the empty file 0600 (the file holds AppSecrets).
 * The modes are set by chmod after creating, so no umask can widen them; a folder or file that exists is
 * left as it is (the operator's choice). SQLite's unix VFS gives the -wal and -shm files the database
 * file's own mode, so they follow it.
 */
const createPrivately = (path: string): void => {
  const dir = dirname(path)
  if (!existsSync(dir)) {
    const first = mkdirSync(dir, { recursive: true, mode: 0o700 })
    if (first !== undefined) {
      for (let d = resolve(dir); ; d = dirname(d)) {
        chmodSync(d, 0o700)
        if (d === resolve(first) || d === dirname(d)) break
      }
    }
  }
  try {
    // Created here rather than by SQLite, so it never exists with the umask's mode (SQLite opens an empty file as a new database).
    closeSync(openSync(path, 'wx', 0o600))
    chmodSync(path, 0o600)
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'EEXIST') throw e
  }
}

/** The failures that a path, its folder or their permissions explain (anything else is passed on as it is). */
const OPEN_FAILURE = /^(ENOENT|EACCES|EPERM|ENOTDIR|EISDIR|EROFS|EEXIST|SQLITE_CANTOPEN|SQLITE_READONLY|SQLITE_PERM|SQLITE_AUTH)/

/** A uid's user name from /etc/passwd (no getpwuid in Node); undefined when it has none (a container's bare uid). */
const userName = (uid: number): string | undefined => {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':')
      if (f.length > 2 && Number(f[2]) === uid && f[2] !== '') return f[0]
    }
  } catch { /* no passwd file: the uid alone */ }
  return undefined
}
const who = (uid: number) => { const n = userName(uid); return n ? `${n} (uid ${uid})` : `uid ${uid}` }
const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0')

/**
 * One sentence for a database that cannot be opened: the path, whether its folder exists, who owns the
 * nearest existing folder (or the file) and its mode, the user wxgate runs as, and what to do.
 */
export const explainOpenFailure = (path: string, cause: unknown): string => {
  const abs = resolve(path)
  const dir = dirname(abs)
  const uid = process.getuid?.() ?? -1
  const me = uid >= 0 ? who(uid) : 'this user'
  const meName = (uid >= 0 && userName(uid)) || (uid >= 0 ? String(uid) : 'USER')
  const why = String((cause as Error)?.message ?? cause)
  const stat = (p: string) => { try { return statSync(p) } catch { return undefined } }
  // ENOTDIR: a file stands somewhere above p; climbing on finds it.
  const missing = (p: string) => { try { statSync(p); return false } catch (e) { const c = (e as { code?: unknown }).code; return c === 'ENOENT' || c === 'ENOTDIR' } }
  let near = dir
  while (missing(near) && near !== dirname(near)) near = dirname(near)
  const s = stat(near)
  const owned = (st: NonNullable<ReturnType<typeof stat>>) => `owner ${who(st.uid)}, mode ${octal(st.mode)}`
  let situation: string
  let fix: string
  if (!s) {
    situation = `${near} cannot be looked into by this user (a folder above it is not searchable)`
    fix = 'set WXGATE_DB to a path it can reach and write'
  } else if (!s.isDirectory()) {
    situation = `${near} is a file, not a folder`
    fix = 'set WXGATE_DB to a file in a folder'
  } else if (near !== dir) {
    situation = `its folder ${dir} does not exist and cannot be created: the nearest existing folder is ${near} (${owned(s)})`
    fix = `create the folder for that user (sudo install -d -o ${meName} -m 700 ${dir}) or set WXGATE_DB to a path it can write`
  } else {
    const file = stat(abs)
    situation = file
      ? `the file exists (${owned(file)}) in the folder ${dir} (${owned(s)})`
      : `its folder ${dir} exists (${owned(s)})`
    // Not `chown -R`: the folder may be a shared one (/var/lib); the -wal and -shm files sit beside the file.
    fix = file
      ? `make the file, its -wal and -shm and the folder writable for that user (sudo chown ${meName} ${dir} ${abs}*) or set WXGATE_DB to a path it can write`
      : `make the folder writable for that user (sudo chown ${meName} ${dir}, if it is wxgate's own) or set WXGATE_DB to a path it can write`
  }
  return `cannot open the database ${abs} (WXGATE_DB): ${why}; ${situation}; wxgate runs as ${me}: ${fix}`.replace(/\s*\n\s*/g, ' ')
}

export const openDb = (path: string, opts: OpenDbOptions = {}): SqliteDb => {
  const lockWaitMs = opts.lockWaitMs ?? LOCK_WAIT_MS
  let sqlite: Database
  try {
    if (path !== ':memory:') createPrivately(path)
    sqlite = new Database(path, { create: true, strict: true })
  } catch (e) {
    const code = String((e as { code?: unknown })?.code ?? '')
    throw path !== ':memory:' && OPEN_FAILURE.test(code) ? new DatabaseOpenError(explainOpenFailure(path, e), e) : e
  }
  try {
    // Opening (a WAL recovery) may wait for another process; it happens once, before anything is served.
    sqlite.exec('PRAGMA busy_timeout = 5000')
    // The first write of the folder (the -wal file): a folder that is not writable fails here.
    sqlite.exec('PRAGMA journal_mode = WAL')
  } catch (e) {
    sqlite.close()
    const code = String((e as { code?: unknown })?.code ?? '')
    throw OPEN_FAILURE.test(code) ? new DatabaseOpenError(explainOpenFailure(path, e), e) : e
  }
  // FULL: a COMMIT is fsynced, so an answered callback or an accepted send survives a power loss (WeChat
  // does not retry a 200). Group commit makes that one fsync per batch, not per request.
  sqlite.exec('PRAGMA synchronous = FULL')
  sqlite.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
  sqlite.exec('PRAGMA foreign_keys = ON')
  const orm = drizzle({ client: sqlite, schema })
  const store = sqliteStore(sqlite, orm)

  const dataVersionStmt = sqlite.prepare('PRAGMA data_version')
  const begin = sqlite.prepare('BEGIN IMMEDIATE')
  const commit = sqlite.prepare('COMMIT')
  const rollback = sqlite.prepare('ROLLBACK')
  const savepoint = sqlite.prepare('SAVEPOINT tx')
  const release = sqlite.prepare('RELEASE tx')
  const rollbackTo = sqlite.prepare('ROLLBACK TO tx')
  const stats: DbStats = { batches: 0, jobs: 0, busyRetries: 0 }

  /**
   * Group commit: transactions queued while another batch commits run together in one BEGIN IMMEDIATE …
   * COMMIT, each inside its own SAVEPOINT, so each still commits or rolls back as a whole but the batch
   * pays for one commit (the WAL write and its fsync are most of a small transaction's cost). Nobody is
   * answered before the COMMIT, so a crash mid-batch loses only work that was never acknowledged.
   */
  interface Job { fn: (s: Store) => unknown; savepoint: boolean; resolve: (v: unknown) => void; reject: (e: unknown) => void; after?: (() => void)[] }
  const queue: Job[] = []
  let draining = false
  /** The timer that commits lazy transactions when no other transaction came along (TxOptions.lazyMs). */
  let lazyTimer: ReturnType<typeof setTimeout> | undefined
  let lazyDue = Infinity
  /** Each job's own async context: which job a call comes from (the nesting check, the store's guard). */
  const current = new AsyncLocalStorage<Job>()
  /** Resolves once the event loop turns after the batch began (see runJob). */
  let batchTick: Promise<typeof TICK> | undefined
  /** The job whose function runs now (jobs run one at a time). */
  let runningJob: Job | undefined
  /** The store transaction functions get: usable only while their own job runs. */
  const ownJob = (): Job => {
    const job = current.getStore()
    if (!job || job !== runningJob) throw new TxMisuseError('the store of a db.tx function was used after its transaction ended (it awaited something other than the store)')
    return job
  }
  const txStore: Store = { ...guardStore(store, ownJob), afterCommit: (fn) => { (ownJob().after ??= []).push(fn) } }
  let closed = false

  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

  /** BEGIN IMMEDIATE, waiting for another connection's write lock from timers (never on the event loop). */
  const beginWhenFree = async (): Promise<void> => {
    const started = Date.now()
    for (let delay = 5; ; delay = Math.min(50, delay * 2)) {
      try {
        begin.run()
        return
      } catch (e) {
        if (!isBusy(e)) throw e
        stats.busyRetries++
        if (Date.now() - started >= lockWaitMs) {
          throw new DatabaseBusyError(`the database is locked by another process (waited ${Math.round((Date.now() - started) / 1000)} s for its write lock)`, { cause: e })
        }
        await sleep(delay)
      }
    }
  }

  const runJob = async (job: Job): Promise<{ ok: boolean; value: unknown }> => {
    if (job.savepoint) savepoint.run()
    runningJob = job
    try {
      let value = current.run(job, job.fn, txStore)
      // The store answers synchronously, so this settles within microtasks: before the batch's tick, which
      // fires only once the event loop turns. A job still pending then awaits something else (a timer, the
      // network) while holding the only write transaction: it is rolled back and rejected, and its store
      // refuses the calls it makes later (they would land in some other transaction).
      if (value && typeof (value as PromiseLike<unknown>).then === 'function') {
        const pending = value as Promise<unknown>
        value = await Promise.race([pending, batchTick!])
        if (value === TICK) {
          pending.catch(() => undefined)
          throw new TxMisuseError('a db.tx function awaited something other than the store it was given (a timer, the network): do that before or after the transaction')
        }
      }
      if (job.savepoint) release.run()
      return { ok: true, value }
    } catch (e) {
      if (job.savepoint && sqlite.inTransaction) { rollbackTo.run(); release.run() }
      job.after = undefined
      return { ok: false, value: e }
    } finally {
      runningJob = undefined
    }
  }

  const startDrain = () => {
    if (draining || closed) return
    draining = true
    void drain()
  }

  const drain = async () => {
    draining = true
    clearTimeout(lazyTimer)
    lazyTimer = undefined
    lazyDue = Infinity
    try {
      while (queue.length > 0 && !closed) {
        const batch = queue.splice(0, MAX_BATCH)
        try {
          await beginWhenFree()
        } catch (e) {
          for (const j of batch) j.reject(e)
          continue
        }
        stats.batches++
        batchTick = new Promise((r) => setTimeout(() => r(TICK), 0))
        const results: { ok: boolean; value: unknown }[] = []
        let aborted: unknown
        for (const job of batch) {
          const r = await runJob(job)
          stats.jobs++
          results.push(r)
          // The error rolled back the whole transaction, not just this job's savepoint.
          if (!r.ok && !sqlite.inTransaction) { aborted = r.value; break }
        }
        if (aborted !== undefined) {
          const own = asStorageError(aborted)
          batch.forEach((j, i) => j.reject(i === results.length - 1 ? own : new TxAbortedError(aborted)))
          continue
        }
        try {
          commit.run()
        } catch (e) {
          if (sqlite.inTransaction) rollback.run()
          const err = asStorageError(e)
          for (const j of batch) j.reject(err)
          continue
        }
        batch.forEach((j, i) => (results[i]!.ok ? j.resolve(results[i]!.value) : j.reject(asStorageError(results[i]!.value))))
        // Store.afterCommit of the jobs that committed (a callback that throws does not undo the commit).
        for (const j of batch) for (const f of j.after ?? []) { try { f() } catch { /* the transaction committed; its caller has its answer */ } }
      }
    } finally {
      draining = false
    }
  }

  const tx = <T>(fn: (s: Store) => Awaitable<T>, opts: TxOptions = {}): Promise<T> => {
    // A timer or a promise started inside a job inherits its context: only a job still running is a nesting.
    const from = current.getStore()
    if (from !== undefined && from === runningJob) throw new TxMisuseError('db.tx called inside a transaction: transactions do not nest (write through the store you were given)')
    return new Promise<T>((resolve, reject) => {
      if (closed) { reject(new Error('the database is closed')); return }
      queue.push({ fn, savepoint: opts.savepoint ?? true, resolve: resolve as (v: unknown) => void, reject })
      if (draining) return
      if (opts.lazyMs !== undefined) {
        const due = Date.now() + opts.lazyMs
        if (due < lazyDue) {
          clearTimeout(lazyTimer)
          lazyDue = due
          lazyTimer = setTimeout(startDrain, opts.lazyMs)
        }
        return
      }
      // Start after the current I/O callbacks (setImmediate), so that the requests Bun delivered in this
      // turn of the event loop share the batch and its one COMMIT.
      draining = true
      setImmediate(() => void drain())
    })
  }

  return {
    kind: 'sqlite',
    shared: false,
    sqlite,
    orm,
    read: store,
    tx,
    dataVersion: () => (dataVersionStmt.get() as { data_version: number }).data_version,
    ping: async () => {
      try {
        return sqlite.query('SELECT 1 AS ok').get() !== null
      } catch {
        return false
      }
    },
    stats: () => ({ ...stats }),
    close: async () => {
      closed = true
      clearTimeout(lazyTimer)
      for (const j of queue.splice(0)) j.reject(new Error('the database is closed'))
      sqlite.close()
    },
  }
}
