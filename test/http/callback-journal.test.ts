/**
 * The journal shows what WeChat did (SPEC §3): a URL verification (the admin's 提交) and every inbound
 * message or event is one `info` line with the channel, type, openid and dedup key; the content only at
 * debug. The real server, its logger in memory at level info.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { memoryLogger } from '../../src/lib/log'
import { PLAIN, post, signedQuery, startTestServer, textXml, type TestServer } from '../support/server'

const { logger, lines } = memoryLogger('info')
let s: TestServer
beforeAll(async () => { s = await startTestServer({ log: logger }) })
afterAll(() => s.stop())

type Line = { level: string; msg: string; module?: string; [k: string]: unknown }
const since = (n: number) => lines.slice(n).map((l) => JSON.parse(l) as Line)
const callbackLines = (from: number) => since(from).filter((l) => l.module === 'callback')

describe('callback lines at info', () => {
  test('a successful URL verification is logged', async () => {
    const n = lines.length
    const { query } = signedQuery(PLAIN.token, { echostr: 'echo-123' })
    const r = await fetch(`${s.url}/wechat?${query}`)
    expect(await r.text()).toBe('echo-123')
    const got = callbackLines(n)
    expect(got.length).toBe(1)
    expect(got[0]).toMatchObject({ level: 'info', channel: 'default' })
    expect(got[0]!.msg).toContain('URL verification')
  })

  test('a message: one line with channel, type, openid and dedup key, not the content; a retry says duplicate', async () => {
    const n = lines.length
    const xml = textXml({ msgId: '7000000000000000001', content: 'private-words-of-a-user', from: 'o_journal_1' })
    const { query } = signedQuery(PLAIN.token)
    expect((await post(`${s.url}/wechat?${query}`, xml)).status).toBe(200)
    const first = callbackLines(n)
    expect(first.length).toBe(1)
    expect(first[0]).toMatchObject({ level: 'info', channel: 'default', type: 'text', openid: 'o_journal_1', dedupKey: 'msg:7000000000000000001' })
    expect(first[0]!.duplicate).toBeUndefined()
    expect(lines.slice(n).join('\n')).not.toContain('private-words-of-a-user')

    const m = lines.length
    expect((await post(`${s.url}/wechat?${query}`, xml)).status).toBe(200)
    const retry = callbackLines(m)
    expect(retry.length).toBe(1)
    expect(retry[0]).toMatchObject({ level: 'info', channel: 'default', type: 'text', openid: 'o_journal_1', dedupKey: 'msg:7000000000000000001', duplicate: true })
  })

  test('an event: its type is the event', async () => {
    const n = lines.length
    const ct = String(Math.floor(Date.now() / 1000))
    const xml = `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o_journal_2]]></FromUserName><CreateTime>${ct}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>`
    expect((await post(`${s.url}/wechat?${signedQuery(PLAIN.token).query}`, xml)).status).toBe(200)
    const got = callbackLines(n)
    expect(got.length).toBe(1)
    expect(got[0]).toMatchObject({ level: 'info', channel: 'default', type: 'subscribe', openid: 'o_journal_2' })
    expect(String(got[0]!.dedupKey)).toContain('o_journal_2')
  })
})

test('at debug the same one line carries the content', async () => {
  const d = await startTestServer()
  try {
    const n = d.logLines.length
    const xml = textXml({ content: 'words-seen-at-debug', from: 'o_journal_3' })
    expect((await post(`${d.url}/wechat?${signedQuery(PLAIN.token).query}`, xml)).status).toBe(200)
    const got = d.logLines.slice(n).map((l) => JSON.parse(l) as Line).filter((l) => l.module === 'callback')
    expect(got.length).toBe(1)
    expect(got[0]).toMatchObject({ level: 'info', type: 'text', openid: 'o_journal_3' })
    expect(String(got[0]!.body)).toContain('words-seen-at-debug')
  } finally {
    await d.stop()
  }
})
