/**
 * @module A gateway (or demo) as a child process, for the tests and scripts that run it as a user would
 * (test/cli, test/demo, the crash test, scripts/smoke.ts, scripts/nginx-check.ts).
 *
 * Why this exists: a port picked at random can be taken (a socket of another process, an ephemeral
 * port of an outgoing connection) and the child then exits at once with "Failed to start server"; a
 * script that then waits for an `exit` event it already missed waits forever. Here the port comes
 * from the OS (bind 0, close, hand it over), a child that dies before it is up is started again on a
 * new port, and every wait has a deadline.
 */
import { createServer } from 'node:net'
import type { Subprocess } from 'bun'

/** A TCP port that was free a moment ago, chosen by the OS. */
export const freePort = (host = '127.0.0.1') => new Promise<number>((res, rej) => {
  const s = createServer()
  s.on('error', rej)
  s.listen(0, host, () => {
    const a = s.address()
    const port = typeof a === 'object' && a ? a.port : 0
    s.close(() => res(port))
  })
})

export interface GatewayProcess {
  port: number
  base: string
  proc: Subprocess
  /** Everything the child printed so far (stdout and stderr). */
  output(): string
  alive(): boolean
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>
}

export interface StartOptions {
  /** The command, given the port to use (put it in the env or in an argument). */
  command: (port: number) => { cmd: string[]; env: Record<string, string | undefined>; cwd?: string }
  /** Up when this answers true (default: GET /healthz is 2xx). */
  ready?: (g: { base: string; output: string }) => boolean | Promise<boolean>
  /** Per attempt (default 15 s). */
  timeoutMs?: number
  /** Fresh ports tried when the child exits before it is up (default 3). */
  attempts?: number
}

const healthz = ({ base }: { base: string }) => fetch(`${base}/healthz`).then((r) => r.ok, () => false)

/** Starts the child and waits until it is up; throws with its output when it never is. */
export const startGatewayProcess = async (o: StartOptions): Promise<GatewayProcess> => {
  const attempts = o.attempts ?? 3
  let last = ''
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const { cmd, env, cwd } = o.command(port)
    const proc = Bun.spawn(cmd, { env, cwd, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
    let out = ''
    const decoder = () => new TextDecoder()
    const pump = async (s: ReadableStream<Uint8Array>) => {
      const d = decoder()
      for await (const chunk of s) out += d.decode(chunk, { stream: true })
    }
    const pumped = Promise.all([pump(proc.stdout), pump(proc.stderr)]).catch(() => undefined)
    const alive = () => proc.exitCode === null && proc.signalCode === null
    const g: GatewayProcess = {
      port, base, proc, alive,
      output: () => out,
      stop: async (signal = 'SIGTERM', graceMs = 10_000) => {
        if (alive()) {
          proc.kill(signal)
          const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
          await proc.exited
          clearTimeout(timer)
        }
        await Promise.race([pumped, Bun.sleep(1000)])
        return proc.exitCode
      },
    }
    const deadline = Date.now() + (o.timeoutMs ?? 15_000)
    while (Date.now() < deadline && alive()) {
      if (await (o.ready ?? healthz)({ base, output: out })) return g
      await Bun.sleep(50)
    }
    await g.stop('SIGKILL', 0)
    last = `attempt ${attempt} on port ${port}: ${alive() ? 'not up in time' : `exited ${proc.exitCode ?? proc.signalCode}`}\n${out}`
    // Only a child that could not bind is worth another port; anything else is a real failure.
    if (!/Failed to start server|EADDRINUSE|address already in use/i.test(out)) break
  }
  throw new Error(`the process did not start: ${last}`)
}
