// @sqlite-only: the SQLite Db itself: group commit, its locks and the transaction guard
/**
 * Group commit: transactions queued in one turn share a COMMIT, but each one still commits or rolls
 * back as a whole, and nobody hears "done" before the COMMIT.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database } from 'bun:sqlite'
import { DatabaseBusyError, openDb, type SqliteDb as Db } from '../../src/store/sqlite/db'
import { migrate } from '../../src/store/sqlite/migrate'

let dir: string
let db: Db
const rows = () => (db.sqlite.query('SELECT v FROM t ORDER BY v').all() as { v: string }[]).map((r) => r.v)
const insert = (v: string) => db.sqlite.prepare('INSERT INTO t (v) VALUES (?)').run(v)

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-db-'))
  db = openDb(join(dir, 'x.db'))
  db.sqlite.exec('CREATE TABLE t (v TEXT PRIMARY KEY)')
})
afterEach(() => {
  db.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('db.tx with group commit', () => {
  test('a failing transaction in the middle of a batch rolls back alone; the others before and after commit', async () => {
    const results = await Promise.allSettled([
      db.tx(() => { insert('a1'); insert('a2'); return 'a' }),
      db.tx(() => { insert('b1'); insert('b2'); throw new Error('b fails after two writes') }),
      db.tx(() => { insert('c1'); insert('c2'); return 'c' }),
      db.tx(() => { insert('d1'); throw new Error('d fails') }),
      db.tx(() => { insert('e1'); return 'e' }),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled'])
    expect(rows()).toEqual(['a1', 'a2', 'c1', 'c2', 'e1'])
    expect(db.sqlite.inTransaction).toBe(false)
  })

  test('a statement error (unique constraint) rolls back only its own transaction', async () => {
    await db.tx(() => insert('x'))
    const results = await Promise.allSettled([
      db.tx(() => { insert('y'); insert('x') }),
      db.tx(() => insert('z')),
    ])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled'])
    expect(rows()).toEqual(['x', 'z'])
  })

  test('nobody is answered before the COMMIT: a second connection sees the row when tx resolves', async () => {
    const other = openDb(join(dir, 'x.db'))
    try {
      const seen = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        db.tx(() => insert(`r${i}`)).then(() => other.sqlite.query('SELECT COUNT(*) AS n FROM t WHERE v = ?').get(`r${i}`) as { n: number })))
      expect(seen.every((r) => r.n === 1)).toBe(true)
    } finally {
      other.close()
    }
  })

  test('transactions run one at a time, in the order they were queued, across batches', async () => {
    const order: number[] = []
    await Promise.all(Array.from({ length: 300 }, (_, i) => db.tx(() => { order.push(i); insert(`o${i}`) })))
    expect(order).toEqual(Array.from({ length: 300 }, (_, i) => i))
    expect(rows()).toHaveLength(300)
  })

  test('savepoint: false (one write statement): a failing statement leaves nothing, its neighbours commit', async () => {
    await db.tx(() => insert('dup'))
    const results = await Promise.allSettled([
      db.tx(() => insert('p1')),
      db.tx(() => insert('dup'), { savepoint: false }),
      db.tx(() => insert('p2'), { savepoint: false }),
      db.tx(() => { insert('p3'); throw new Error('rolled back by its savepoint') }),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected'])
    expect(rows()).toEqual(['dup', 'p1', 'p2'])
  })
})

describe('the write queue cannot be wedged (issue 10, items 7-11)', () => {
  // Item 7: on the old queue a nested tx awaited by its caller waited for that caller forever, and so did every later write.
  test('a nested tx fails at once with a clear error; later writes go on', async () => {
    const outer = db.tx((): void => { insert('n1'); void db.tx(() => insert('n2')) })
    await expect(outer).rejects.toThrow('transactions do not nest')
    expect(rows()).toEqual([])
    await db.tx(() => insert('after'))
    expect(rows()).toEqual(['after'])
  })

  // Item 9: an async function held the only write transaction while it awaited (and its writes were visible uncommitted).
  // Since issue 14 a transaction function may await its store (which answers at once here), nothing else.
  test('a transaction function that awaits a timer is rejected and rolled back, and holds nothing while it would await; its store refuses later calls', async () => {
    let resumed = false
    let lateCall: unknown
    const other = openDb(join(dir, 'x.db'))
    try {
      migrate(db.sqlite)
      const asyncTx = db.tx(async (s) => { insert('a1'); await s.channels.list(); await Bun.sleep(50); resumed = true; try { await s.channels.list(); lateCall = "no throw" } catch (e) { lateCall = e } })
      const next = db.tx(() => insert('b1'))
      await expect(asyncTx).rejects.toThrow('awaited something other than the store')
      await next
      expect(rows()).toEqual(['b1'])
      await Bun.sleep(80)
      expect(resumed).toBe(true)
      expect(String(lateCall)).toContain('used after its transaction ended')
      // Its code after the await ran outside any transaction and left the queue untouched.
      expect(db.sqlite.inTransaction).toBe(false)
      expect((other.sqlite.query('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(1)
    } finally {
      other.close()
    }
  })

  // Item 8: on the old queue the jobs after an aborting error ran in autocommit (and committed), all were
  // reported failed, and the cause was lost behind "cannot commit - no transaction is active".
  test('an error that aborts the whole transaction ends the batch: nothing after it runs, the cause is kept', async () => {
    db.sqlite.exec(`CREATE TABLE boom (v TEXT); CREATE TRIGGER boom_abort BEFORE INSERT ON boom BEGIN SELECT RAISE(ROLLBACK, 'disk full (simulated)'); END`)
    let ranAfter = false
    const results = await Promise.allSettled([
      db.tx(() => insert('before')),
      db.tx(() => db.sqlite.exec("INSERT INTO boom VALUES ('x')")),
      db.tx(() => { ranAfter = true; insert('after') }),
    ])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected'])
    const reasons = results.map((r) => (r as PromiseRejectedResult).reason as Error)
    expect(reasons[1]!.message).toContain('disk full (simulated)')
    expect(reasons[0]!.message).toContain('disk full (simulated)')
    expect(((reasons[0] as Error & { cause?: Error }).cause)?.message).toContain('disk full (simulated)')
    expect(reasons[2]!.message).toContain('disk full (simulated)')
    expect(ranAfter).toBe(false)
    expect(rows()).toEqual([])
    expect(db.sqlite.inTransaction).toBe(false)
    // The next batch starts afresh.
    await db.tx(() => insert('later'))
    expect(rows()).toEqual(['later'])
  })

  // Item 10: busy_timeout = 5000 made every write wait on the event loop while another process held the lock.
  test('another connection holding the write lock never blocks the event loop; the write goes in when it is free', async () => {
    const other = new Database(join(dir, 'x.db'))
    other.exec('BEGIN IMMEDIATE')
    let maxGap = 0
    let last = performance.now()
    const ticker = setInterval(() => { const t = performance.now(); maxGap = Math.max(maxGap, t - last); last = t }, 10)
    try {
      const write = db.tx(() => insert('waited'))
      let done = false
      void write.then(() => { done = true })
      await Bun.sleep(1000)
      expect(done).toBe(false)
      other.exec('COMMIT')
      await write
      expect(rows()).toEqual(['waited'])
      expect(db.stats().busyRetries).toBeGreaterThan(3)
      // The old busy_timeout stalled the loop for the whole second; timers on a loaded machine drift far less.
      expect(maxGap).toBeLessThan(400)
    } finally {
      clearInterval(ticker)
      if (other.inTransaction) other.exec('ROLLBACK')
      other.close()
    }
  })

  test('a lock held past the wait limit fails the batch with DatabaseBusyError, and the queue recovers', async () => {
    const short = openDb(join(dir, 'x.db'), { lockWaitMs: 200 })
    const other = new Database(join(dir, 'x.db'))
    try {
      other.exec('BEGIN IMMEDIATE')
      await expect(short.tx(() => short.sqlite.exec("INSERT INTO t VALUES ('never')"))).rejects.toBeInstanceOf(DatabaseBusyError)
      other.exec('COMMIT')
      await short.tx(() => short.sqlite.exec("INSERT INTO t VALUES ('later')"))
      expect(rows()).toEqual(['later'])
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK')
      other.close()
      short.close()
    }
  })

  // Item 11: synchronous=NORMAL lost committed transactions on a power loss.
  test('commits are fsynced (synchronous=FULL) and the WAL is on', () => {
    expect(db.sqlite.query('PRAGMA synchronous').get()).toEqual({ synchronous: 2 })
    expect(db.sqlite.query('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' })
  })

  test('lazyMs: a lazy transaction joins the next batch another one starts, or commits on its own within lazyMs', async () => {
    db.sqlite.exec('CREATE TABLE IF NOT EXISTS lazy_t (v INTEGER)')
    const b0 = db.stats().batches
    const t0 = performance.now()
    await db.tx(() => { db.sqlite.query('INSERT INTO lazy_t VALUES (1)').run() }, { lazyMs: 30 })
    const alone = performance.now() - t0
    expect(alone).toBeGreaterThanOrEqual(25)
    expect(alone).toBeLessThan(1000)
    expect(db.stats().batches).toBe(b0 + 1)
    // With a normal transaction right after it: one batch, one COMMIT, for both; the lazy one does not wait.
    const t1 = performance.now()
    const lazy = db.tx(() => { db.sqlite.query('INSERT INTO lazy_t VALUES (2)').run() }, { lazyMs: 5000 })
    await db.tx(() => { db.sqlite.query('INSERT INTO lazy_t VALUES (3)').run() })
    await lazy
    expect(performance.now() - t1).toBeLessThan(1000)
    expect(db.stats().batches).toBe(b0 + 2)
    expect(db.sqlite.query('SELECT count(*) AS n FROM lazy_t').get()).toEqual({ n: 3 })
  })
})
