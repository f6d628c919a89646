// @sqlite-only: the SQLite repository's due scan (the contract test runs the same cases on both)
/**
 * The webhook worker's due scan is per endpoint on the partial index (endpoint_id, next_attempt_at, seq):
 * a dead endpoint's large backlog costs another endpoint's scan nothing (the old single scan that skipped
 * full endpoints walked that backlog on every pass: ~7 ms per 100k rows).
 */
import { expect, test } from 'bun:test'
import { openDb } from '../../src/store/sqlite/db'
import { migrate } from '../../src/store/sqlite/migrate'
import { webhooksRepo } from '../../src/store/sqlite/webhooks.repo'

const NOW = Date.UTC(2026, 11, 1)

test('dueFor walks the per-endpoint partial index, and a 100k backlog elsewhere costs (about) nothing', () => {
  const db = openDb(':memory:')
  migrate(db.sqlite)
  const ep = db.sqlite.prepare("INSERT INTO webhook_endpoints (id, url, events, secret, created_at, updated_at) VALUES (?, 'http://127.0.0.1:9/x', '[\"*\"]', 'whsec_x', 0, 0)")
  ep.run('dead')
  ep.run('live')
  const ins = db.sqlite.prepare("INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, next_attempt_at, created_at) VALUES (?, 'e', ?, 'pending', ?, 0)")
  const repo = webhooksRepo(db.orm)
  const median = () => {
    const t: number[] = []
    for (let i = 0; i < 200; i++) { const t0 = performance.now(); repo.dueFor('live', NOW, 4); t.push(performance.now() - t0) }
    return t.sort((a, b) => a - b)[100]!
  }
  db.sqlite.transaction(() => { for (let i = 0; i < 4; i++) ins.run(`live_${i}`, 'live', NOW - 1000 + i) })()
  const before = median()
  db.sqlite.transaction(() => { for (let i = 0; i < 100_000; i++) ins.run(`dead_${i}`, 'dead', NOW - 10_000_000 + i) })()
  const after = median()
  expect(repo.dueFor('live', NOW, 4).map((d) => d.id)).toEqual(['live_0', 'live_1', 'live_2', 'live_3'])
  expect(repo.dueFor('dead', NOW, 2).map((d) => d.id)).toEqual(['dead_0', 'dead_1'])
  // Generous (a loaded machine): a walk of the dead backlog would be milliseconds.
  expect(after).toBeLessThan(Math.max(1, before * 5))
  const plan = (db.sqlite.query(`EXPLAIN QUERY PLAN SELECT * FROM webhook_deliveries WHERE status = 'pending' AND endpoint_id = 'live' AND next_attempt_at <= ${NOW} ORDER BY next_attempt_at, seq LIMIT 4`).all() as { detail: string }[]).map((r) => r.detail).join('\n')
  expect(plan).toContain('webhook_deliveries_endpoint_due_idx')
  expect(plan).not.toContain('TEMP B-TREE')
  db.close()
})
