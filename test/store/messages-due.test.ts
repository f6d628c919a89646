// @sqlite-only: the SQLite repository's query plans (the contract test runs the same cases on both)
/**
 * The outbox's due scan (messagesRepo.due) with a large backlog that is not due yet (messages waiting for
 * a retry, or paused): its query plan walks the partial index and sorts nothing, and a pass costs about
 * the same with 100k such rows as with none.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDb, type SqliteDb as Db } from '../../src/store/sqlite/db'
import { migrate } from '../../src/store/sqlite/migrate'
import { dueCustomScanSql, dueScanSql, messagesRepo } from '../../src/store/sqlite/messages.repo'

const NOW = Date.UTC(2026, 10, 24, 2, 0, 0)
let dir: string
let db: Db
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-due-'))
  db = openDb(join(dir, 'wxgate.db'))
  migrate(db.sqlite, undefined, NOW)
  db.sqlite.query("INSERT INTO channels (id, app_id, app_secret, token, created_at, updated_at) VALUES ('c1', 'wx1', 's', 't', 0, 0), ('c2', 'wx2', 's', 't', 0, 0)").run()
})
afterAll(() => { db.close(); rmSync(dir, { recursive: true, force: true }) })

const insert = (db0: Db) => (channel: string, n: number, nextAttemptAt: (i: number) => number, status = 'queued') => {
  const st = db0.sqlite.prepare(`INSERT INTO messages (id, request_id, channel_id, openid, template_id, payload, status, attempts, next_attempt_at, created_at)
    VALUES (?, 'req', ?, 'o', 'T', '{}', ?, 0, ?, ?)`)
  db0.sqlite.transaction(() => { for (let i = 0; i < n; i++) st.run(`m_${channel}_${status}_${i}_${Math.random()}`, channel, status, nextAttemptAt(i), NOW - 1000) })()
}

/** Median time (ms) of one due() call over many runs. */
const timeDue = (channel: string) => {
  const repo = messagesRepo(db.orm)
  const t: number[] = []
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now()
    repo.due(channel, NOW, 8)
    t.push(performance.now() - t0)
  }
  return t.sort((a, b) => a - b)[100]!
}

test('the due scan uses the partial (channel_id, next_attempt_at, seq) index and needs no sort', () => {
  const plan = (db.sqlite.query(`EXPLAIN QUERY PLAN ${dueScanSql(db.orm)}`).all('c1', NOW, 8) as { detail: string }[]).map((r) => r.detail).join('\n')
  expect(plan).toContain('messages_queued_due_idx')
  expect(plan).not.toContain('TEMP B-TREE')
  expect(plan).not.toMatch(/SCAN messages(?! USING)/)
})

test('the customer-service due scan (templates paused by their quota) uses its own partial index: the templates\' backlog is never walked', () => {
  const plan = (db.sqlite.query(`EXPLAIN QUERY PLAN ${dueCustomScanSql(db.orm)}`).all('c1', NOW, 8) as { detail: string }[]).map((r) => r.detail).join('\n')
  expect(plan).toContain('messages_queued_custom_due_idx')
  expect(plan).not.toContain('TEMP B-TREE')
  expect(plan).not.toMatch(/SCAN messages(?! USING)/)
})

test('100k queued rows not yet due cost (about) nothing; due ones come longest-due first, ties in seq order', () => {
  const empty = timeDue('c1')
  insert(db)('c1', 100_000, (i) => NOW + 60_000 + i)
  insert(db)('c1', 20_000, () => NOW - 5000, 'sent')
  const backlog = timeDue('c1')
  // Generous: the old plan walked every queued row of the channel (~10 ms at 100k).
  expect(backlog).toBeLessThan(Math.max(1, empty * 5))
  expect(messagesRepo(db.orm).due('c1', NOW, 8)).toEqual([])
  insert(db)('c1', 3, () => NOW - 10)
  insert(db)('c1', 2, () => NOW - 20)
  insert(db)('c2', 2, () => NOW - 30)
  const due = messagesRepo(db.orm).due('c1', NOW, 8)
  expect(due.map((m) => m.nextAttemptAt)).toEqual([NOW - 20, NOW - 20, NOW - 10, NOW - 10, NOW - 10])
  expect(due[0]!.seq).toBeLessThan(due[1]!.seq)
  expect(due[2]!.seq).toBeLessThan(due[3]!.seq)
}, 60_000)
