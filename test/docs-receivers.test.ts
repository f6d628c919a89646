/**
 * @module The receivers of the README's "Receive events" section: each README shows docs/examples/* verbatim,
 * and the Node one, run as a user runs it (`node receiver.mjs`), verifies a real gateway's delivery with the
 * standardwebhooks package, dedups on webhook-id and refuses a bad signature.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sign } from '../src/lib/standard-webhooks'
import { freePort } from './support/gateway-process'
import { ADMIN_TOKEN, PLAIN, post, signedQuery, startTestServer, textXml } from './support/server'

const ROOT = join(import.meta.dir, '..')
const EXAMPLES = ['receiver.mjs', 'receiver.py', 'receiver.go', 'reply-hook.mjs', 'reply-hook.py']

/** The fenced block right after `<!-- docs/examples/<file> -->`. */
const blockAfter = (readme: string, file: string): string | undefined => {
  const marker = `<!-- docs/examples/${file} -->\n`
  const at = readme.indexOf(marker)
  if (at < 0) return undefined
  const open = readme.indexOf('\n', at + marker.length) + 1
  const close = readme.indexOf('\n```\n', open - 1)
  return readme.slice(open, close + 1)
}

describe('README receivers are the files in docs/examples', () => {
  for (const readme of ['README.md', 'README.zh-CN.md']) {
    for (const file of EXAMPLES) {
      test(`${readme} shows docs/examples/${file} verbatim`, () => {
        const text = readFileSync(join(ROOT, readme), 'utf8')
        expect(blockAfter(text, file)).toBe(readFileSync(join(ROOT, 'docs', 'examples', file), 'utf8'))
      })
    }
  }
})

const stops: (() => unknown)[] = []
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
})

/** Waits for a line of the child's stdout that passes `match`, with a deadline. */
const lineOf = (lines: string[], match: (l: string) => boolean, ms: number) => new Promise<string>((resolve, reject) => {
  const until = Date.now() + ms
  const poll = () => {
    const hit = lines.find(match)
    if (hit !== undefined) return resolve(hit)
    if (Date.now() > until) return reject(new Error(`no such line within ${ms} ms; got:\n${lines.join('\n')}`))
    setTimeout(poll, 25)
  }
  poll()
})

/**
 * A real gateway, an endpoint created for the example (its body from the port), and the example run as a user
 * runs it (`node docs/examples/<file>`) with the endpoint's secret in `secretVar`, listening on that port.
 */
const runExample = async (file: string, secretVar: string, endpoint: (port: number) => Record<string, unknown>) => {
  const gw = await startTestServer()
  stops.push(() => gw.stop())
  const port = await freePort()
  const created = await fetch(`${gw.url}/api/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(endpoint(port)),
  })
  expect(created.status).toBe(201)
  const { secret } = (await created.json()) as { secret: string }
  const child = Bun.spawn(['node', join(ROOT, 'docs', 'examples', file)], {
    env: { ...process.env, [secretVar]: secret, PORT: String(port) }, stdout: 'pipe', stderr: 'pipe',
  })
  stops.push(async () => { child.kill(); await child.exited })
  const lines: string[] = []
  void (async () => {
    const decoder = new TextDecoder()
    let rest = ''
    for await (const chunk of child.stdout as ReadableStream<Uint8Array>) {
      rest += decoder.decode(chunk, { stream: true })
      const parts = rest.split('\n')
      rest = parts.pop() ?? ''
      lines.push(...parts)
    }
  })()
  await lineOf(lines, (l) => l === `listening on http://127.0.0.1:${port}`, 10_000)
  return { gw, port, secret, lines }
}

describe('docs/examples/receiver.mjs against a real gateway', () => {
  test('verifies a delivery, answers 204, handles a webhook-id once and refuses a bad signature with 401', async () => {
    const { gw, port, secret, lines } = await runExample('receiver.mjs', 'WXGATE_WEBHOOK_SECRET', (port) => ({ url: `http://127.0.0.1:${port}/wxgate` }))

    // A user says 你好 to the account: the gateway answers WeChat, then its worker delivers the event.
    const { query } = signedQuery(PLAIN.token)
    const res = await post(`${gw.url}/wechat?${query}`, textXml({ content: '你好', from: 'o_docs' }))
    expect(res.status).toBe(200)
    const handled = await lineOf(lines, (l) => l.includes('"handled":"message.received"'), 15_000)
    expect(JSON.parse(handled)).toEqual({ handled: 'message.received', openid: 'o_docs', content: '你好' })

    // The same event again (as after a lost answer): 204, and not handled a second time.
    const body = JSON.stringify({ type: 'webhook.test', timestamp: new Date().toISOString(), data: {} })
    const ts = Math.floor(Date.now() / 1000)
    const headers = { 'content-type': 'application/json', 'webhook-id': 'evt_docs_dup', 'webhook-timestamp': String(ts), 'webhook-signature': sign(secret, 'evt_docs_dup', ts, body) }
    for (let i = 0; i < 3; i++) expect((await fetch(`http://127.0.0.1:${port}/wxgate`, { method: 'POST', headers, body })).status).toBe(204)
    // A forged one: 401, nothing handled.
    const forged = await fetch(`http://127.0.0.1:${port}/wxgate`, { method: 'POST', headers: { ...headers, 'webhook-id': 'evt_forged' }, body })
    expect(forged.status).toBe(401)
    await lineOf(lines, (l) => l.includes('"handled":"webhook.test"'), 5_000)
    await Bun.sleep(200)
    expect(lines.filter((l) => l.includes('"handled":"webhook.test"'))).toHaveLength(1)
    expect(lines.filter((l) => l.includes('"handled":"message.received"'))).toHaveLength(1)
  }, 30_000)
})

describe('docs/examples/reply-hook.mjs against a real gateway', () => {
  test('a user\'s 你好 is answered with its passive reply; a forged call is 401', async () => {
    const { gw, port } = await runExample('reply-hook.mjs', 'WXGATE_HOOK_SECRET', (port) => ({ url: `http://127.0.0.1:${port}/`, reply: true, channel: 'default' }))
    const res = await post(`${gw.url}/wechat?${signedQuery(PLAIN.token).query}`, textXml({ content: '你好', from: 'o_docs_hook' }))
    expect(res.status).toBe(200)
    const xml = await res.text()
    expect(xml).toContain('<MsgType><![CDATA[text]]></MsgType>')
    expect(xml).toContain('<Content><![CDATA[你说：你好]]></Content>')
    const forged = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': 'evt_x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' }, body: '{}' })
    expect(forged.status).toBe(401)
  }, 30_000)
})
