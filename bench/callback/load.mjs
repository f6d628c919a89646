// Load driver for bench/callback/run.ts. Runs under Node (never inside the Bun process it measures).
//
//   node bench/callback/load.mjs --url=http://127.0.0.1:PORT/wechat?signature=…&timestamp=T&nonce=N&openid=o \
//     --connections=64 --duration=10 --warmup=2 --create-time=T [--server-pid=PID]
//
// Sends POST requests with a WeChat text-message XML body whose MsgId is unique for every request of
// this process (warm-up included), so that each one is a dedup miss and does the full work. Prints one
// JSON summary line on stdout; diagnostics go to stderr.
//
// Each phase ends by draining, so "rows in the database == 2xx counted" is exact, and latency
// percentiles are exact: see ../lib/load-phase.mjs.

import { loadArgs, runPhase } from '../lib/load-phase.mjs'

const { args, url, connections, duration, warmup, timeoutSec, serverPid } = loadArgs({ 'create-time': { type: 'string' }, 'expect-reply': { type: 'string' } })
// --expect-reply=TEXT: every answer is a passive reply with this text (a reply hook answers), not `success`.
const expectReply = args['expect-reply']
const createTime = args['create-time'] ?? String(Math.floor(Date.now() / 1000))

// MsgId: a decimal integer below 2^53 (so plain Number arithmetic stays exact) and far below 2^63.
// (seconds mod 10^6) * 10^9 + counter: unique within a run for fewer than 10^9 requests.
const msgIdBase = (Math.floor(Date.now() / 1000) % 1_000_000) * 1_000_000_000
let sent = 0
const bodyHead =
  '<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o_bench]]></FromUserName>' +
  `<CreateTime>${createTime}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>`
const bodyTail = '</MsgId></xml>'

const phase = (seconds) => runPhase({
  url, connections, seconds, timeoutSec, serverPid,
  headers: { 'content-type': 'text/xml; charset=utf-8' },
  nextBody: () => bodyHead + String(msgIdBase + sent++) + bodyTail,
  verifyBody: expectReply === undefined ? (body) => body === 'success' : (body) => body.includes(`<Content><![CDATA[${expectReply}]]></Content>`),
})

try {
  const warm = warmup > 0 ? await phase(warmup) : undefined
  const measured = await phase(duration)
  process.stdout.write(JSON.stringify({
    url: url.replace(/signature=[^&]*/, 'signature=…'),
    connections,
    warmup: warm,
    measured,
    requestsBuilt: sent,
  }) + '\n')
  process.exit(0)
} catch (e) {
  process.stderr.write(`load.mjs: ${e?.stack ?? e}\n`)
  process.exit(1)
}
