/**
 * The baseline for bench/callback/run.ts: a bare `Bun.serve` that reads the whole request body and
 * answers `success` (200, text/plain), on any path and method. It is what a WeChat callback costs with no
 * framework, no signature check, no XML parsing and no database: the ceiling wxgate is compared with.
 *
 *   bun bench/callback/bare-server.ts --port=PORT [--host=127.0.0.1]
 *
 * Prints `listening on http://HOST:PORT` on stdout once it accepts connections. Stops on SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
  strict: true,
})

const server = Bun.serve({
  hostname: values.host,
  port: Number(values.port),
  async fetch(request) {
    await request.text()
    return new Response('success', { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' } })
  },
})

process.stdout.write(`listening on http://${values.host}:${server.port}\n`)

const stop = () => {
  void server.stop(true).finally(() => process.exit(0))
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
