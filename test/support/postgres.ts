/**
 * A throwaway PostgreSQL cluster for the tests (issue 14): initdb in a temporary folder, started on a free
 * loopback port with its socket in that folder, one database, stopped and deleted afterwards. Uses the
 * PostgreSQL that Debian's `postgresql` package installs (.ci/run installs it); nothing is downloaded.
 *
 * PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` system user and its
 * programs run through `runuser`.
 *
 * Where no PostgreSQL is installed the tests that need one are skipped with the reason, unless
 * TEST_POSTGRES=required (set by .ci/run): then its absence is a failure, never a silent skip.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './gateway-process'

export interface TestPostgres {
  /** postgres://… of the test database (trust authentication on loopback). */
  url: string
  port: number
  /** Stops and deletes the cluster. */
  stop(): Promise<void>
  /** Stops the server only (fast shutdown: connections are ended), keeping its data and port. */
  stopServer(): void
  /** Starts a server stopped by stopServer() again, on the same port. */
  startServer(): void
  /** stopServer() then startServer(). */
  restart(): void
}

/** The folder of initdb and pg_ctl: Debian's /usr/lib/postgresql/<newest>/bin, or PATH. */
export const postgresBin = (): string | undefined => {
  const base = '/usr/lib/postgresql'
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    for (const v of versions) if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin')
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim()
  return which ? which.replace(/\/initdb$/, '') : undefined
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export const postgresMissing = (): string | undefined => (postgresBin() ? undefined : 'no PostgreSQL installed (apt-get install postgresql)')

export const postgresRequired = process.env.TEST_POSTGRES === 'required'

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0

export const startPostgres = async (o: { maxConnections?: number } = {}): Promise<TestPostgres> => {
  const bin = postgresBin()
  if (!bin) throw new Error(postgresMissing())
  const dir = mkdtempSync(join(tmpdir(), 'wxgate-pg-'))
  const data = join(dir, 'data')
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    chownSync(dir, uid, gid)
  }
  const run = (cmd: string, args: string[]) => {
    const full = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] as const : [join(bin, cmd), args] as const
    const r = spawnSync(full[0], [...full[1]], { encoding: 'utf8', cwd: dir })
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}`)
  }
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'wxgate', '-E', 'UTF8', '--locale=C', '--no-sync'])
  const port = await freePort()
  const startServer = () => run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=${o.maxConnections ?? 50}`, 'start'])
  const stopServer = () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'])
  startServer()
  const admin = new Bun.SQL(`postgres://wxgate@127.0.0.1:${port}/postgres`)
  try {
    await admin.unsafe('CREATE DATABASE wxgate_test')
  } finally {
    await admin.close()
  }
  return {
    url: `postgres://wxgate@127.0.0.1:${port}/wxgate_test`,
    port,
    stopServer,
    startServer,
    restart: () => { stopServer(); startServer() },
    stop: async () => {
      try {
        if (existsSync(join(data, 'postmaster.pid'))) stopServer()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
