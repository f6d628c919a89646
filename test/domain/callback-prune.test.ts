/** Dedup rows are kept WXGATE_INBOUND_RETENTION_DAYS, never under 72 hours, then pruned (service level, injected clock, real SQLite). */
import { expect, test } from 'bun:test'
import { loadConfig } from '../../src/config'
import { createDeps } from '../../src/deps'
import { fixedClock } from '../../src/lib/clock'
import { memoryLogger } from '../../src/lib/log'
import { signedQuery, textXml } from '../support/server'
import { testSql } from '../support/sql'
import type { SqliteDb } from '../../src/store/sqlite/db'

/** These deps are on SQLite (WXGATE_DB=:memory:): its connection, for bulk inserts. */
const sqliteOf = (deps: { db: unknown }) => (deps.db as SqliteDb).sqlite

test('with a retention of 1 day, rows older than 72 h (the floor) are pruned; younger ones stay and still deduplicate', async () => {
  const clock = fixedClock(Date.UTC(2026, 0, 1))
  const deps = createDeps(loadConfig({ WXGATE_DB: ':memory:', WXGATE_CALLBACK_MAX_AGE: '0', WXGATE_INBOUND_RETENTION_DAYS: '1' }, ''), { clock, log: memoryLogger().logger })
  await deps.channels.upsert({ id: 'default', appId: 'wx1', appSecret: 'secret-1', token: 'tok123' })
  const ts = String(Math.floor(clock.now() / 1000))
  const old = textXml({ msgId: '111', createTime: ts })
  await deps.callbacks.handle('default', Object.fromEntries(new URLSearchParams(signedQuery('tok123', {}, ts).query)), old)
  clock.advance(71 * 3600_000)
  const young = textXml({ msgId: '222', createTime: ts })
  await deps.callbacks.handle('default', Object.fromEntries(new URLSearchParams(signedQuery('tok123', {}, ts).query)), young)
  clock.advance(2 * 3600_000) // the first is now 73 h old, the second 2 h
  expect(await deps.callbacks.prune()).toBe(1)
  const keys = (await testSql(deps.db).all('SELECT dedup_key FROM inbound_messages'))
  expect(keys).toEqual([{ dedup_key: 'msg:222' }])
  const again = await deps.callbacks.handle('default', Object.fromEntries(new URLSearchParams(signedQuery('tok123', {}, ts).query)), young)
  expect(again.outcome).toBe('duplicate')
})

// Issue 10, item 12: the hourly prune was one DELETE (200k rows: 625 ms with every write waiting behind it).
test('pruning many rows runs in small transactions, and a write queued meanwhile goes in between them', async () => {
  const clock = fixedClock(Date.UTC(2026, 0, 1))
  const deps = createDeps(loadConfig({ WXGATE_DB: ':memory:', WXGATE_CALLBACK_MAX_AGE: '0', WXGATE_INBOUND_RETENTION_DAYS: '3' }, ''), { clock, log: memoryLogger().logger })
  const insert = sqliteOf(deps).prepare('INSERT INTO inbound_messages (channel_id, dedup_key, msg_type, from_user, create_time, body, reply, handled_by, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
  sqliteOf(deps).transaction(() => { for (let i = 0; i < 5500; i++) insert.run('default', `msg:${i}`, 'text', 'o', 1, '<xml/>', 'success', 'unhandled', clock.now()) })()
  clock.advance(73 * 3600_000)
  const before = deps.db.stats().batches
  const order: string[] = []
  const prune = deps.callbacks.prune().then((n) => { order.push('prune done'); return n })
  // Queued after the prune started: on the old code it waited for the single big DELETE.
  await Bun.sleep(0)
  const write = deps.db.tx(() => 'write').then((w) => { order.push(w) })
  expect(await prune).toBe(5500)
  await write
  expect(deps.db.stats().batches - before).toBeGreaterThanOrEqual(6)
  expect(order).toEqual(['write', 'prune done'])
  expect((await testSql(deps.db).get('SELECT count(*) AS n FROM inbound_messages'))).toEqual({ n: 0 })
})

test('expired bind codes are pruned in small transactions too', async () => {
  const clock = fixedClock(Date.UTC(2026, 0, 1))
  const deps = createDeps(loadConfig({ WXGATE_DB: ':memory:' }, ''), { clock, log: memoryLogger().logger })
  await deps.channels.upsert({ id: 'default', appId: 'wx1', appSecret: 'secret-1', token: 'tok123' })
  const insert = sqliteOf(deps).prepare("INSERT INTO bind_codes (code, channel_id, subject, status, qr_ticket, qr_url, created_at, expires_at) VALUES (?, 'default', 's', 'pending', 't', 'u', ?, ?)")
  sqliteOf(deps).transaction(() => { for (let i = 0; i < 2500; i++) insert.run(`code-${i}`, clock.now(), clock.now() + 60_000) })()
  clock.advance(30 * 86_400_000)
  const before = deps.db.stats().batches
  expect(await deps.bind.prune()).toBe(2500)
  expect(deps.db.stats().batches - before).toBeGreaterThanOrEqual(3)
  expect((await testSql(deps.db).get('SELECT count(*) AS n FROM bind_codes'))).toEqual({ n: 0 })
})

// The webhook feed reads the inbound rows after each endpoint's cursor: a row an active endpoint has not dealt
// with yet is kept past the retention (a disabled endpoint holds nothing back).
test('rows after an active endpoint\'s feed cursor are not pruned; a disabled endpoint does not hold them', async () => {
  const clock = fixedClock(Date.UTC(2026, 0, 1))
  const deps = createDeps(loadConfig({ WXGATE_DB: ':memory:', WXGATE_INBOUND_RETENTION_DAYS: '3' }, ''), { clock, log: memoryLogger().logger })
  const insert = sqliteOf(deps).prepare('INSERT INTO inbound_messages (channel_id, dedup_key, msg_type, from_user, create_time, body, reply, handled_by, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
  sqliteOf(deps).transaction(() => { for (let i = 0; i < 10; i++) insert.run('default', `msg:${i}`, 'text', 'o', 1, '<xml/>', 'success', 'unhandled', clock.now()) })()
  const ids = ((await testSql(deps.db).all('SELECT id FROM inbound_messages ORDER BY id')) as { id: number }[]).map((r) => r.id)
  await testSql(deps.db).run(`INSERT INTO webhook_endpoints (id, url, events, secret, feed_cursor, created_at, updated_at) VALUES ('whe_behind', 'http://127.0.0.1:9/', '["*"]', 'whsec_x', ?, 1, 1)`, ids[3]!)
  clock.advance(73 * 3600_000)
  expect(await deps.callbacks.prune()).toBe(4)
  expect(((await testSql(deps.db).get('SELECT min(id) AS m FROM inbound_messages')) as { m: number }).m).toBe(ids[4]!)
  sqliteOf(deps).exec("UPDATE webhook_endpoints SET disabled = 1 WHERE id = 'whe_behind'")
  expect(await deps.callbacks.prune()).toBe(6)
})
