/** The helper that runs the gateway as a process for the CLI, demo, crash, smoke and nginx checks. */
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startGatewayProcess } from './support/gateway-process'

const main = join(import.meta.dir, '..', 'src', 'main.ts')
const dir = mkdtempSync(join(tmpdir(), 'wxgate-gp-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const env = (port: number | string) => ({ ...process.env, WXGATE_DB: join(dir, 'wxgate.db'), WXGATE_PORT: String(port), WXGATE_HOST: '127.0.0.1', WXGATE_LOG_LEVEL: 'info' })

test('a gateway that cannot bind its port is started again on a fresh one', async () => {
  // The port is taken, as a client socket in TIME-WAIT takes it on a busy CI machine.
  const taken = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('taken') })
  const ports: number[] = []
  try {
    const g = await startGatewayProcess({
      command: (port) => {
        ports.push(port)
        return { cmd: [process.execPath, main, 'serve'], env: env(ports.length === 1 ? taken.port! : port) }
      },
    })
    expect(ports).toHaveLength(2)
    expect(g.port).toBe(ports[1]!)
    expect((await fetch(`${g.base}/healthz`)).status).toBe(200)
    expect(await g.stop()).toBe(0)
  } finally {
    taken.stop(true)
  }
}, 30_000)

test('a gateway that exits for another reason is not retried, and its output is in the error', async () => {
  let calls = 0
  const started = startGatewayProcess({
    command: () => {
      calls++
      return { cmd: [process.execPath, main, 'serve'], env: env('not-a-port') }
    },
  })
  await expect(started).rejects.toThrow('WXGATE_PORT')
  expect(calls).toBe(1)
})

test('stop() of a process that already exited answers at once with its exit code', async () => {
  const g = await startGatewayProcess({ command: (port) => ({ cmd: [process.execPath, main, 'serve'], env: env(port) }) })
  g.proc.kill('SIGTERM')
  await g.proc.exited
  expect(await g.stop()).toBe(0)
})
