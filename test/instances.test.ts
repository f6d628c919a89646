// @first-pass-only: PostgreSQL on a cluster of its own (TEST_POSTGRES=required in .ci/run)
/**
 * Two instances on one PostgreSQL database (SPEC §8, issue 14): each a real server on its own loopback port
 * with its own pool, as two processes behind one load balancer would be. A retry storm spread over both makes
 * one effect and one reply; a key revoked, a channel or a webhook endpoint added on one is in force on the
 * other within 2 s. (The token, outbox and webhook guarantees across instances: the
 * *-instances tests under test/domain; a SIGKILLed instance: test/instances-kill.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Rule } from '../src/domain/dispatch'
import { openPostgres } from '../src/store/postgres/db'
import { PLAIN, post, signedQuery, startTestServer, textXml, type TestServer } from './support/server'
import { effectCount, testSql, writeEffect } from './support/sql'
import { postgresMissing, postgresRequired, startPostgres, type TestPostgres } from './support/postgres'

const missing = postgresMissing()
if (missing && postgresRequired) throw new Error(`TEST_POSTGRES=required but ${missing}`)
const skip = missing

/** Each instance answers with its own name: a replayed reply shows which instance made it. */
const rules = (name: string): Rule[] => [{
  name: 'test-effect',
  match: (m) => m.msgType === 'text',
  handle: async ({ message, store }) => {
    await writeEffect(store, 'msgId' in message ? String(message.msgId) : '')
    return { type: 'text', content: `answered by ${name}` }
  },
}]

describe.skipIf(skip !== undefined)(`two instances on one PostgreSQL${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let pg: TestPostgres
  let a: TestServer
  let b: TestServer
  beforeAll(async () => {
    pg = await startPostgres()
    const open = async () => { const db = await openPostgres(pg.url, { max: 4 }); await db.migrate(); return db }
    a = await startTestServer({ db: await open(), rules: rules('a'), instanceId: 'a' })
    b = await startTestServer({ db: await open(), rules: rules('b'), instanceId: 'b' })
  }, 60_000)
  afterAll(async () => { await a?.stop(); await b?.stop(); await pg?.stop() })

  test('a retry storm spread over both: one effect, one stored message, the same reply to every copy', async () => {
    const msgId = '8100000000000000001'
    const xml = textXml({ msgId, content: 'storm' })
    const { query } = signedQuery(PLAIN.token)
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post(`${(i % 2 ? a : b).url}/wechat?${query}`, xml).then(async (r) => [r.status, await r.text()] as const)))
    expect(answers.every(([status]) => status === 200)).toBe(true)
    const bodies = new Set(answers.map(([, body]) => body.replace(/<CreateTime>\d+<\/CreateTime>/, '')))
    expect(bodies.size).toBe(1)
    expect([...bodies][0]).toMatch(/answered by [ab]/)
    expect(await effectCount(a.deps.db, msgId)).toBe(1)
    expect((await testSql(a.deps.db).get<{ n: number }>('SELECT count(*) AS n FROM inbound_messages WHERE dedup_key = ?', `msg:${msgId}`))!.n).toBe(1)
  }, 30_000)

  test('a key revoked on one instance is refused by the other within 2 s', async () => {
    const { key, info } = await a.deps.apiKeys.create('crm', ['read'])
    const onB = () => fetch(`${b.url}/api/channels`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status)
    expect(await onB()).toBe(200)
    await a.deps.apiKeys.revoke(info.id)
    const t0 = Date.now()
    let status = 200
    while (status === 200 && Date.now() - t0 < 5000) { status = await onB(); if (status === 200) await Bun.sleep(50) }
    expect(status).toBe(401)
    expect(Date.now() - t0).toBeLessThan(2000)
  })

  test('a channel added on one instance is served by the other within 2 s', async () => {
    await a.deps.channels.upsert({ id: 'shop2', appId: 'wx2c2769f8efd9abc3', appSecret: 'shop2-secret-value', token: 'shop2token' })
    const t0 = Date.now()
    let status = 0
    while (status !== 200 && Date.now() - t0 < 5000) {
      const { query } = signedQuery('shop2token', { echostr: 'hello-shop2' })
      const res = await fetch(`${b.url}/wechat/shop2?${query}`)
      status = res.status
      if (status === 200) expect(await res.text()).toBe('hello-shop2')
      else await Bun.sleep(50)
    }
    expect(status).toBe(200)
    expect(Date.now() - t0).toBeLessThan(2000)
  })

  test('a webhook endpoint added on one instance is in force on the other within 2 s', async () => {
    const created = await a.deps.webhooks.create({ url: 'http://127.0.0.1:9/hook', events: ['message.received'] })
    const t0 = Date.now()
    while (!b.deps.events.wants('message.received', PLAIN.id) && Date.now() - t0 < 5000) await Bun.sleep(20)
    expect(b.deps.events.wants('message.received', PLAIN.id)).toBe(true)
    expect(Date.now() - t0).toBeLessThan(2000)
    await a.deps.webhooks.remove(created.id)
    const t1 = Date.now()
    while (b.deps.events.wants('message.received', PLAIN.id) && Date.now() - t1 < 5000) await Bun.sleep(20)
    expect(b.deps.events.wants('message.received', PLAIN.id)).toBe(false)
    expect(Date.now() - t1).toBeLessThan(2000)
  })
})

