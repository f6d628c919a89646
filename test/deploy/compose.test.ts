/**
 * compose.yaml and the Dockerfile, checked where no Docker daemon is (CI builds the image only where one
 * is): compose.yaml's keys against what the Dockerfile does (where the database lives, the port, the
 * user), the trusted proxy against the network it defines, and both healthchecks run as Docker would run
 * them (bash -c) against a real gateway.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { loadConfig } from '../../src/config'
import { freePort, type GatewayProcess, startGatewayProcess } from '../support/gateway-process'

const root = join(import.meta.dir, '..', '..')
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
// Continuation lines joined, comments dropped: one instruction per line.
const instructions = dockerfile.replace(/\\\n/g, ' ').split('\n').filter((l) => l.trim() && !l.trimStart().startsWith('#'))
const imageEnv = Object.fromEntries([...instructions.filter((l) => /^ENV /.test(l)).join(' ').matchAll(/(WXGATE_\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]))

interface Service {
  build: unknown; restart: string; env_file: unknown; environment: Record<string, string>; ports: string[]; volumes: string[]
  networks: string[]; healthcheck: { test: string[]; interval: string; timeout: string; retries: number }; stop_grace_period: string; user?: string
}
interface Compose {
  services: { wxgate: Service }
  volumes: Record<string, unknown>
  networks: Record<string, { ipam: { config: { subnet: string; gateway: string }[] } }>
}
const compose = Bun.YAML.parse(readFileSync(join(root, 'compose.yaml'), 'utf8')) as Compose
const svc = compose.services.wxgate

describe('compose.yaml', () => {
  test('one service wxgate, built from the Dockerfile, restarted unless stopped, settings from wxgate.env', () => {
    expect(Object.keys(compose.services)).toEqual(['wxgate'])
    expect(svc.build === '.' || (svc.build as { context?: string }).context === '.').toBe(true)
    expect(svc.restart).toBe('unless-stopped')
    expect(svc.env_file).toEqual('wxgate.env')
  })

  test('the database is on a named volume mounted where the image keeps WXGATE_DB', () => {
    expect(imageEnv.WXGATE_DB).toBeDefined()
    const folder = dirname(imageEnv.WXGATE_DB!)
    // The env file is a copy of deploy/wxgate.env.example (the systemd path): compose must put it back.
    expect(svc.environment.WXGATE_DB).toBe(imageEnv.WXGATE_DB!)
    const mount = svc.volumes.find((v) => v.endsWith(`:${folder}`))
    expect(mount).toBeDefined()
    const name = mount!.slice(0, mount!.indexOf(':'))
    expect(name).not.toMatch(/^[./~]/) // a named volume, not a bind mount (root-owned on first use)
    expect(Object.keys(compose.volumes)).toContain(name)
    // The image declares the same folder a volume and owns it as its user.
    expect(instructions.some((l) => l.includes('VOLUME') && l.includes(`"${folder}"`))).toBe(true)
  })

  test('published on 127.0.0.1:3000 only (nginx on the host), to the port the server listens on', () => {
    expect(svc.ports).toEqual(['127.0.0.1:3000:3000'])
    expect(svc.environment.WXGATE_PORT).toBe('3000')
    expect(svc.environment.WXGATE_HOST).toBe('0.0.0.0')
  })

  test("the trusted proxy is the gateway of the service's network (where Docker forwards nginx's connections from), and a valid setting", () => {
    expect(svc.networks).toEqual(['wxgate'])
    const ipam = compose.networks.wxgate!.ipam.config[0]!
    expect(ipam.subnet).toMatch(/^\d+\.\d+\.\d+\.0\/24$/)
    expect(ipam.gateway.startsWith(ipam.subnet.slice(0, ipam.subnet.lastIndexOf('.') + 1))).toBe(true)
    expect(svc.environment.WXGATE_TRUST_PROXY).toBe(ipam.gateway)
    expect(svc.environment.WXGATE_TRUST_PROXY).not.toBe('loopback')
    const c = loadConfig({ ...svc.environment }, '')
    expect(c.WXGATE_TRUST_PROXY).toEqual([ipam.gateway])
    expect(c.WXGATE_HOST).toBe('0.0.0.0')
  })

  test('exec runs as the server: no user override, so the image\'s USER (not root) runs both', () => {
    expect(svc.user).toBeUndefined()
    const users = instructions.filter((l) => /^USER /.test(l))
    expect(users.length).toBeGreaterThan(0)
    expect(users.at(-1)).not.toMatch(/^USER (root|0)\b/)
    // `docker compose exec wxgate wxgate …`: the binary is on the image's PATH.
    expect(instructions.some((l) => /^COPY --from=build \S+ \/usr\/local\/bin\/wxgate$/.test(l))).toBe(true)
  })

  test('a stop grace period longer than the gateway\'s own 10 s drain', () => {
    expect(Number.parseInt(svc.stop_grace_period, 10)).toBeGreaterThan(10)
  })
})

describe('Dockerfile', () => {
  test('installs from the lockfile, with no fallback to a fresh resolution', () => {
    const installs = instructions.filter((l) => /bun install/.test(l))
    expect(installs).toHaveLength(1)
    expect(installs[0]).toContain('--frozen-lockfile')
    expect(installs[0]).not.toContain('||')
    expect(instructions.some((l) => /^COPY .*package-lock\.json/.test(l))).toBe(true)
  })

  test('the binary is built without .env autoload (wxgate reads .env itself, literally)', () => {
    expect(instructions.some((l) => /bun build .*--compile .*--no-compile-autoload-dotenv/.test(l))).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------------------
// The healthchecks, run exactly as Docker runs them: exec form, `bash -c <script>`.
const dockerProbe = (): string[] => {
  const line = instructions.find((l) => /^HEALTHCHECK /.test(l))!
  return JSON.parse(line.slice(line.indexOf('CMD') + 3).trim()) as string[]
}
// Compose replaces `$$` with `$` before handing the command to Docker.
const composeProbe = () => svc.healthcheck.test.map((a) => a.replace(/\$\$/g, '$'))

// Async: the 503 server below runs in this process, and spawnSync would block it from answering.
const runProbe = async (argv: string[], env: Record<string, string> = {}) => {
  expect(argv.slice(0, 3)).toEqual(['bash', '-c', argv[2]!])
  const p = Bun.spawn(argv, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdout: 'ignore', stderr: 'ignore', timeout: 10_000 })
  return await p.exited
}

describe('healthchecks against a real gateway', () => {
  let dir: string
  let gateway: GatewayProcess
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wxgate-compose-'))
    gateway = await startGatewayProcess({
      command: (port) => ({
        cmd: [process.execPath, join(root, 'src', 'main.ts'), 'serve'],
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: dir, WXGATE_HOST: '127.0.0.1', WXGATE_PORT: String(port), WXGATE_DB: join(dir, 'wxgate.db'), WXGATE_LOG_LEVEL: 'warn' },
      }),
    })
  })
  afterAll(async () => {
    await gateway?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test("the Dockerfile's HEALTHCHECK (bash, /readyz over /dev/tcp on $WXGATE_PORT) passes while the server answers, fails where none listens", async () => {
    const argv = dockerProbe()
    expect(argv[0]).toBe('bash')
    expect(await runProbe(argv, { WXGATE_PORT: String(gateway.port) })).toBe(0)
    expect(await runProbe(argv, { WXGATE_PORT: String(await freePort()) })).not.toBe(0)
  })

  test("compose.yaml's healthcheck (CMD bash -c, port 3000 in the container) passes while the server answers, fails where none listens", async () => {
    const [cmd, ...argv] = composeProbe()
    expect(cmd).toBe('CMD')
    expect(argv[2]).toContain('/dev/tcp/127.0.0.1/3000')
    expect(argv[2]).toContain('GET /readyz HTTP/1.1\\r\\n')
    const at = (port: number) => argv.map((a, i) => (i === 2 ? a.replace('/127.0.0.1/3000', `/127.0.0.1/${port}`) : a))
    expect(await runProbe(at(gateway.port))).toBe(0)
    expect(await runProbe(at(await freePort()))).not.toBe(0)
  })

  test('a server that answers something other than 200 on /readyz is unhealthy', async () => {
    // Any HTTP server answering 503 stands in for a gateway whose database does not answer.
    const s = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('{"status":"unavailable"}', { status: 503 }) })
    try {
      expect(await runProbe(dockerProbe(), { WXGATE_PORT: String(s.port) })).not.toBe(0)
    } finally {
      await s.stop(true)
    }
  })
})
