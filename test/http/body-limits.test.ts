/**
 * SPEC §4, bodies: over 1 MiB is 413 with or without a declared length; not valid UTF-8, or JSON nested
 * deeper than 32 levels, is 400 in bounded time; a string with a lone surrogate is 422 naming the field;
 * no body stalls the process for other requests. Through the real server, raw sockets for what fetch
 * cannot send (a chunked body of our own framing, header bytes that are not UTF-8).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  sb = await startSandbox()
  s = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url } })
  await s.deps.channels.upsert({ id: 'demo', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken' })
  sb.addUser(DEMO_ACCOUNT.appId, 'o_body_1', { subscribed: true })
})
afterAll(async () => { await s.stop(); await sb.stop() })

const postSend = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
  fetch(`${s.url}/api/send`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...headers }, body })

interface ErrorAnswer { error: { code: string; message: string; details?: unknown } }
const expectError = async (res: Response, status: number, code?: string): Promise<ErrorAnswer> => {
  const text = await res.text()
  expect({ status: res.status, text }).toMatchObject({ status })
  const body = JSON.parse(text) as ErrorAnswer
  expect(typeof body.error.message).toBe('string')
  if (code) expect(body.error.code).toBe(code)
  return body
}

const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels)
const sendWithData = (value: string) => `{"channel":"demo","openids":["o_body_1"],"templateId":"TPL_DEMO_ORDER_PAID","data":{"thing1":${value}}}`

/** One HTTP/1.1 exchange on a raw socket: the head as bytes (any bytes), then the body's pieces. */
const raw = (head: Uint8Array, pieces: Uint8Array[] = []): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
  const url = new URL(s.url)
  const sock = connect(Number(url.port), url.hostname)
  const got: Buffer[] = []
  const done = () => {
    const text = Buffer.concat(got).toString('utf8')
    const m = /^HTTP\/1\.1 (\d{3})/.exec(text)
    if (!m) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`))
    const bodyStart = text.indexOf('\r\n\r\n') + 4
    let body = text.slice(bodyStart)
    // A chunked answer: take the chunks' data.
    if (/transfer-encoding:\s*chunked/i.test(text.slice(0, bodyStart))) {
      let out = ''; let rest = body
      for (;;) { const nl = rest.indexOf('\r\n'); const n = parseInt(rest.slice(0, nl), 16); if (!n) break; out += rest.slice(nl + 2, nl + 2 + n); rest = rest.slice(nl + 4 + n) }
      body = out
    }
    resolve({ status: Number(m[1]), body })
  }
  sock.on('data', (d: Buffer) => got.push(d))
  sock.on('end', done)
  // The server may answer and close before it has read everything we send (that is the point of a 413).
  sock.on('error', () => (got.length ? done() : reject(new Error('connection failed'))))
  sock.on('connect', async () => {
    sock.write(head)
    for (const p of pieces) {
      if (sock.destroyed) break
      if (!sock.write(p)) await new Promise((r) => { sock.once('drain', r); sock.once('close', r) })
    }
  })
})
const enc = (s: string) => new TextEncoder().encode(s)
const head = (lines: string[]) => enc(lines.join('\r\n') + '\r\n\r\n')
const chunk = (data: Uint8Array) => new Uint8Array([...enc(data.byteLength.toString(16) + '\r\n'), ...data, ...enc('\r\n')])

describe('JSON nesting', () => {
  test('100,000 nested arrays (200 KB): 400 at once, and /healthz is answered meanwhile', async () => {
    const body = sendWithData(nested(100_000))
    const started = performance.now()
    const deep = postSend(body).then(async (r) => ({ r, ms: performance.now() - started, b: await expectError(r, 400, 'too_deep') }))
    const health = fetch(`${s.url}/healthz`).then((r) => ({ status: r.status, ms: performance.now() - started }))
    const [d, h] = await Promise.all([deep, health])
    expect(d.b.error.message).toContain('32')
    // Generous bounds for a loaded CI box; the unbounded parse took 7-8 s.
    expect(d.ms).toBeLessThan(1500)
    expect(h.status).toBe(200)
    expect(h.ms).toBeLessThan(1500)
  })
  test('33 levels is 400; 32 levels is read (and then judged by the schema: 422); brackets inside strings do not count', async () => {
    // The body object is one level and `data` another: n arrays inside make n + 2 in all.
    const over = await expectError(await postSend(sendWithData(nested(31))), 400, 'too_deep')
    expect(over.error.message).toContain('32')
    const answer = await expectError(await postSend(sendWithData(nested(30))), 422)
    expect(answer.error.message).toContain('data')
    const inString = JSON.stringify('[{'.repeat(5000) + '\\"[')
    const r = await postSend(sendWithData(inString))
    expect(r.status).not.toBe(400)
  })
})

describe('encoding and size', () => {
  test('a body that is not valid UTF-8 is 400, not read with U+FFFD in place of the bad bytes', async () => {
    const text = sendWithData('"pa"')
    const cut = text.indexOf('"pa"') + 2
    const res = await postSend(new Uint8Array([...enc(text.slice(0, cut)), 0xff, 0xfe, ...enc(text.slice(cut))]))
    const answer = await expectError(res, 400, 'invalid_utf8')
    expect(answer.error.message).toContain('UTF-8')
  })

  test('a chunked body (no Content-Length) over 1 MiB is 413 in the error shape; a small chunked one is read', async () => {
    const url = new URL(s.url)
    const lines = (extra: string[] = []) => head(['POST /api/send HTTP/1.1', `Host: ${url.host}`, `Authorization: Bearer ${ADMIN_TOKEN}`, 'Content-Type: application/json', 'Transfer-Encoding: chunked', 'Connection: close', ...extra])
    // 2 MiB of valid JSON in 64 KiB chunks.
    const json = enc(sendWithData(JSON.stringify('x'.repeat(2 * 1024 * 1024))))
    const pieces: Uint8Array[] = []
    for (let i = 0; i < json.length; i += 65536) pieces.push(chunk(json.slice(i, i + 65536)))
    pieces.push(enc('0\r\n\r\n'))
    const big = await raw(lines(), pieces)
    expect(big.status).toBe(413)
    expect(JSON.parse(big.body)).toMatchObject({ error: { code: 'payload_too_large' } })

    const small = enc(sendWithData(nested(30)))
    const ok = await raw(lines(), [chunk(small.slice(0, 10)), chunk(small.slice(10)), enc('0\r\n\r\n')])
    expect(ok.status).toBe(422)
  })
})

describe('lone surrogates', () => {
  test('a string with a lone surrogate anywhere in the body is 422 naming the field', async () => {
    // JSON escapes make them: "\ud800" alone is not a character, and would be stored as U+FFFD.
    const key = await expectError(await postSend(`{"channel":"demo","openids":["o_body_1"],"templateId":"TPL_DEMO_ORDER_PAID","data":{"thing1":"ok"},"idempotencyKey":"k-\\ud800"}`), 422, 'validation_failed')
    expect(key.error.message).toContain('idempotencyKey')
    const deep = await expectError(await postSend(sendWithData('{"value":"a\\udc00b"}')), 422, 'validation_failed')
    expect(deep.error.message).toContain('data.thing1.value')
    const inKey = await expectError(await postSend(sendWithData('{"\\ud83d":"x"}')), 422, 'validation_failed')
    expect(inKey.error.message).toContain('data.thing1')
    // A well-formed pair is a character like any other.
    const pair = await postSend(sendWithData('"\\ud83d\\ude00"'))
    expect(pair.status).not.toBe(422)
  })

  test('two idempotency keys that differ only in a lone surrogate are not collapsed into one', async () => {
    const body = (k: string) => `{"channel":"demo","openids":["o_body_1"],"templateId":"TPL_DEMO_ORDER_PAID","data":{"thing1":"ok"},"idempotencyKey":"dup-${k}"}`
    expect((await postSend(body('\\ud800'))).status).toBe(422)
    expect((await postSend(body('\\ud801'))).status).toBe(422)
  })

  test('an Idempotency-Key header whose bytes are not UTF-8 (a surrogate encoded as bytes) is 422 naming it', async () => {
    const url = new URL(s.url)
    const json = enc(`{"channel":"demo","openids":["o_body_1"],"templateId":"TPL_DEMO_ORDER_PAID","data":{"thing1":"ok"}}`)
    const h = new Uint8Array([
      ...enc(['POST /api/send HTTP/1.1', `Host: ${url.host}`, `Authorization: Bearer ${ADMIN_TOKEN}`, 'Content-Type: application/json', `Content-Length: ${json.length}`, 'Connection: close', 'Idempotency-Key: hk-'].join('\r\n')),
      0xed, 0xa0, 0x80, // U+D800 in the CESU/WTF-8 form: not UTF-8
      ...enc('\r\n\r\n'),
    ])
    const r = await raw(h, [json])
    expect(r.status).toBe(422)
    expect(JSON.parse(r.body).error.message).toContain('Idempotency-Key')
  })
})
