// @sqlite-only: the SQLite repository's prune (the contract test runs the same cases on both)
/**
 * The hourly prune of finished messages, with 20k prunable rows (and their attempts): many small
 * transactions, none longer than a few milliseconds, and the event loop is free between them, so that a
 * callback or a send is not held up behind the prune.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config'
import { createDeps } from '../../src/deps'
import { fixedClock } from '../../src/lib/clock'
import { memoryLogger } from '../../src/lib/log'
import { openDb, type SqliteDb as Db } from '../../src/store/sqlite/db'

const NOW = Date.UTC(2026, 10, 24, 2, 0, 0)
const DAY = 86_400_000
let dir: string
let db: Db
/** How long each transaction's function ran (ms): the time the write queue is held. */
const txMs: number[] = []

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-prune-'))
  db = openDb(join(dir, 'wxgate.db'))
})
afterAll(() => { db.close(); rmSync(dir, { recursive: true, force: true }) })

test('20k prunable messages: pruned in many short transactions; the event loop never waits > 50 ms', async () => {
  const measured: Db = {
    ...db,
    tx: (fn, opts) => db.tx((orm) => {
      const t0 = performance.now()
      try {
        return fn(orm)
      } finally {
        txMs.push(performance.now() - t0)
      }
    }, opts),
  }
  const { logger } = memoryLogger('info')
  const deps = createDeps(loadConfig({ WXGATE_DB: join(dir, 'wxgate.db'), WXGATE_ADMIN_TOKEN: 'prune-test-admin-0123456789abc' }, ''), { db: measured, clock: fixedClock(NOW), log: logger })
  await deps.channels.upsert({ id: 'c1', appId: 'wx1', appSecret: 'prune-secret', token: 'prunetoken' })

  const insert = db.sqlite.prepare(`INSERT INTO messages (id, request_id, channel_id, openid, template_id, payload, status, attempts, next_attempt_at, created_at, sent_at, finished_at)
    VALUES (?, 'req', 'c1', 'o', 'T', '{"template_id":"T","data":{}}', ?, 1, 0, ?, ?, ?)`)
  const attempt = db.sqlite.prepare("INSERT INTO message_attempts (message_id, at, duration_ms, outcome) VALUES (?, ?, 10, 'ok')")
  const old = NOW - 40 * DAY
  db.sqlite.transaction(() => {
    for (let i = 0; i < 20_000; i++) {
      const status = i % 3 === 0 ? 'sent' : i % 3 === 1 ? 'delivered' : 'failed'
      insert.run(`m_old_${i}`, status, old, old, status === 'sent' ? null : old)
      attempt.run(`m_old_${i}`, old)
    }
    // Kept: recent, or not finished.
    for (let i = 0; i < 2000; i++) insert.run(`m_new_${i}`, i % 2 ? 'sent' : 'queued', NOW - DAY, NOW - DAY, null)
  })()
  const req = db.sqlite.prepare("INSERT INTO send_requests (id, api_key_id, idempotency_key, body_hash, answer, created_at) VALUES (?, 'k', ?, 'h', '{}', ?)")
  db.sqlite.transaction(() => { for (let i = 0; i < 5000; i++) req.run(`req_${i}`, `key_${i}`, old) })()

  // The event loop's longest stall while the prune runs: what a callback arriving then would wait.
  let last = performance.now()
  let worstGap = 0
  const ticker = setInterval(() => {
    const t = performance.now()
    worstGap = Math.max(worstGap, t - last)
    last = t
  }, 1)
  txMs.length = 0
  const pruned = await deps.send.prune()
  clearInterval(ticker)

  expect(pruned).toBe(20_000)
  const left = db.sqlite.query('SELECT count(*) AS n FROM messages').get() as { n: number }
  expect(left.n).toBe(2000)
  expect((db.sqlite.query('SELECT count(*) AS n FROM message_attempts').get() as { n: number }).n).toBe(0)
  expect((db.sqlite.query('SELECT count(*) AS n FROM send_requests').get() as { n: number }).n).toBe(0)
  expect(txMs.length).toBeGreaterThanOrEqual(20)
  // Relative, so a loaded CI box cannot fail it: no transaction does a large share of the work (the single
  // statement before did all of it, ~100 ms here; a chunk is ~2-5 ms).
  const total = txMs.reduce((a, b) => a + b, 0)
  expect(Math.max(...txMs)).toBeLessThan(total / 4)
  console.log(`prune: ${txMs.length} transactions, longest ${Math.max(...txMs).toFixed(1)} ms of ${total.toFixed(1)} ms, worst event-loop gap ${worstGap.toFixed(1)} ms`)
  // A bound on the stall, with room for the scheduling noise of a loaded machine.
  expect(worstGap).toBeLessThan(150)
}, 60_000)
