/** Dedup rows are kept 72 hours, then pruned (service level, injected clock, real SQLite). */
import { expect, test } from 'bun:test'
import { loadConfig } from '../../src/config'
import { createDeps } from '../../src/deps'
import { fixedClock } from '../../src/lib/clock'
import { memoryLogger } from '../../src/lib/log'
import { signedQuery, textXml } from '../support/server'

test('rows older than 72 h are pruned; younger ones stay and still deduplicate', async () => {
  const clock = fixedClock(Date.UTC(2026, 0, 1))
  const deps = createDeps(loadConfig({ WXGATE_DB: ':memory:', WXGATE_CALLBACK_MAX_AGE: '0' }, ''), { clock, log: memoryLogger().logger })
  await deps.channels.upsert({ id: 'default', appId: 'wx1', appSecret: 'secret-1', token: 'tok123' })
  const ts = String(Math.floor(clock.now() / 1000))
  const old = textXml({ msgId: '111', createTime: ts })
  await deps.callbacks.handle('default', Object.fromEntries(new URLSearchParams(signedQuery('tok123', {}, ts).query)), old)
  clock.advance(71 * 3600_000)
  const young = textXml({ msgId: '222', createTime: ts })
  await deps.callbacks.handle('default', Object.fromEntries(new URLSearchParams(signedQuery('tok123', {}, ts).query)), young)
  clock.advance(2 * 3600_000) // the first is now 73 h old, the second 2 h
  expect(await deps.callbacks.prune()).toBe(1)
  const keys = deps.db.sqlite.query('SELECT dedup_key FROM inbound_messages').all()
  expect(keys).toEqual([{ dedup_key: 'msg:222' }])
  const again = await deps.callbacks.handle('default', Object.fromEntries(new URLSearchParams(signedQuery('tok123', {}, ts).query)), young)
  expect(again.outcome).toBe('duplicate')
})
