// @sqlite-only: SQLite's migrations and their runner (PostgreSQL's: postgres-migrate.test.ts)
import { describe, expect, test } from 'bun:test'
import { readdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDb } from '../../src/store/sqlite/db'
import { migrate } from '../../src/store/sqlite/migrate'
import { migrations } from '../../src/store/sqlite/migrations.manifest'

describe('migrations', () => {
  test('the embedded manifest and the migrations folder agree, file for file and byte for byte', async () => {
    const dir = join(import.meta.dir, '..', '..', 'migrations')
    const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()
    expect(migrations.map((m) => `${m.name}.sql`)).toEqual(files)
    for (const m of migrations) expect(m.sql).toBe(await Bun.file(join(dir, `${m.name}.sql`)).text())
  })

  test('applied once on a real file, with WAL, synchronous=FULL, a short busy_timeout and foreign keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxgate-mig-'))
    try {
      const db = openDb(join(dir, 'nested', 'x.db'))
      expect(migrate(db.sqlite)).toEqual(migrations.map((m) => m.name))
      expect(migrate(db.sqlite)).toEqual([])
      const pragma = (p: string) => Object.values(db.sqlite.query(`PRAGMA ${p}`).get() as object)[0]
      expect(pragma('journal_mode')).toBe('wal')
      expect(pragma('synchronous')).toBe(2) // FULL
      // Short: the event loop never waits long for a lock (the write queue retries from timers); migrate restores it.
      expect(Number(pragma('busy_timeout'))).toBeGreaterThan(0)
      expect(Number(pragma('busy_timeout'))).toBeLessThanOrEqual(5)
      expect(pragma('foreign_keys')).toBe(1)
      const tables = db.sqlite.query("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => (r as { name: string }).name)
      expect(tables).toEqual(expect.arrayContaining(['channels', 'api_keys', 'inbound_messages']))
      db.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a failing migration rolls back entirely', () => {
    const db = openDb(':memory:')
    migrate(db.sqlite)
    expect(() => migrate(db.sqlite, [...migrations, { name: '9999_bad', sql: 'CREATE TABLE ok_part (x);\n--> statement-breakpoint\nNOT SQL' }])).toThrow()
    expect(db.sqlite.query("SELECT name FROM sqlite_master WHERE name = 'ok_part'").get()).toBeNull()
  })

  test('transactions queue: one that fails does not disturb the next', async () => {
    const db = openDb(':memory:')
    db.sqlite.exec('CREATE TABLE t (v TEXT)')
    const order: string[] = []
    const a = db.tx(() => { db.sqlite.exec("INSERT INTO t VALUES ('a1')"); order.push('a'); throw new Error('roll back a') })
    const b = db.tx(() => { db.sqlite.exec("INSERT INTO t VALUES ('b1')"); order.push('b') })
    await expect(a).rejects.toThrow('roll back a')
    await b
    expect(order).toEqual(['a', 'b'])
    expect(db.sqlite.query('SELECT v FROM t').all()).toEqual([{ v: 'b1' }])
  })
})

describe('group commit', () => {
  test('transactions queued together share a commit but each rolls back alone', async () => {
    const db = openDb(':memory:')
    db.sqlite.exec('CREATE TABLE t (v TEXT)')
    const jobs = Array.from({ length: 10 }, (_, i) => db.tx(() => {
      db.sqlite.exec(`INSERT INTO t VALUES ('v${i}')`)
      if (i % 3 === 0) throw new Error(`fail ${i}`)
      return i
    }))
    const settled = await Promise.allSettled(jobs)
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected'])
    expect(db.sqlite.query('SELECT v FROM t ORDER BY v').all().map((r) => (r as { v: string }).v)).toEqual(['v1', 'v2', 'v4', 'v5', 'v7', 'v8'])
    expect(db.sqlite.inTransaction).toBe(false)
  })

  test('0008 (the webhook feed): endpoints that existed before start at the newest inbound row, so nothing is replayed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxgate-mig-'))
    try {
      const db = openDb(join(dir, 'x.db'))
      const upTo7 = migrations.filter((m) => m.name < '0008')
      migrate(db.sqlite, upTo7)
      db.sqlite.exec(`INSERT INTO channels (id, app_id, app_secret, token, created_at, updated_at) VALUES ('default', 'wx0000000000000001', 's', 't', 1, 1)`)
      for (let i = 0; i < 3; i++) {
        db.sqlite.query(`INSERT INTO inbound_messages (channel_id, dedup_key, msg_type, from_user, create_time, body, reply, handled_by, received_at) VALUES ('default', ?, 'text', 'o', 1, '<xml/>', 'success', 'unhandled', 1)`).run(`k${i}`)
      }
      db.sqlite.exec(`INSERT INTO webhook_endpoints (id, url, events, secret, created_at, updated_at) VALUES ('whe_old', 'http://127.0.0.1:9/', '["*"]', 'whsec_x', 1, 1)`)
      expect(migrate(db.sqlite)).toEqual(['0008_webhook_feed', ...migrations.filter((m) => m.name > '0008_webhook_feed').map((m) => m.name)])
      const newest = (db.sqlite.query('SELECT max(id) AS m FROM inbound_messages').get() as { m: number }).m
      expect(db.sqlite.query("SELECT feed_cursor AS c FROM webhook_endpoints WHERE id = 'whe_old'").get()).toEqual({ c: newest })
      expect(db.sqlite.query('SELECT claimed FROM inbound_messages LIMIT 1').get()).toEqual({ claimed: 0 })
      db.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
