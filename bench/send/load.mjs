// Load driver for the accept phase of bench/send/run.ts. Runs under Node (never inside the Bun process it
// measures).
//
//   node bench/send/load.mjs --url=http://127.0.0.1:PORT/api/send --token=ADMIN_TOKEN \
//     --connections=64 --duration=10 --warmup=2 [--server-pid=PID]
//
// Sends `POST /api/send` with one recipient per request: a JSON body with the demo template and an openid
// unique to each request of this process (warm-up included). A 2xx must be a 202 whose body names exactly
// one recipient; anything else counts as a mismatch. Prints one JSON summary line on stdout; diagnostics
// go to stderr.
//
// Each phase ends by draining, so "rows in the database == 2xx counted" is exact, and latency percentiles
// are exact: see ../lib/load-phase.mjs.

import { loadArgs, runPhase } from '../lib/load-phase.mjs'

const { args, url, connections, duration, warmup, timeoutSec, serverPid } = loadArgs({
  token: { type: 'string' },
  template: { type: 'string', default: 'TPL_DEMO_ORDER_PAID' },
}, ['token'])

let sent = 0
const runId = Date.now().toString(36)
const bodyHead = '{"channel":"default","openids":["o_accept_' + runId + '_'
const bodyTail = `"],"templateId":${JSON.stringify(args.template)},"data":{"thing1":"订单已支付","amount2":"¥100.00","time3":"2026年11月24日 15:01"}}`

/** A 202 answer naming exactly one recipient (cheap check: no JSON.parse of every body). */
const acceptedBody = (body) => body.startsWith('{"id":"req_') && body.includes('"recipients":[{"messageId":"msg_') && !body.includes('},{"messageId"')

const phase = (seconds) => runPhase({
  url, connections, seconds, timeoutSec, serverPid,
  headers: { 'content-type': 'application/json', authorization: `Bearer ${args.token}` },
  nextBody: () => bodyHead + String(sent++) + bodyTail,
  verifyBody: acceptedBody,
})

try {
  const warm = warmup > 0 ? await phase(warmup) : undefined
  const measured = await phase(duration)
  process.stdout.write(JSON.stringify({ url, connections, warmup: warm, measured, requestsBuilt: sent }) + '\n')
  process.exit(0)
} catch (e) {
  process.stderr.write(`load.mjs: ${e?.stack ?? e}\n`)
  process.exit(1)
}
