/**
 * Smoke test of the compiled binary, as CI runs it: --version, migrate, serve on a loopback port with a
 * channel from the environment, a signed GET and POST (plaintext and safe mode), /healthz, /docs/json,
 * a bind code with its page and a sandbox scan, then SIGTERM and a clean exit. Prints "ok - …" / "FAIL - …" lines.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startSandbox } from '../src/sandbox'
import { type GatewayProcess, startGatewayProcess } from '../test/support/gateway-process'
import { aesKeyFrom, decrypt, encrypt } from '../src/wechat/crypto'
import { msgSignature, sha1Signature } from '../src/wechat/signature'

const bin = resolve(process.argv[2] ?? 'dist/wxgate')
const dir = mkdtempSync(join(tmpdir(), 'wxgate-smoke-'))
let failures = 0
const check = (name: string, cond: boolean, detail = '') => {
  if (cond) console.log(`ok - ${name}`)
  else { failures++; console.log(`FAIL - ${name}${detail ? `: ${detail}` : ''}`) }
}

// Every wait below has its own deadline; this one ends a run that hangs anyway, with a FAIL line.
let server: GatewayProcess | undefined
setTimeout(() => {
  console.log('FAIL - the smoke test finished within 120 s')
  server?.proc.kill('SIGKILL')
  process.exit(1)
}, 120_000)

// The sandbox WeChat (from source, in this process) stands in for api.weixin.qq.com.
const sandbox = await startSandbox({ accounts: [{ appId: 'wx2c2769f8efd9abc2', appSecret: 'smoke-app-secret' }] })
const aesKey = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'
const env = {
  ...process.env,
  WXGATE_DB: join(dir, 'smoke.db'), WXGATE_HOST: '127.0.0.1', WXGATE_LOG_LEVEL: 'info',
  WXGATE_APPID: 'wx2c2769f8efd9abc2', WXGATE_APPSECRET: 'smoke-app-secret', WXGATE_TOKEN: 'smoketoken', WXGATE_AES_KEY: aesKey,
  WXGATE_ADMIN_TOKEN: 'smoke-admin-token-0123456789', WXGATE_WECHAT_API: sandbox.url,
}

const version = spawnSync(bin, ['--version'], { encoding: 'utf8', env, timeout: 30_000 })
check('--version prints a version', version.status === 0 && /^\d+\.\d+\.\d+/.test(version.stdout.trim()), version.stderr)
const bad = spawnSync(bin, ['migrate'], { encoding: 'utf8', env: { ...env, WXGATE_PORT: 'x' }, timeout: 30_000 })
check('a bad setting exits 2 naming it', bad.status === 2 && bad.stderr.includes('WXGATE_PORT'), bad.stderr)
const mig = spawnSync(bin, ['migrate'], { encoding: 'utf8', env, timeout: 30_000 })
check('migrate applies the embedded migrations', mig.status === 0 && mig.stdout.includes('0000_init'), mig.stdout + mig.stderr)

server = await startGatewayProcess({ command: (port) => ({ cmd: [bin, 'serve'], env: { ...env, WXGATE_PORT: String(port) } }) })
  .catch((e: unknown) => {
    check('serve answers /healthz', false, String(e))
    return undefined
  })
if (!server) {
  await sandbox.stop()
  rmSync(dir, { recursive: true, force: true })
  process.exit(1)
}
check('serve answers /healthz', true)
const base = server.base

const ts = String(Math.floor(Date.now() / 1000))
const nonce = '271828'
const sig = sha1Signature(['smoketoken', ts, nonce])
const get = await fetch(`${base}/wechat?signature=${sig}&timestamp=${ts}&nonce=${nonce}&echostr=smoke-echo`).catch(() => undefined)
check('signed GET echoes echostr', get?.status === 200 && (await get.text()) === 'smoke-echo')
const badGet = await fetch(`${base}/wechat?signature=${'0'.repeat(40)}&timestamp=${ts}&nonce=${nonce}&echostr=x`).catch(() => undefined)
check('wrongly signed GET is 401', badGet?.status === 401)

const xml = `<xml><ToUserName><![CDATA[gh_smoke]]></ToUserName><FromUserName><![CDATA[o_smoke]]></FromUserName><CreateTime>${ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>6054768590064713728</MsgId></xml>`
const postRes = await fetch(`${base}/wechat?signature=${sig}&timestamp=${ts}&nonce=${nonce}&openid=o_smoke`, { method: 'POST', body: xml, headers: { 'content-type': 'text/xml' } }).catch(() => undefined)
check('signed plaintext POST answers 200 success', postRes?.status === 200 && (await postRes.text()) === 'success')

const enc = encrypt(xml.replace('6054768590064713728', '6054768590064713729'), aesKeyFrom(aesKey), 'wx2c2769f8efd9abc2', new TextEncoder().encode('smoke-random-16b'))
const msig = msgSignature({ token: 'smoketoken', timestamp: ts, nonce, encrypt: enc })
const safe = await fetch(`${base}/wechat?signature=${sig}&timestamp=${ts}&nonce=${nonce}&encrypt_type=aes&msg_signature=${msig}`, { method: 'POST', body: `<xml><ToUserName><![CDATA[gh_smoke]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>` }).catch(() => undefined)
check('signed safe-mode POST answers 200 success', safe?.status === 200 && (await safe.text()) === 'success')
check('decryption helper round-trips', decrypt(enc, aesKeyFrom(aesKey), 'wx2c2769f8efd9abc2').xml.includes('你好'))

const docs = await fetch(`${base}/docs/json`).then((r) => r.json() as Promise<{ paths?: Record<string, unknown> }>, () => undefined)
check('/docs/json lists /api/channels', !!docs?.paths?.['/api/channels'])
const channels = await fetch(`${base}/api/channels`, { headers: { authorization: 'Bearer smoke-admin-token-0123456789' } }).then((r) => r.json() as Promise<{ items: { id: string }[] }>, () => undefined)
check('the environment channel is listed', channels?.items?.some((c) => c.id === 'default') === true)

// Bind flow through the binary: a code with its QR code from (sandbox) WeChat, our page with the SVG QR
// code (the QR library is bundled), a scan delivered in safe mode, the page's status route says bound.
const admin = { authorization: 'Bearer smoke-admin-token-0123456789', 'content-type': 'application/json' }
const created = await fetch(`${base}/api/bindcode`, { method: 'POST', headers: admin, body: JSON.stringify({ subject: 'u-smoke', label: '冒烟测试' }) })
  .then(async (r) => ({ status: r.status, body: (await r.json()) as { code: string; bindUrl: string; qr: { ticket: string } } }), () => undefined)
check('POST /api/bindcode creates a code with a QR ticket', created?.status === 201 && !!created.body.qr?.ticket, JSON.stringify(created))
const page = created ? await fetch(created.body.bindUrl).then((r) => r.text(), () => '') : ''
check('the bind page shows an inline SVG QR code and the label', page.includes('<svg id="qr"') && page.includes('冒烟测试'))
check('the bind page carries the PNG twin for a long press in WeChat (pngjs is bundled)', /<img id="qr-press" class="press" src="data:image\/png;base64,iVBOR/.test(page))
sandbox.setCallback('wx2c2769f8efd9abc2', { url: `${base}/wechat`, token: 'smoketoken', aesKey })
const scanned = created ? await sandbox.scan({ ticket: created.body.qr.ticket, openid: 'o_smoke_scan' }).catch((e: unknown) => ({ error: String(e) })) : undefined
check('a scan (safe mode) is answered 绑定成功', !!scanned && 'replyText' in scanned && scanned.replyText === '绑定成功', JSON.stringify(scanned))
const status = created ? await fetch(`${base}/bind/${created.body.code}/status`).then((r) => r.json() as Promise<{ status: string }>, () => undefined) : undefined
check('the bind status route says bound', status?.status === 'bound', JSON.stringify(status))

// Sending through the binary's outbox to the user just bound.
sandbox.addTemplate('wx2c2769f8efd9abc2', 'TPL_SMOKE')
const sent = await fetch(`${base}/api/send?wait=true`, { method: 'POST', headers: admin, body: JSON.stringify({ to: 'u-smoke', templateId: 'TPL_SMOKE', data: { thing1: '订单已支付' } }) })
  .then(async (r) => ({ status: r.status, body: (await r.json()) as { recipients?: { status: string }[] } }), () => undefined)
check('POST /api/send?wait=true reaches the bound user (sent)', sent?.status === 200 && sent.body.recipients?.[0]?.status === 'sent', JSON.stringify(sent))
check('the sandbox delivered it', sandbox.delivered('wx2c2769f8efd9abc2').some((d) => d.touser === 'o_smoke_scan' && d.template_id === 'TPL_SMOKE'))

const accessToken = sandbox.currentToken('wx2c2769f8efd9abc2') ?? 'no-token-was-fetched'
const code = await server.stop('SIGTERM')
check('SIGTERM stops it with exit 0', code === 0, `exit ${code}`)
await sandbox.stop()
const out = server.output()
for (const secret of ['smoke-app-secret', aesKey, 'smoke-admin-token-0123456789', accessToken]) check(`the log never shows a secret (${secret.slice(0, 5)}…)`, !out.includes(secret))
rmSync(dir, { recursive: true, force: true })
process.exit(failures ? 1 : 0)
