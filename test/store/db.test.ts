/**
 * Group commit: transactions queued in one turn share a COMMIT, but each one still commits or rolls
 * back as a whole, and nobody hears "done" before the COMMIT.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDb, type Db } from '../../src/store/db'

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
      db.tx(async () => { insert('c1'); await Bun.sleep(5); insert('c2'); return 'c' }),
      db.tx(async () => { insert('d1'); await Bun.sleep(1); throw new Error('d fails after an await') }),
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
    await Promise.all(Array.from({ length: 300 }, (_, i) => db.tx(async () => { order.push(i); insert(`o${i}`); if (i % 50 === 0) await Bun.sleep(1) })))
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
