/**
 * Exactly-once under retries: a retry storm, a callback that cannot commit before the deadline, a handler
 * that throws on its first attempt, and a real gateway killed mid-transaction — against the real server
 * and a real SQLite file.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import type { Rule } from '../../src/domain/dispatch'
import { openDb } from '../../src/store/sqlite/db'
import { parseXml } from '../../src/wechat/xml'
import { startGatewayProcess } from '../support/gateway-process'
import { holdWriteLock } from '../support/write-lock'
import { PLAIN, post, signedQuery, startTestServer, textXml, type TestServer } from '../support/server'
import { effectCount, testSql, writeEffect } from '../support/sql'
import { countAt, onPostgres, testDbUrl } from '../support/test-db'

let calls: Record<string, number> = {}
const count = (k: string) => { calls[k] = (calls[k] ?? 0) + 1; return calls[k]! }

// Rules run synchronously inside the callback transaction (SPEC §3, STYLE §10): nothing in them waits.
const rules: Rule[] = [{
  name: 'test-effects',
  match: (m) => m.msgType === 'text',
  handle: async ({ message, store }) => {
    const content = 'content' in message ? String(message.content) : ''
    const id = 'msgId' in message ? String(message.msgId) : ''
    const n = count(id)
    // Written through the transaction's store: it commits with the callback or not at all.
    await writeEffect(store, id)
    if (content === 'boom-once' && n === 1) throw new Error('database unavailable (simulated)')
    return { type: 'text', content: `attempt ${n}` }
  },
}]

const effectsOf = (s: TestServer, id: string) => effectCount(s.deps.db, id)
const storedOf = async (s: TestServer, id: string) => ((await testSql(s.deps.db).get('SELECT count(*) AS n FROM inbound_messages WHERE dedup_key LIKE ?', `%${id}%`)) as { n: number }).n

let s: TestServer
beforeAll(async () => {
  s = await startTestServer({ rules })
})
afterAll(() => s.stop())

describe('retry storm', () => {
  test('20 concurrent copies of one MsgId → one effect, one body', async () => {
    calls = {}
    const id = '8000000000000000001'
    const xml = textXml({ msgId: id, content: 'storm' })
    const { query } = signedQuery(PLAIN.token)
    const bodies = await Promise.all(Array.from({ length: 20 }, () => post(`${s.url}/wechat?${query}`, xml).then(async (r) => `${r.status} ${await r.text()}`)))
    expect(new Set(bodies).size).toBe(1)
    expect(bodies[0]).toStartWith('200 <xml>')
    expect(parseXml(bodies[0]!.slice(4)).Content).toBe('attempt 1')
    expect(calls[id]).toBe(1)
    expect(await effectsOf(s, id)).toBe(1)
    expect(await storedOf(s, id)).toBe(1)
  })
})

describe('deadline', () => {
  // Processing can outlast the deadline when another process holds the write lock (the CLI, a backup). SQLite
  // only: PostgreSQL has no database-wide write lock (its row locks are the dedup test in contract.test.ts).
  test.skipIf(onPostgres)('a callback that cannot commit within 4.5 s (write lock held 6 s elsewhere) is answered success in time and its effect commits once', async () => {
    calls = {}
    const id = '8000000000000000002'
    const xml = textXml({ msgId: id, content: 'locked out' })
    const { query } = signedQuery(PLAIN.token)
    const holder = await holdWriteLock(s.dbPath, 6000)
    try {
      const t0 = performance.now()
      const res = await post(`${s.url}/wechat?${query}`, xml)
      const elapsed = performance.now() - t0
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('success')
      expect(elapsed).toBeLessThan(5000)
      expect(elapsed).toBeGreaterThan(4000)
      expect(await effectsOf(s, id)).toBe(0) // still waiting for the lock
      // WeChat's retry while the first attempt waits gets its reply once it commits.
      const retry = await post(`${s.url}/wechat?${query}`, xml)
      expect(parseXml(await retry.text()).Content).toBe('attempt 1')
      expect(await effectsOf(s, id)).toBe(1)
      expect(calls[id]).toBe(1)
      // A later retry gets the stored reply; nothing runs again.
      const again = await post(`${s.url}/wechat?${query}`, xml)
      expect(parseXml(await again.text()).Content).toBe('attempt 1')
      expect(await effectsOf(s, id)).toBe(1)
      expect(calls[id]).toBe(1)
    } finally {
      holder.kill()
      await holder.exited
    }
  }, 30_000)
})

describe('a handler that fails', () => {
  test('throws on the first attempt → 500 and nothing stored; the retry does the work once', async () => {
    calls = {}
    const id = '8000000000000000003'
    const xml = textXml({ msgId: id, content: 'boom-once' })
    const { query } = signedQuery(PLAIN.token)
    const first = await post(`${s.url}/wechat?${query}`, xml)
    expect(first.status).toBe(500)
    expect(await effectsOf(s, id)).toBe(0)
    expect(await storedOf(s, id)).toBe(0)
    expect(s.logLines.some((l) => l.includes('callback handling failed') && l.includes(id) && l.includes('"channel":"default"'))).toBe(true)
    const second = await post(`${s.url}/wechat?${query}`, xml)
    expect(second.status).toBe(200)
    expect(parseXml(await second.text()).Content).toBe('attempt 2')
    expect(await effectsOf(s, id)).toBe(1)
    expect(await storedOf(s, id)).toBe(1)
    const third = await post(`${s.url}/wechat?${query}`, xml)
    expect(parseXml(await third.text()).Content).toBe('attempt 2')
    expect(calls[id]).toBe(2)
  })
})

describe('a crash mid-way', () => {
  // A real gateway process killed (SIGKILL) while a rule holds the callback transaction open, after it wrote
  // its effect: neither the effect nor the dedup row survives, and WeChat's next retry does the work once.
  test('a gateway killed inside the callback transaction leaves neither the dedup row nor the effect', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxgate-crash-'))
    const dbPath = await testDbUrl(join(dir, 'wxgate.db'))
    const env = (slow: boolean) => (port: number) => ({
      cmd: [process.execPath, join(import.meta.dir, '../support/slow-rule-gateway.ts')],
      env: {
        PATH: process.env.PATH, HOME: process.env.HOME, WXGATE_DB: dbPath, WXGATE_PORT: String(port), WXGATE_HOST: '127.0.0.1',
        WXGATE_APPID: PLAIN.appId, WXGATE_APPSECRET: PLAIN.appSecret, WXGATE_TOKEN: PLAIN.token, SLOW_RULE: slow ? '1' : '0',
        WXGATE_WECHAT_API: 'http://127.0.0.1:9',
      },
      cwd: dir,
    })
    const count = (sqlQuery: string) => countAt(dbPath, sqlQuery)
    const id = '8000000000000000004'
    const xml = textXml({ msgId: id, content: 'crash me', from: 'o_crash_user' })
    const { query } = signedQuery(PLAIN.token)
    try {
      const g = await startGatewayProcess({ command: env(true) })
      const first = post(`${g.base}/wechat?${query}`, xml).catch(() => undefined)
      const deadline = Date.now() + 10_000
      while (!g.output().includes('holding the transaction') && Date.now() < deadline) await Bun.sleep(20)
      expect(g.output()).toContain('holding the transaction')
      expect(await g.stop('SIGKILL', 0)).toBeNull()
      await first
      expect(await count("SELECT count(*) AS n FROM bindings WHERE openid = 'o_crash_user'")).toBe(0)
      expect(await count(`SELECT count(*) AS n FROM inbound_messages WHERE dedup_key = 'msg:${id}'`)).toBe(0)

      // WeChat's next retry does the work, once.
      const g2 = await startGatewayProcess({ command: env(false) })
      try {
        const res = await post(`${g2.base}/wechat?${query}`, xml)
        expect(parseXml(await res.text()).Content).toBe('effect written')
        const again = await post(`${g2.base}/wechat?${query}`, xml)
        expect(parseXml(await again.text()).Content).toBe('effect written')
      } finally {
        expect(await g2.stop()).toBe(0)
      }
      expect(await count("SELECT count(*) AS n FROM bindings WHERE openid = 'o_crash_user'")).toBe(1)
      expect(await count(`SELECT count(*) AS n FROM inbound_messages WHERE dedup_key = 'msg:${id}'`)).toBe(1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})

describe('a failure after the deadline answer', () => {
  // WeChat does not retry a callback answered `success`: the old log line said "WeChat will retry", which was false.
  test('is logged at error as lost, with channel, dedup key and body', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxgate-lost-'))
    const dbPath = join(dir, 'lost.db')
    const lost = await startTestServer({ rules, db: openDb(dbPath, { lockWaitMs: 1000 }), callbackDeadlineMs: 300 })
    const holder = await holdWriteLock(dbPath, 2500)
    try {
      const id = '8000000000000000005'
      const res = await post(`${lost.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml({ msgId: id, content: 'never stored' }))
      expect(await res.text()).toBe('success')
      const deadline = Date.now() + 5000
      const find = () => lost.logLines.find((l) => l.includes('callback lost'))
      while (!find() && Date.now() < deadline) await Bun.sleep(50)
      const line = JSON.parse(find() ?? '{}') as Record<string, unknown>
      expect(line.level).toBe('error')
      expect(line.channel).toBe('default')
      expect(line.dedupKey).toBe(`msg:${id}`)
      expect(String(line.body)).toContain('never stored')
      expect(lost.logLines.some((l) => l.includes(id) && l.includes('WeChat will retry'))).toBe(false)
    } finally {
      holder.kill()
      await holder.exited
      await lost.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 20_000)
})
