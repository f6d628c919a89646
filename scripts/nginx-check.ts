/**
 * The deployed nginx config, checked with a real nginx in front of the compiled binary, as CI runs it:
 *
 *   npx bun scripts/nginx-check.ts dist/wxgate
 *
 * deploy/nginx.conf itself is rendered into a temporary nginx config (no second copy of its locations):
 * ports moved to loopback ports, the [::] listens dropped, the TLS lines removed (plain HTTP; a second
 * rendering with a self-signed certificate is only `nginx -t`ed), the upstream pointed at the gateway.
 * Through it: WeChat's signed GET and POST on both server blocks (443 and 80), the API allowed from
 * 127.0.0.1, then, with a rendering whose allow list leaves out 127.0.0.1, the API refused (403, in the
 * API's JSON error shape) while
 * /wechat and /bind/ still work. And the client address in the gateway's log: nginx replaces a spoofed
 * X-Forwarded-For with $remote_addr; a loopback peer's X-Forwarded-For is believed.
 *
 * The sandbox WeChat runs in this process (from source). Prints "ok - …" / "FAIL - …" lines; exits 1 on
 * any FAIL.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { type Sandbox, startSandbox } from '../src/sandbox'
import { sha1Signature } from '../src/wechat/signature'
import { freePort, startGatewayProcess } from '../test/support/gateway-process'

const bin = resolve(process.argv[2] ?? 'dist/wxgate')
const SITE = resolve(import.meta.dir, '..', 'deploy', 'nginx.conf')
const dir = mkdtempSync(join(tmpdir(), 'wxgate-nginx-'))
// nginx's workers (nobody, when this runs as root) must reach the temp folders under it.
chmodSync(dir, 0o755)

let failures = 0
const check = (name: string, cond: boolean, detail = '') => {
  if (cond) console.log(`ok - ${name}`)
  else { failures++; console.log(`FAIL - ${name}${detail ? `: ${detail}` : ''}`) }
}
const children: ChildProcess[] = []
let stopGateway: (() => Promise<unknown>) | undefined
const cleanup = () => {
  // SIGTERM: nginx's master then ends its workers (after SIGKILL they would linger); the gateway drains.
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM')
  void stopGateway?.()
  rmSync(dir, { recursive: true, force: true })
}
// Every wait below has its own deadline; this one ends a run that hangs anyway, with a FAIL line.
setTimeout(() => abort('the nginx check finished within 180 s'), 180_000)
const abort = (why: string): never => {
  check(why, false)
  cleanup()
  process.exit(1)
}

const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx'].find((p) => existsSync(p))
  ?? (spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim() || undefined)
if (!nginxBin) abort('nginx is installed (apt-get install -y nginx)')
const nginxVersion = spawnSync(nginxBin!, ['-v'], { encoding: 'utf8' }).stderr.trim()
check(`nginx found: ${nginxBin} (${nginxVersion})`, /nginx\//.test(nginxVersion))
if (!existsSync(bin)) abort(`${bin} exists (npm run build)`)

// ---------------------------------------------------------------------------------------------------
// Rendering deploy/nginx.conf. Each edit must match exactly as often as expected: when the file changes
// shape, this fails loudly instead of quietly checking something else.
interface Render { name: string; gatewayPort: number; httpPort: number; httpsPort: number; allowLoopback: boolean; tls?: { cert: string; key: string } }

const site = readFileSync(SITE, 'utf8')
const edit = (text: string, re: RegExp, to: string, expected: number, what: string) => {
  const n = [...text.matchAll(re)].length
  if (n !== expected) throw new Error(`deploy/nginx.conf: expected ${expected} ${what}, found ${n}`)
  return text.replace(re, to)
}

const renderSite = (r: Render): string => {
  let t = site
  t = edit(t, /^[ \t]*listen \[::\]:\d+[^;\n]*;[ \t]*\n/gm, '', 2, 'IPv6 listen lines ([::]:80, [::]:443)')
  t = edit(t, /^([ \t]*)listen 80;/gm, `$1listen 127.0.0.1:${r.httpPort};`, 1, '"listen 80;"')
  t = edit(t, /^([ \t]*)listen 443 ssl http2;/gm, `$1listen 127.0.0.1:${r.httpsPort}${r.tls ? ' ssl http2' : ''};`, 1, '"listen 443 ssl http2;"')
  t = edit(t, /^([ \t]*)ssl_certificate \S+;[ \t]*\n/gm, r.tls ? `$1ssl_certificate ${r.tls.cert};\n` : '', 1, 'ssl_certificate lines')
  t = edit(t, /^([ \t]*)ssl_certificate_key \S+;[ \t]*\n/gm, r.tls ? `$1ssl_certificate_key ${r.tls.key};\n` : '', 1, 'ssl_certificate_key lines')
  // certbot's files (options-ssl-nginx.conf, ssl-dhparams.pem) exist only where certbot ran.
  t = edit(t, /^[ \t]*(include \/etc\/letsencrypt\/\S+|ssl_dhparam \S+);[ \t]*\n/gm, '', 2, "certbot's include and ssl_dhparam lines")
  t = edit(t, /server 127\.0\.0\.1:3000;/g, `server 127.0.0.1:${r.gatewayPort};`, 1, 'upstream "server 127.0.0.1:3000;"')
  t = edit(t, /root \/var\/www\/letsencrypt;/g, `root ${join(dir, 'acme')};`, 1, 'ACME webroot')
  if (!r.allowLoopback) {
    // Two locations carry the allow list: / (the API) and = /api/media (uploads).
    t = edit(t, /^[ \t]*allow (127\.0\.0\.1|192\.168\.0\.0\/16);[ \t]*\n/gm, '', 4, 'allow lines for 127.0.0.1 and 192.168.0.0/16')
    edit(t, /allow 10\.0\.0\.0\/8;\s*deny all;/g, '', 2, '"allow 10.0.0.0/8; deny all;" left')
  }
  return t
}

const isRoot = process.getuid?.() === 0
const workerGroup = /^nogroup:/m.test(existsSync('/etc/group') ? readFileSync('/etc/group', 'utf8') : '') ? 'nogroup' : 'nobody'

/** Writes <dir>/<name>/{nginx.conf,site.conf}: a minimal main config around the rendered server blocks. */
const writeConfig = (r: Render) => {
  const prefix = join(dir, r.name)
  mkdirSync(join(prefix, 'tmp'), { recursive: true })
  chmodSync(prefix, 0o755)
  writeFileSync(join(prefix, 'site.conf'), renderSite(r))
  writeFileSync(join(prefix, 'nginx.conf'), [
    '# written by scripts/nginx-check.ts around deploy/nginx.conf (site.conf)',
    'daemon off;',
    'worker_processes 1;',
    // As root, nginx's workers would run as the compiled-in user; name one that exists here.
    isRoot ? `user nobody ${workerGroup};` : '',
    `pid ${prefix}/nginx.pid;`,
    `error_log ${prefix}/error.log warn;`,
    'events { worker_connections 256; }',
    'http {',
    `    access_log ${prefix}/access.log;`,
    `    client_body_temp_path ${prefix}/tmp/body;`,
    `    proxy_temp_path ${prefix}/tmp/proxy;`,
    `    fastcgi_temp_path ${prefix}/tmp/fastcgi;`,
    `    uwsgi_temp_path ${prefix}/tmp/uwsgi;`,
    `    scgi_temp_path ${prefix}/tmp/scgi;`,
    `    include ${prefix}/site.conf;`,
    '}',
    '',
  ].join('\n'))
  return { prefix, conf: join(prefix, 'nginx.conf'), errorLog: join(prefix, 'error.log') }
}

