/** Starts the real server on a loopback port with a real SQLite file in a temporary folder. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config'
import { createDeps, type DepsOverrides } from '../../src/deps'
import { memoryLogger } from '../../src/lib/log'
import { startServer } from '../../src/server'
import { sha1Signature } from '../../src/wechat/signature'
import { testStore } from './test-db'

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef'

/** Vector B of PROTOCOL.md §2.4 (official 消息推送 page): token, key and AppID of a safe-mode account. */
export const SAFE = { id: 'safe', appId: 'wxba5fad812f8e6fb9', appSecret: 'safe-secret-value', token: 'AAAAA', aesKey: 'A'.repeat(43) }
export const PLAIN = { id: 'default', appId: 'wx2c2769f8efd9abc2', appSecret: 'plain-secret-value', token: 'spamtest' }

export interface TestServer {
  url: string
  deps: ReturnType<typeof createDeps>
  logLines: string[]
  dbPath: string
  stop(): Promise<void>
}

export const startTestServer = async (opts: DepsOverrides & { env?: Record<string, string> } = {}): Promise<TestServer> => {
  const dir = mkdtempSync(join(tmpdir(), 'wxgate-test-'))
  const dbPath = join(dir, 'wxgate.db')
  // TEST_DB=postgres: a fresh PostgreSQL database instead of the file (test-db.ts); a caller's own db wins.
  const store = opts.db ? { url: dbPath, db: opts.db } : await testStore(dbPath)
  const config = loadConfig({ WXGATE_DB: store.url, WXGATE_ADMIN_TOKEN: ADMIN_TOKEN, WXGATE_LOG_LEVEL: 'debug', ...opts.env }, '')
  const { logger, lines } = memoryLogger('debug')
  const deps = createDeps(config, { log: logger, ...opts, ...(store.db ? { db: store.db } : {}) })
  await deps.channels.upsert(PLAIN)
  await deps.channels.upsert(SAFE)
  const server = await startServer(deps, { hostname: '127.0.0.1', port: 0 })
  return {
    url: server.url,
    deps,
    logLines: lines,
    dbPath,
    stop: async () => {
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const nowSeconds = () => String(Math.floor(Date.now() / 1000))

/** The query WeChat sends in plaintext mode: signature over (token, timestamp, nonce). */
export const signedQuery = (token: string, extra: Record<string, string> = {}, timestamp = nowSeconds(), nonce = String(Math.floor(Math.random() * 1e9))) => {
  const q = new URLSearchParams({ signature: sha1Signature([token, timestamp, nonce]), timestamp, nonce, openid: 'o_test', ...extra })
  return { query: q.toString(), timestamp, nonce }
}

let seq = 0
/** A plaintext text message with a unique MsgId (64-bit, beyond 2^53). */
export const textXml = (opts: { msgId?: string; content?: string; from?: string; createTime?: string } = {}) =>
  `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[${opts.from ?? 'o_user_1'}]]></FromUserName>` +
  `<CreateTime>${opts.createTime ?? nowSeconds()}</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
  `<Content><![CDATA[${opts.content ?? 'hello'}]]></Content><MsgId>${opts.msgId ?? `90000000000000${String(++seq).padStart(5, '0')}`}</MsgId></xml>`

export const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/xml', ...headers } })
