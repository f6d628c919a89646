// @sqlite-only: the SQLite repository's window queries (the contract test runs the same cases on both)
/**
 * What the customer-service window is computed from (windowRepo): the latest interaction of each kind, the
 * latest follow event, the customer-service messages sent since; each query walks its index.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SHORT_WINDOW_EVENTS } from '../../src/domain/window'
import { openDb, type SqliteDb as Db } from '../../src/store/sqlite/db'
import { migrate } from '../../src/store/sqlite/migrate'
import { WINDOW_SQL, windowRepo } from '../../src/store/sqlite/window.repo'

const NOW = Date.UTC(2026, 11, 1, 8, 0, 0)
const H = 3600_000
let dir: string
let db: Db
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wxgate-window-'))
  db = openDb(join(dir, 'wxgate.db'))
  migrate(db.sqlite, undefined, NOW)
  db.sqlite.query("INSERT INTO channels (id, app_id, app_secret, token, created_at, updated_at) VALUES ('c1', 'wx1', 's', 't', 0, 0)").run()
  let n = 0
  const inbound = db.sqlite.prepare(`INSERT INTO inbound_messages (channel_id, dedup_key, msg_type, event, from_user, create_time, body, reply, handled_by, received_at)
    VALUES ('c1', ?, ?, ?, ?, 0, '<xml/>', 'success', 'unhandled', ?)`)
  const rows: [string, string | null, string, number][] = [
    ['event', 'subscribe', 'o_a', NOW - 100 * H],
    ['text', null, 'o_a', NOW - 50 * H], // older than 48 h: ignored
    ['text', null, 'o_a', NOW - 10 * H],
    ['image', null, 'o_a', NOW - 9 * H],
    ['event', 'CLICK', 'o_a', NOW - 8 * H],
    ['event', 'VIEW', 'o_a', NOW - 7 * H], // opens nothing
    ['event', 'TEMPLATESENDJOBFINISH', 'o_a', NOW - 6 * H],
    ['event', 'SCAN', 'o_a', NOW - 5 * H],
    ['text', null, 'o_b', NOW - H],
    ['event', 'unsubscribe', 'o_b', NOW - 30 * 60_000],
  ]
  for (const [type, event, from, at] of rows) inbound.run(`k${++n}`, type, event, from, at)
  const msg = db.sqlite.prepare(`INSERT INTO messages (id, request_id, channel_id, openid, template_id, type, sent_as, payload, status, attempts, next_attempt_at, created_at, sent_at)
    VALUES (?, 'req', 'c1', 'o_a', '', ?, ?, '{}', ?, 1, 0, 0, ?)`)
  msg.run('m1', 'text', null, 'sent', NOW - 9.5 * H)
  msg.run('m2', 'image', null, 'sent', NOW - 2 * H)
  msg.run('m3', 'template', null, 'sent', NOW - 2 * H) // a template: not counted
  msg.run('m4', 'text', 'template', 'sent', NOW - 2 * H) // its fallback went: not counted
  msg.run('m5', 'text', null, 'failed', null) // never sent
})
afterAll(() => { db.close(); rmSync(dir, { recursive: true, force: true }) })

test('the latest message, short-window event and unsubscribe of the last 48 hours, one row each', () => {
  const repo = windowRepo(db)
  const rows = repo.latestInteractions({ channelId: 'c1', openid: 'o_a', since: NOW - 48 * H, shortEvents: SHORT_WINDOW_EVENTS })
  expect(rows.map((r) => [r.msgType, r.event, r.receivedAt]).sort()).toEqual([['event', 'SCAN', NOW - 5 * H], ['image', null, NOW - 9 * H]].sort())
  const b = repo.latestInteractions({ channelId: 'c1', openid: 'o_b', since: NOW - 48 * H, shortEvents: SHORT_WINDOW_EVENTS })
  expect(b.map((r) => r.event ?? r.msgType).sort()).toEqual(['text', 'unsubscribe'])
  expect(repo.latestInteractions({ channelId: 'c1', openid: 'o_nobody', since: 0, shortEvents: SHORT_WINDOW_EVENTS })).toEqual([])
})

test('the latest follow event, however old; customer-service messages sent since a time', () => {
  const repo = windowRepo(db)
  expect(repo.lastFollowEvent('c1', 'o_a')).toBe('subscribe')
  expect(repo.lastFollowEvent('c1', 'o_b')).toBe('unsubscribe')
  expect(repo.lastFollowEvent('c1', 'o_nobody')).toBeUndefined()
  expect(repo.sentSince('c1', 'o_a', NOW - 10 * H)).toBe(2)
  expect(repo.sentSince('c1', 'o_a', NOW - 9 * H)).toBe(1)
})

test('each query walks its index', () => {
  const plan = (sql: string, ...args: (string | number)[]) => (db.sqlite.query(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join('\n')
  expect(plan(WINDOW_SQL.latest, 'c1', 'o_a', 0, '[]')).toContain('inbound_channel_from_idx')
  expect(plan(WINDOW_SQL.lastFollow, 'c1', 'o_a')).toContain('inbound_channel_from_idx')
  expect(plan(WINDOW_SQL.sentSince, 'c1', 'o_a', 0)).toContain('messages_openid_idx')
})
