// @first-pass-only: PostgreSQL on a cluster of its own (TEST_POSTGRES=required in .ci/run)
/**
 * WXGATE_DB=postgres://… (SPEC §8, issue 14) as a user runs it: every CLI command, doctor, and the server
 * (`bun src/main.ts`) against a real PostgreSQL (a throwaway cluster), the URL's password never printed or
 * logged; the server's /readyz while the database goes away and comes back; two instances started together
 * on an empty database migrate it once.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { startGatewayProcess, type GatewayProcess } from './support/gateway-process'
import { postgresMissing, postgresRequired, startPostgres, type TestPostgres } from './support/postgres'
import { sha1Signature } from '../src/wechat/signature'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDb } from '../src/store/sqlite/db'
import { migrate } from '../src/store/sqlite/migrate'
import { sqliteStore } from '../src/store/sqlite/store'

const missing = postgresMissing()
if (missing && postgresRequired) throw new Error(`TEST_POSTGRES=required but ${missing}`)

const main = new URL('../src/main.ts', import.meta.url).pathname
/** The test cluster trusts loopback, so any password works: this one must never be printed. */
const PASSWORD = 'Pg-s3cret-Passw0rd'
const ADMIN = 'pg-cli-admin-token-0123456789abcdef'

describe.skipIf(missing !== undefined)(`WXGATE_DB=postgres://…${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pg: TestPostgres
  let url: string
  let env: Record<string, string>
  const cli = (args: string[], extra: Record<string, string> = {}, input?: string) => {
    const r = spawnSync(process.execPath, [main, ...args], { env: { ...process.env, ...env, ...extra }, encoding: 'utf8', input })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr }
  }
  const createDb = async (name: string) => {
    const admin = new Bun.SQL(pg.url.replace(/\/wxgate_test$/, '/postgres'))
    try { await admin.unsafe(`CREATE DATABASE ${name}`) } finally { await admin.close() }
    return pg.url.replace('postgres://wxgate@', `postgres://wxgate:${PASSWORD}@`).replace(/\/wxgate_test$/, `/${name}`)
  }

  beforeAll(async () => {
    pg = await startPostgres()
    url = pg.url.replace('postgres://wxgate@', `postgres://wxgate:${PASSWORD}@`)
    env = { WXGATE_DB: url, WXGATE_LOG_LEVEL: 'info', WXGATE_APPID: '', WXGATE_APPSECRET: '', WXGATE_TOKEN: '', WXGATE_AES_KEY: '', WXGATE_ADMIN_TOKEN: ADMIN }
  }, 60_000)
  afterAll(async () => { await pg?.stop() })

  test('migrate applies the PostgreSQL migrations once; the database is shown without its password', () => {
    const first = cli(['migrate'])
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/^applied: 0000_init, /)
    expect(first.stderr).toContain(`database: postgres://wxgate:***@127.0.0.1:${pg.port}/wxgate_test`)
    const again = cli(['migrate'])
    expect(again.stdout.trim()).toBe('database is up to date')
    expect(first.all + again.all).not.toContain(PASSWORD)
  })

  test('apikey, channel and webhook commands work on PostgreSQL as on SQLite', () => {
    const key = cli(['apikey', 'create', '--name', 'crm', '--scopes', 'send'])
    expect(key.code).toBe(0)
    const secret = key.stdout.trim().split('\n').at(-1)!
    expect(secret).toMatch(/^wxg_/)
    const list = cli(['apikey', 'list'])
    expect(list.stdout).toContain('crm')
    expect(list.stdout).not.toContain(secret)
    const id = list.stdout.trim().split('\t')[0]!
    expect(cli(['apikey', 'revoke', id]).stdout.trim()).toBe(`revoked ${id}`)
    expect(cli(['apikey', 'revoke', id]).stdout.trim()).toBe(`${id} was revoked already`)

    const ch = cli(['channel', 'add', '--id', 'shop', '--appid', 'wx2c2769f8efd9abc2', '--secret', '-', '--token', 'spamtest', '--name', '小店'], {}, 'pg-cli-app-secret-value\n')
    expect(ch.code).toBe(0)
    expect(ch.stdout.trim()).toBe('added channel shop (wx2c2769f8efd9abc2, plaintext mode, 「小店」)')
    const channels = cli(['channel', 'list'])
    expect(channels.stdout).toContain('shop\twx2c2769f8efd9abc2\tplaintext')
    expect(channels.all).not.toContain('pg-cli-app-secret-value')

    const wh = cli(['webhook', 'add', '--url', 'https://crm.example.com/hook', '--events', 'message.received'])
    expect(wh.code).toBe(0)
    const whId = /added webhook (\S+)/.exec(wh.stdout)![1]!
    expect(cli(['webhook', 'list']).stdout).toContain(`${whId}\thttps://crm.example.com/hook\tmessage.received`)
    expect(cli(['webhook', 'remove', whId]).stdout.trim()).toBe(`removed webhook ${whId}`)
    expect(cli(['webhook', 'list']).stdout.trim()).toBe('no webhooks')
  })

  test('doctor reports the PostgreSQL server and its migrations', () => {
    const r = cli(['doctor', '--channel', 'nope'])
    expect(r.stdout).toContain(`ok   settings: db postgres://wxgate:***@127.0.0.1:${pg.port}/wxgate_test`)
    expect(r.stdout).toMatch(/ok   database: PostgreSQL \d+\.\d+[^,]*, \d+ migrations applied/)
    expect(r.all).not.toContain(PASSWORD)
  })

  test('a database that does not answer: the CLI says which (without the password) and exits 1', () => {
    const r = cli(['apikey', 'list'], { WXGATE_DB: url.replace(`:${pg.port}/`, ':1/') })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('postgres://wxgate:***@127.0.0.1:1/wxgate_test')
    expect(r.stderr).toContain('is not answering')
    expect(r.all).not.toContain(PASSWORD)
  })

  describe('the server', () => {
    let gw: GatewayProcess | undefined
    afterAll(async () => { await gw?.stop() })

    test('serves on PostgreSQL: a key made by the CLI works; /readyz is 503 while the database is away, callbacks 500, and both recover without a restart', async () => {
      gw = await startGatewayProcess({ command: (port) => ({ cmd: [process.execPath, main], env: { ...process.env, ...env, WXGATE_HOST: '127.0.0.1', WXGATE_PORT: String(port) } }) })
      const key = cli(['apikey', 'create', '--name', 'reader', '--scopes', 'read']).stdout.trim().split('\n').at(-1)!
      const me = await fetch(`${gw.base}/api/channels`, { headers: { authorization: `Bearer ${key}` } })
      expect(me.status).toBe(200)
      expect(((await me.json()) as { items: { id: string }[] }).items.map((c) => c.id)).toContain('shop')
      expect((await fetch(`${gw.base}/readyz`)).status).toBe(200)

      const callback = () => {
        const timestamp = String(Math.floor(Date.now() / 1000))
        const nonce = String(Math.floor(Math.random() * 1e9))
        const q = new URLSearchParams({ signature: sha1Signature(['spamtest', timestamp, nonce]), timestamp, nonce, openid: 'o_pg' })
        const xml = `<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_pg]]></FromUserName><CreateTime>${timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>${nonce}</MsgId></xml>`
        return fetch(`${gw!.base}/wechat/shop?${q}`, { method: 'POST', body: xml, headers: { 'content-type': 'text/xml' } })
      }
      expect((await callback()).status).toBe(200)

      pg.stopServer()
      try {
        expect((await fetch(`${gw.base}/readyz`)).status).toBe(503)
        // WeChat retries a 500: nothing was stored, so nothing is lost.
        expect((await callback()).status).toBe(500)
      } finally {
        pg.startServer()
      }
      let ready = 0
      for (let i = 0; i < 100 && ready !== 200; i++) { ready = (await fetch(`${gw.base}/readyz`)).status; if (ready !== 200) await Bun.sleep(100) }
      expect(ready).toBe(200)
      expect((await callback()).status).toBe(200)
      await gw.stop()
      expect(gw.output()).toContain('"msg":"wxgate listening"')
      expect(gw.output()).not.toContain(PASSWORD)
      gw = undefined
    }, 60_000)

    test('two instances started together on an empty database: migrated once, both serve', async () => {
      const fresh = await createDb('wxgate_fresh')
      const start = () => startGatewayProcess({ command: (port) => ({ cmd: [process.execPath, main], env: { ...process.env, ...env, WXGATE_DB: fresh, WXGATE_HOST: '127.0.0.1', WXGATE_PORT: String(port) } }) })
      const both = await Promise.all([start(), start()])
      try {
        for (const g of both) expect((await fetch(`${g.base}/readyz`)).status).toBe(200)
        const applied = both.filter((g) => g.output().includes('"msg":"migrations applied"'))
        expect(applied).toHaveLength(1)
        const db = new Bun.SQL(fresh)
        try {
          const rows = (await db`SELECT name, count(*)::int AS n FROM _wxgate_migrations GROUP BY name`) as { n: number }[]
          expect(rows.length).toBeGreaterThan(0)
          expect(rows.every((r) => r.n === 1)).toBe(true)
        } finally { await db.close() }
      } finally {
        await Promise.all(both.map((g) => g.stop()))
      }
    }, 60_000)
  })

  describe('migrate-to', () => {
    let dir: string
    let file: string
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'wxgate-migrate-to-'))
      file = join(dir, 'wxgate.db')
    })
    afterAll(() => rmSync(dir, { recursive: true, force: true }))
    const onSqlite = (args: string[], input?: string) => cli(args, { WXGATE_DB: file }, input)

    test('copies every table into an empty database in one transaction; refuses a target with data; mid-flight work continues; the feed does not repeat', async () => {
      expect(onSqlite(['channel', 'add', '--id', 'shop', '--appid', 'wx2c2769f8efd9abc2', '--secret', 'migrate-app-secret', '--token', 'spamtest']).code).toBe(0)
      const key = onSqlite(['apikey', 'create', '--name', 'crm', '--scopes', 'read']).stdout.trim().split('\n').at(-1)!
      expect(onSqlite(['webhook', 'add', '--url', 'https://crm.example.com/hook', '--events', 'message.received']).code).toBe(0)
      // Rows a running gateway would have written: callbacks after the webhook (a feed backlog), a binding, a message mid-send.
      const now = Date.now()
      const db = openDb(file)
      migrate(db.sqlite)
      const s = sqliteStore(db.sqlite, db.orm)
      for (let i = 0; i < 3; i++) await s.inbound.insert({ channelId: 'shop', dedupKey: `m${i}`, msgType: 'text', event: null, fromUser: 'o1', createTime: 1, body: '<xml/>', reply: '', handledBy: 'none', receivedAt: now })
      await s.bindings.bind({ id: 'b1', channelId: 'shop', openid: 'o1', subject: 'alice', code: 'c1', now })
      await s.messages.insertMessages([{ id: 'msg1', requestId: 'r1', channelId: 'shop', openid: 'o1', subject: 'alice', templateId: 'T', payload: '{}', status: 'queued', attempts: 0, errcode: null, error: null, wechatMsgId: null, nextAttemptAt: now, createdAt: now, sentAt: null, finishedAt: null }])
      // Claimed by a gateway that is still running (its lease holds): refused until it is stopped.
      await s.messages.claim('msg1', { owner: 'i_old', now, leaseUntil: now + 30_000 })
      // A console session: left behind by the move (everyone signs in again on PostgreSQL).
      await s.consoleSessions.insert({ id: 'sess1', keyId: 'k1', csrf: 'c', createdAt: now, lastSeenAt: now })
      const target = await createDb('wxgate_moved')
      const running = onSqlite(['migrate-to', target, '--skip-undelivered'])
      expect(running.code).toBe(1)
      expect(running.stderr).toContain('stop it first')
      // As a crash leaves it: the claim's lease lapsed.
      db.sqlite.query("UPDATE messages SET lease_until = ? WHERE id = 'msg1'").run(now - 1)
      await db.close()

      // A copy that fails (here: the target refuses channel rows) says which table, and never shows a secret.
      const broken = await createDb('wxgate_broken')
      const bsql = new Bun.SQL(broken)
      try {
        const m = cli(['migrate'], { WXGATE_DB: broken })
        expect(m.code).toBe(0)
        await bsql.unsafe(`CREATE FUNCTION no_channels() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'channels refused (test)'; END $$`)
        await bsql.unsafe('CREATE TRIGGER no_channels BEFORE INSERT ON channels FOR EACH ROW EXECUTE FUNCTION no_channels()')
      } finally { await bsql.close() }
      const failed = onSqlite(['migrate-to', broken, '--skip-undelivered'])
      expect(failed.code).toBe(1)
      expect(failed.stderr).toContain('copying channels failed, nothing was copied: channels refused (test)')
      expect(failed.all).not.toContain('migrate-app-secret')
      expect(failed.all).not.toContain('spamtest')
      expect(failed.all).not.toContain(PASSWORD)

      const refused = onSqlite(['migrate-to', target])
      expect(refused.code).toBe(1)
      expect(refused.stderr).toContain('message events not delivered yet')
      expect(refused.all).not.toContain(PASSWORD)

      // The URL (with its password) from stdin, off the shell history.
      const r = onSqlite(['migrate-to', '-', '--skip-undelivered'], `${target}\n`)
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('channels\t1')
      expect(r.stdout).toContain('api_keys\t1')
      expect(r.stdout).toContain('inbound_messages\t3')
      expect(r.stdout).toContain('bindings\t1')
      expect(r.stdout).toContain('messages\t1')
      expect(r.stdout).toContain('webhook_endpoints\t1')
      expect(r.all).not.toContain(PASSWORD)
      expect(r.all).not.toContain('migrate-app-secret')

      const pgDb = new Bun.SQL(target)
      try {
        const [m] = (await pgDb`SELECT status, uncertain_since IS NOT NULL AS uncertain FROM messages WHERE id = 'msg1'`) as { status: string; uncertain: boolean }[]
        expect(m).toEqual({ status: 'queued', uncertain: true })
        const [cs] = (await pgDb`SELECT count(*)::int AS n FROM console_sessions`) as { n: number }[]
        expect(cs!.n).toBe(0)
        // Every copied inbound row is at or before the endpoint's cursor: none is delivered again as new.
        const [f] = (await pgDb`SELECT count(*)::int AS n FROM inbound_messages i, webhook_endpoints e WHERE i.tx_id > e.feed_cursor`) as { n: number }[]
        expect(f!.n).toBe(0)
        // The sequences continue after the copied rows.
        const [b] = (await pgDb`SELECT nextval(pg_get_serial_sequence('inbound_messages', 'id'))::int AS next`) as { next: number }[]
        expect(b!.next).toBe(4)
      } finally { await pgDb.close() }

      const again = onSqlite(['migrate-to', target, '--skip-undelivered'])
      expect(again.code).toBe(1)
      expect(again.stderr).toContain('already holds data')

      // The key made on SQLite works on PostgreSQL.
      const listed = cli(['apikey', 'list'], { WXGATE_DB: target })
      expect(listed.stdout).toContain('crm')
      const gw = await startGatewayProcess({ command: (port) => ({ cmd: [process.execPath, main], env: { ...process.env, ...env, WXGATE_DB: target, WXGATE_HOST: '127.0.0.1', WXGATE_PORT: String(port) } }) })
      try {
        const res = await fetch(`${gw.base}/api/bindings`, { headers: { authorization: `Bearer ${key}` } })
        expect(res.status).toBe(200)
        expect(JSON.stringify(await res.json())).toContain('alice')
      } finally { await gw.stop() }
    }, 60_000)

    test('usage: the target must be a PostgreSQL URL and the source an existing SQLite file', () => {
      expect(onSqlite(['migrate-to']).code).toBe(2)
      const none = cli(['migrate-to', url], { WXGATE_DB: join(dir, 'typo', 'wxgate.db') })
      expect(none.code).toBe(2)
      expect(none.stderr).toContain('there is no SQLite database at')
      expect(none.all).not.toContain(PASSWORD)
      const notPg = onSqlite(['migrate-to', '/tmp/other.db'])
      expect(notPg.code).toBe(2)
      expect(notPg.stderr).toContain('postgres://')
      const fromPg = cli(['migrate-to', url])
      expect(fromPg.code).toBe(2)
      expect(fromPg.stderr).toContain('PostgreSQL already')
    })
  })
})