const nginxArgs = (c: { prefix: string; conf: string; errorLog: string }) => ['-p', `${c.prefix}/`, '-c', c.conf, '-e', c.errorLog]
const nginxTest = (c: { prefix: string; conf: string; errorLog: string }) => {
  const r = spawnSync(nginxBin!, ['-t', ...nginxArgs(c)], { encoding: 'utf8' })
  return { ok: r.status === 0, out: (r.stdout + r.stderr).trim() }
}

const waitFor = async (probe: () => Promise<boolean>, ms = 5000) => {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await probe().catch(() => false)) return true
    await Bun.sleep(50)
  }
  return false
}

const startNginx = async (c: { prefix: string; conf: string; errorLog: string }, port: number) => {
  const proc = spawn(nginxBin!, nginxArgs(c), { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(proc)
  let out = ''
  proc.stdout!.on('data', (d) => { out += d })
  proc.stderr!.on('data', (d) => { out += d })
  const up = await waitFor(async () => proc.exitCode === null && (await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' })).status > 0)
  const stop = async () => {
    if (proc.exitCode !== null) return proc.exitCode
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
    proc.kill('SIGQUIT') // graceful shutdown
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
    const code = await exited
    clearTimeout(timer)
    return code
  }
  return { up, stop, output: () => `${out}${existsSync(c.errorLog) ? readFileSync(c.errorLog, 'utf8') : ''}`.trim() }
}

let sandbox: Sandbox | undefined

const main = async () => {
  // ---------------------------------------------------------------------------------------------------
  // The gateway: the compiled binary, a channel from the environment, the sandbox as WeChat.
  const APPID = 'wx2c2769f8efd9abc2'
  const TOKEN = 'nginxchecktoken'
  const ADMIN = 'nginx-check-admin-token-0123456789'
  sandbox = await startSandbox({ accounts: [{ appId: APPID, appSecret: 'nginx-check-app-secret' }] })
  const gateway = await startGatewayProcess({
    command: (port) => ({
      cmd: [bin, 'serve'],
      cwd: dir,
      env: {
        ...process.env,
        WXGATE_DB: join(dir, 'wxgate.db'), WXGATE_HOST: '127.0.0.1', WXGATE_PORT: String(port), WXGATE_LOG_LEVEL: 'info',
        WXGATE_APPID: APPID, WXGATE_APPSECRET: 'nginx-check-app-secret', WXGATE_TOKEN: TOKEN,
        WXGATE_ADMIN_TOKEN: ADMIN, WXGATE_WECHAT_API: sandbox!.url, WXGATE_TRUST_PROXY: 'loopback',
      },
    }),
  }).catch((e: unknown) => abort(`the gateway (wxgate serve) answers /healthz directly: ${e instanceof Error ? e.message : String(e)}`))
  stopGateway = () => gateway.stop('SIGTERM')
  check('the gateway (wxgate serve) answers /healthz directly', true)
  const gatewayPort = gateway.port
  const direct = gateway.base
  /** Complete log lines so far (the last, unfinished one left out). */
  const logLines = () => gateway.output().split('\n').slice(0, -1).filter(Boolean)

  type LogLine = Record<string, unknown>
  const parsed = (from: number): LogLine[] => logLines().slice(from).flatMap((l) => {
    try { return [JSON.parse(l) as LogLine] } catch { return [] }
  })
  /** Waits for log lines after `from` that carry a `client` field and match; all of them, once seen. */
  const clientLines = async (from: number, match: (l: LogLine) => boolean) => {
    let found: LogLine[] = []
    await waitFor(async () => (found = parsed(from).filter((l) => typeof l.client === 'string' && match(l))).length > 0, 2000)
    return found
  }
  const routeOf = (l: LogLine) => String(l.route ?? l.path ?? l.url ?? '')
  const clientCheck = (name: string, lines: LogLine[], want: string, what: string) =>
    check(name, lines.length > 0 && lines.every((l) => l.client === want), lines.length
      ? `logged ${JSON.stringify(lines.map((l) => l.client))}, want ${want}`
      : `no log line with a "client" field for ${what} (request logging with "client" not in this build of src/server.ts?)`)

  // Requests ----------------------------------------------------------------------------------------
  const T = () => AbortSignal.timeout(5000)
  let nonceSeq = 0
  const signed = (extra: Record<string, string> = {}) => {
    const timestamp = String(Math.floor(Date.now() / 1000))
    const nonce = String(1_000_000 + ++nonceSeq)
    return new URLSearchParams({ signature: sha1Signature([TOKEN, timestamp, nonce]), timestamp, nonce, ...extra }).toString()
  }
  let msgSeq = 0
  const textXml = () => {
    const ts = String(Math.floor(Date.now() / 1000))
    return `<xml><ToUserName><![CDATA[gh_nginx]]></ToUserName><FromUserName><![CDATA[o_nginx]]></FromUserName><CreateTime>${ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好 nginx]]></Content><MsgId>70000000000000${String(++msgSeq).padStart(5, '0')}</MsgId></xml>`
  }
  const answer = async (url: string, init: RequestInit = {}) => {
    try {
      const r = await fetch(url, { redirect: 'manual', signal: T(), ...init })
      return { status: r.status, body: await r.text(), type: r.headers.get('content-type') ?? '', location: r.headers.get('location') ?? '', server: r.headers.get('server') ?? '', cookie: r.headers.get('set-cookie') ?? '' }
    } catch (e) {
      return { status: 0, body: String(e), type: '', location: '', server: '', cookie: '' }
    }
  }
  /** The gateway's error shape (SPEC §5): a JSON body {"error":{"code","message"}}, served as application/json. */
  const isApiError = (a: { body: string; type: string }, code: string) => {
    try {
      const e = (JSON.parse(a.body) as { error?: { code?: unknown; message?: unknown } }).error
      return /^application\/json\b/.test(a.type) && e?.code === code && typeof e.message === 'string' && e.message.length > 0
    } catch {
      return false
    }
  }
  const show = (a: { status: number; body: string }) => `${a.status} ${JSON.stringify(a.body.slice(0, 160))}`
  const getEcho = (base: string, echostr: string) => answer(`${base}/wechat?${signed({ echostr })}`)
  const postText = (base: string) => answer(`${base}/wechat?${signed({ openid: 'o_nginx' })}`, { method: 'POST', body: textXml(), headers: { 'content-type': 'text/xml' } })
  const admin = { authorization: `Bearer ${ADMIN}` }

  // 1. nginx -t: the TLS rendering (self-signed certificate) and the plain one ------------------------
  const [httpPort, httpsPort] = [await freePort(), await freePort()]
  const certDir = join(dir, 'cert')
  mkdirSync(certDir)
  const openssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=wx.example.com',
    '-keyout', join(certDir, 'privkey.pem'), '-out', join(certDir, 'fullchain.pem')], { encoding: 'utf8' })
  if (openssl.status === 0) {
    const tls = writeConfig({ name: 'tls', gatewayPort, httpPort, httpsPort, allowLoopback: true, tls: { cert: join(certDir, 'fullchain.pem'), key: join(certDir, 'privkey.pem') } })
    const t = nginxTest(tls)
    check('nginx -t accepts deploy/nginx.conf with TLS (listen ssl http2, a self-signed certificate in place of certbot\'s)', t.ok, t.out)
  } else {
    console.log(`# skipped: nginx -t with TLS (no openssl: ${(openssl.error?.message ?? openssl.stderr).trim().slice(0, 120)})`)
  }

  const allowed = writeConfig({ name: 'allowed', gatewayPort, httpPort, httpsPort, allowLoopback: true })
  const t1 = nginxTest(allowed)
  check('nginx -t accepts deploy/nginx.conf rendered for plain HTTP on loopback ports', t1.ok, t1.out)
  if (!t1.ok) throw new Error('nginx -t refused the rendered config: cannot go on')

  // 2. Through nginx, the rendering as deployed (127.0.0.1 is in the allow list) -----------------------
  const nginx1 = await startNginx(allowed, httpsPort)
  check('nginx starts with the rendered config', nginx1.up, nginx1.output())
  const viaTls = `http://127.0.0.1:${httpsPort}` // the 443 server block, without TLS
  const via80 = `http://127.0.0.1:${httpPort}` // the port-80 server block

  const echoDirect = await getEcho(direct, 'echo-direct-1')
  const echoNginx = await getEcho(viaTls, 'echo-direct-1')
  check('signed GET /wechat through nginx answers 200 with the echostr, exactly as directly',
    echoNginx.status === 200 && echoNginx.body === 'echo-direct-1' && echoNginx.status === echoDirect.status && echoNginx.body === echoDirect.body && echoNginx.type === echoDirect.type,
    `direct ${show(echoDirect)} ${echoDirect.type}, via nginx ${show(echoNginx)} ${echoNginx.type}`)
  const post1 = await postText(viaTls)
  check('signed plaintext POST /wechat through nginx answers 200 success', post1.status === 200 && post1.body === 'success', show(post1))
  const wrong = await answer(`${viaTls}/wechat?${signed({ echostr: 'x' }).replace(/signature=[0-9a-f]+/, `signature=${'0'.repeat(40)}`)}`)
  check('a wrongly signed GET through nginx is the gateway\'s 401', wrong.status === 401, show(wrong))

  const channels = await answer(`${viaTls}/api/channels`, { headers: admin })
  check('GET /api/channels with the admin key through nginx: 200 (127.0.0.1 is allowed)', channels.status === 200 && channels.body.includes('"default"'), show(channels))
  const docs = await answer(`${viaTls}/docs`)
  check('GET /docs through nginx: 200 (allowed)', docs.status === 200 && docs.body.includes('swagger-ui'), show(docs))
  const consoleLogin = await answer(`${viaTls}/console/login`)
  check('GET /console/login through nginx: 200, the console\'s sign-in page (allowed)', consoleLogin.status === 200 && consoleLogin.body.includes('/console/login'), show(consoleLogin))
  const consoleIn = await answer(`${viaTls}/console/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ key: ADMIN }).toString() })
  // This server block runs without TLS here, so nginx's X-Forwarded-Proto is http and the cookie is not Secure;
  // behind https it is (X-Forwarded-Proto https: test/http/console.test.ts).
  check('signing in to the console through nginx: a session cookie, HttpOnly, SameSite=Strict, Path=/console; not Secure over plain http (X-Forwarded-Proto http)',
    consoleIn.status === 303 && /wxgate_console=[^;]+; Path=\/console; HttpOnly; SameSite=Strict$/.test(consoleIn.cookie ?? ''), `${show(consoleIn)} set-cookie=${consoleIn.cookie}`)
  const big = await answer(`${viaTls}/wechat?${signed()}`, { method: 'POST', body: 'x'.repeat(70 * 1024), headers: { 'content-type': 'text/xml' } })
  check('a callback body over 64 KiB is refused by nginx: 413 (client_max_body_size 64k)', big.status === 413 && /nginx/.test(big.server + big.body), `${show(big)} server=${big.server}`)
  const bigApi = await answer(`${viaTls}/api/send`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ openids: ['o_x'], templateId: 'T', data: { thing1: 'x'.repeat(1024 * 1024) } }) })
  check('an API body over 1 MiB is refused by nginx: 413 in the API\'s JSON error shape', bigApi.status === 413 && isApiError(bigApi, 'payload_too_large'), `${show(bigApi)} content-type=${bigApi.type}`)
  const form = new FormData()
  form.append('type', 'image')
  form.append('file', new File([new Uint8Array(3 * 1024 * 1024).fill(7)], 'big.png', { type: 'image/png' }))
  const upload = await answer(`${viaTls}/api/media`, { method: 'POST', headers: admin, body: form })
  check('a 3 MB image through nginx reaches the gateway: 201 (location = /api/media allows 10 MiB and the form)', upload.status === 201 && upload.body.includes('"mediaId"'), show(upload))

  const echo80 = await getEcho(via80, 'echo-port-80')
  check('port 80 server block: signed GET /wechat answers 200 with the echostr (not a redirect)', echo80.status === 200 && echo80.body === 'echo-port-80', show(echo80))
  const post80 = await postText(via80)
  check('port 80 server block: signed POST /wechat answers 200 success', post80.status === 200 && post80.body === 'success', show(post80))
  const redirect = await answer(`${via80}/api/channels?x=1`, { headers: admin })
  check('port 80 server block: anything else is a 301 to https://', redirect.status === 301 && /^https:\/\/[^/]+\/api\/channels\?x=1$/.test(redirect.location), `${redirect.status} location=${redirect.location}`)

  // 3. The client address in the gateway's log ----------------------------------------------------------
  let mark = logLines().length
  const spoofed = await answer(`${viaTls}/api/channels`, { headers: { ...admin, 'x-forwarded-for': '1.2.3.4' } })
  clientCheck('through nginx with a spoofed X-Forwarded-For: 1.2.3.4, the gateway logs client 127.0.0.1 (GET /api/channels)',
    spoofed.status === 200 ? await clientLines(mark, (l) => routeOf(l).includes('/api/channels')) : [], '127.0.0.1', 'GET /api/channels')
  mark = logLines().length
  const refused = await answer(`${viaTls}/wechat?signature=${'0'.repeat(40)}&timestamp=${Math.floor(Date.now() / 1000)}&nonce=1&echostr=x`, { headers: { 'x-forwarded-for': '1.2.3.4' } })
  clientCheck('through nginx with a spoofed X-Forwarded-For: 1.2.3.4, a refused callback (401) is logged with client 127.0.0.1',
    refused.status === 401 ? await clientLines(mark, (l) => String(l.msg).includes('callback')) : [], '127.0.0.1', 'the refused callback')
  mark = logLines().length
  const trusted = await answer(`${direct}/api/channels`, { headers: { ...admin, 'x-forwarded-for': '203.0.113.9' } })
  clientCheck('straight to the gateway from loopback with X-Forwarded-For: 203.0.113.9, it logs client 203.0.113.9 (loopback is trusted)',
    trusted.status === 200 ? await clientLines(mark, (l) => routeOf(l).includes('/api/channels')) : [], '203.0.113.9', 'GET /api/channels')

  const stop1 = await nginx1.stop()
  check('nginx stops on SIGQUIT (graceful) with exit 0', stop1 === 0, `exit ${stop1}: ${nginx1.output()}`)

  // 4. A rendering whose allow list leaves out 127.0.0.1: the API is refused, WeChat still gets through -------
  const denied = writeConfig({ name: 'denied', gatewayPort, httpPort, httpsPort, allowLoopback: false })
  const t2 = nginxTest(denied)
  check('nginx -t accepts the rendering with only "allow 10.0.0.0/8; deny all;"', t2.ok, t2.out)
  const nginx2 = await startNginx(denied, httpsPort)
  check('nginx starts with that rendering', nginx2.up, nginx2.output())
  mark = logLines().length
  const forbidden = await answer(`${viaTls}/api/channels`, { headers: admin })
  check('GET /api/channels with the admin key from a client outside the allow list: 403 from nginx',
    forbidden.status === 403 && /nginx/.test(forbidden.server + forbidden.body), `${show(forbidden)} server=${forbidden.server}`)
  check('that 403 is in the API\'s JSON error shape: {"error":{"code":"forbidden","message":…}}, Content-Type application/json',
    forbidden.status === 403 && isApiError(forbidden, 'forbidden'), `${show(forbidden)} content-type=${forbidden.type}`)
  const others = await Promise.all(['/docs', '/docs/json', '/metrics', '/healthz', '/console', '/console/login', '/'].map(async (p) => ({ p, a: await answer(`${viaTls}${p}`) })))
  check('/docs, /docs/json, /metrics, /healthz, /console and / are 403 too, in the same JSON shape', others.every((o) => o.a.status === 403 && isApiError(o.a, 'forbidden')),
    others.map((o) => `${o.p} ${o.a.status} ${o.a.type} ${JSON.stringify(o.a.body.slice(0, 60))}`).join(', '))
  await Bun.sleep(200)
  check('the refused requests never reached the gateway', !parsed(mark).some((l) => /\/api\/|\/docs|\/metrics|\/healthz|\/console/.test(routeOf(l))), JSON.stringify(parsed(mark)))
  const echoDenied = await getEcho(viaTls, 'echo-denied')
  check('signed GET /wechat still answers 200 with the echostr', echoDenied.status === 200 && echoDenied.body === 'echo-denied', show(echoDenied))
  const postDenied = await postText(viaTls)
  check('signed POST /wechat still answers 200 success', postDenied.status === 200 && postDenied.body === 'success', show(postDenied))
  const bindPage = await answer(`${viaTls}/bind/no-such-code`)
  check('/bind/ is public: an unknown code is the gateway\'s 404 page, not nginx\'s 403', bindPage.status === 404 && bindPage.body.includes('二维码不存在'), show(bindPage))
  const stop2 = await nginx2.stop()
  check('nginx stops on SIGQUIT (graceful) with exit 0', stop2 === 0, `exit ${stop2}: ${nginx2.output()}`)

  // 5. Stop the gateway -----------------------------------------------------------------------------
  const code = await gateway.stop('SIGTERM')
  check('the gateway stops on SIGTERM with exit 0', code === 0, `exit ${code}`)
  const gatewayOut = gateway.output()
  check('the gateway log never shows the AppSecret or the admin key', !gatewayOut.includes('nginx-check-app-secret') && !gatewayOut.includes(ADMIN))
}

try {
  await main()
} catch (e) {
  check('the check ran to its end', false, e instanceof Error ? e.message : String(e))
}
await sandbox?.stop()
cleanup()
process.exit(failures ? 1 : 0)
