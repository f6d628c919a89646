/**
 * The sandbox WeChat API as its own process, for bench/send: the demo account with its demo templates,
 * optional latency on every answer, and optional pre-registered, subscribed users.
 *
 *   bun bench/send/sandbox-server.ts [--latency=MS] [--users=N] [--user-prefix=o_bench_]
 *
 * Users are `<prefix>0` … `<prefix>N-1`, all following the demo account. Prints one JSON line on stdout:
 * `{"url":"http://127.0.0.1:P","statsUrl":"http://127.0.0.1:Q/stats"}`. `url` is the sandbox (with its
 * control API under /_sandbox/); `statsUrl` is a small side server in this process that answers
 * `{"delivered":N,"sendCalls":M}` without serialising the lists, so the benchmark can poll progress cheaply.
 * SIGTERM stops both.
 */
import { parseArgs } from 'node:util'
import { DEMO_ACCOUNT, startSandbox } from '../../src/sandbox'

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    latency: { type: 'string', default: '0' },
    users: { type: 'string', default: '0' },
    'user-prefix': { type: 'string', default: 'o_bench_' },
  },
  strict: true,
})
const latency = Number(values.latency)
const users = Number(values.users)
if (!(latency >= 0) || !Number.isInteger(users) || users < 0) {
  console.error('sandbox-server: --latency must be >= 0 and --users a whole number >= 0')
  process.exit(2)
}

const sb = await startSandbox({ accounts: [DEMO_ACCOUNT] })
sb.setLatency(latency)
for (let i = 0; i < users; i++) sb.addUser(DEMO_ACCOUNT.appId, `${values['user-prefix']}${i}`, { subscribed: true })

const SEND_PATH = '/cgi-bin/message/template/send'
const stats = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch: () => Response.json({ delivered: sb.delivered(DEMO_ACCOUNT.appId).length, sendCalls: sb.calls(SEND_PATH) }),
})

console.log(JSON.stringify({ url: sb.url, statsUrl: `${stats.url.origin}/stats` }))
process.on('SIGTERM', () => void Promise.all([sb.stop(), stats.stop(true)]).then(() => process.exit(0)))
