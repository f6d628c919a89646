/**
 * Exactly-once under retries: a retry storm, a handler slower than the deadline, a handler that throws
 * on its first attempt, and a crash mid-transaction — against the real server and a real SQLite file.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { sql } from 'drizzle-orm'
import type { Rule } from '../../src/domain/dispatch'
import { parseXml } from '../../src/wechat/xml'
import { PLAIN, post, signedQuery, startTestServer, textXml, type TestServer } from '../support/server'

let calls: Record<string, number> = {}
const count = (k: string) => { calls[k] = (calls[k] ?? 0) + 1; return calls[k]! }

const rules: Rule[] = [{
  name: 'test-effects',
  match: (m) => m.msgType === 'text',
  handle: async ({ message, orm }) => {
    const content = 'content' in message ? String(message.content) : ''
    const id = 'msgId' in message ? String(message.msgId) : ''
    const n = count(id)
    if (content === 'slow') await Bun.sleep(5200)
    if (content === 'slowish') await Bun.sleep(400)
    orm.run(sql`INSERT INTO test_effects (msg_id) VALUES (${id})`)
    if (content === 'boom-once' && n === 1) throw new Error('database unavailable (simulated)')
    return { type: 'text', content: `attempt ${n}` }
  },
}]

const effectsOf = (s: TestServer, id: string) => (s.deps.db.sqlite.query('SELECT count(*) AS n FROM test_effects WHERE msg_id = ?').get(id) as { n: number }).n
const storedOf = (s: TestServer, id: string) => (s.deps.db.sqlite.query('SELECT count(*) AS n FROM inbound_messages WHERE dedup_key LIKE ?').get(`%${id}%`) as { n: number }).n

let s: TestServer
beforeAll(async () => {
  s = await startTestServer({ rules })
  s.deps.db.sqlite.exec('CREATE TABLE IF NOT EXISTS test_effects (id INTEGER PRIMARY KEY, msg_id TEXT)')
})
afterAll(() => s.stop())

describe('retry storm', () => {
  test('20 concurrent copies of one MsgId → one effect, one body', async () => {
    calls = {}
    const id = '8000000000000000001'
    const xml = textXml({ msgId: id, content: 'slowish' })
    const { query } = signedQuery(PLAIN.token)
    const bodies = await Promise.all(Array.from({ length: 20 }, () => post(`${s.url}/wechat?${query}`, xml).then(async (r) => `${r.status} ${await r.text()}`)))
    expect(new Set(bodies).size).toBe(1)
    expect(bodies[0]).toStartWith('200 <xml>')
    expect(parseXml(bodies[0]!.slice(4)).Content).toBe('attempt 1')
    expect(calls[id]).toBe(1)
    expect(effectsOf(s, id)).toBe(1)
    expect(storedOf(s, id)).toBe(1)
  })
})

describe('deadline', () => {
  test('a handler slower than the deadline is answered success within 4.5 s and its effect commits once', async () => {
    calls = {}
    const id = '8000000000000000002'
    const xml = textXml({ msgId: id, content: 'slow' })
    const { query } = signedQuery(PLAIN.token)
    const t0 = performance.now()
    const res = await post(`${s.url}/wechat?${query}`, xml)
    const elapsed = performance.now() - t0
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('success')
    expect(elapsed).toBeLessThan(4800)
    expect(elapsed).toBeGreaterThan(4000)
    expect(effectsOf(s, id)).toBe(0) // still running
    // WeChat's retry while the first attempt runs waits for it and gets its reply.
    const retry = await post(`${s.url}/wechat?${query}`, xml)
    expect(parseXml(await retry.text()).Content).toBe('attempt 1')
    expect(effectsOf(s, id)).toBe(1)
    expect(calls[id]).toBe(1)
    // A later retry gets the stored reply; nothing runs again.
    const again = await post(`${s.url}/wechat?${query}`, xml)
    expect(parseXml(await again.text()).Content).toBe('attempt 1')
    expect(effectsOf(s, id)).toBe(1)
    expect(calls[id]).toBe(1)
  }, 20_000)
})

describe('a handler that fails', () => {
  test('throws on the first attempt → 500 and nothing stored; the retry does the work once', async () => {
    calls = {}
    const id = '8000000000000000003'
    const xml = textXml({ msgId: id, content: 'boom-once' })
    const { query } = signedQuery(PLAIN.token)
    const first = await post(`${s.url}/wechat?${query}`, xml)
    expect(first.status).toBe(500)
    expect(effectsOf(s, id)).toBe(0)
    expect(storedOf(s, id)).toBe(0)
    expect(s.logLines.some((l) => l.includes('callback handling failed') && l.includes(id) && l.includes('"channel":"default"'))).toBe(true)
    const second = await post(`${s.url}/wechat?${query}`, xml)
    expect(second.status).toBe(200)
    expect(parseXml(await second.text()).Content).toBe('attempt 2')
    expect(effectsOf(s, id)).toBe(1)
    expect(storedOf(s, id)).toBe(1)
    const third = await post(`${s.url}/wechat?${query}`, xml)
    expect(parseXml(await third.text()).Content).toBe('attempt 2')
    expect(calls[id]).toBe(2)
  })
})

describe('a crash mid-way', () => {
  test('a process killed inside the callback transaction leaves neither the dedup row nor the effect', async () => {
    // A child process opens the same database file, starts the transaction, writes the effect and the
    // dedup row, and dies (SIGKILL-equivalent: process.exit without COMMIT) before committing.
    const id = '8000000000000000004'
    const script = `
      import { Database } from 'bun:sqlite'
      import { openDb } from '${import.meta.dir}/../../src/store/db'
      import { inboundRepo } from '${import.meta.dir}/../../src/store/inbound.repo'
      const db = openDb(${JSON.stringify(s.dbPath)})
      db.tx(async () => {
        db.sqlite.exec("INSERT INTO test_effects (msg_id) VALUES ('${id}')")
        inboundRepo(db).insert({ channelId: 'default', dedupKey: 'msg:${id}', msgType: 'text', event: null, fromUser: 'o', createTime: 1, body: '', reply: '', handledBy: 'pending', receivedAt: Date.now() })
        process.kill(process.pid, 'SIGKILL')
      })
    `
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    expect(r.signal).toBe('SIGKILL')
    expect(effectsOf(s, id)).toBe(0)
    expect(storedOf(s, id)).toBe(0)
    // WeChat's next retry does the work.
    calls = {}
    const res = await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml({ msgId: id, content: 'after crash' }))
    expect(parseXml(await res.text()).Content).toBe('attempt 1')
    expect(effectsOf(s, id)).toBe(1)
  })
})
