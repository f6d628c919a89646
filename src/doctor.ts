/**
 * @module `wxgate doctor`: checks one channel for real, one line per check on stdout —
 * `ok   <check>: <detail>`, `warn <check>: <detail>` (does not fail) or `FAIL <check>: <detail and what to do>`.
 * The credentials check calls WeChat's stable_token (normal mode, which never replaces a token in use);
 * `--url` sends the GET that WeChat's "提交" in the admin sends. Returns 0 without a FAIL, 1 otherwise.
 * Never prints the AppSecret, the callback token, the EncodingAESKey or an access token.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { existsSync } from 'node:fs'
import type { Config } from './config'
import { createDeps, upsertEnvChannel, type Deps } from './deps'
import type { Channel } from './domain/channel.service'
import { QuotaExhaustedError } from './domain/token.service'
import { memoryLogger } from './lib/log'
import { nextShanghaiMidnight } from './lib/shanghai-day'
import type { Db } from './store/contract'
import { isPostgresUrl, shownDb } from './store/open'
import { openPostgres, postgresSecrets, type PostgresDb } from './store/postgres/db'
import { migrations as embeddedPostgres } from './store/postgres/migrations.manifest'
import { openDb, type SqliteDb } from './store/sqlite/db'
import { migrate } from './store/sqlite/migrate'
import { migrations as embedded } from './store/sqlite/migrations.manifest'
import { WeChatApiError } from './wechat-api/client'
import { aesKeyFrom } from './wechat/crypto'
import { errcodeInfo, ipFromErrmsg } from './wechat/errcodes'
import { sha1Signature } from './wechat/signature'

export interface DoctorOptions {
  /** The channel to check; default WXGATE_CHANNEL. */
  channel?: string
  /** The public callback URL, e.g. https://your.domain/wechat: checked with a signed echostr GET. */
  url?: string
  /** Where lines go; default stdout. */
  out?: (line: string) => void
  /** For the callback URL; default 5000. */
  timeoutMs?: number
}

type Status = 'ok' | 'warn' | 'FAIL'
const PREFIX: Record<Status, string> = { ok: 'ok  ', warn: 'warn', FAIL: 'FAIL' }

const WHITELIST = '公众号后台 → 设置与开发 → 基本配置 → IP白名单'
const CREDENTIALS = '公众号后台 → 设置与开发 → 基本配置'

/** One line of text: whitespace collapsed, at most `max` characters. */
const excerpt = (s: string, max: number): string => {
  const one = s.replace(/\s+/g, ' ').trim()
  return one.length > max ? `${one.slice(0, max - 1)}…` : one
}

const errorText = (e: unknown): string => {
  const err = e as { message?: unknown; code?: unknown } | undefined
  const msg = typeof err?.message === 'string' ? err.message : String(e)
  return typeof err?.code === 'string' && !msg.includes(err.code) ? `${err.code}: ${msg}` : msg
}

export const runDoctor = async (config: Config, opts: DoctorOptions = {}): Promise<number> => {
  const secrets = new Set<string>()
  const { line, failed } = lineWriter(opts.out ?? ((l: string) => process.stdout.write(l + '\n')), secrets)
  for (const s of [config.WXGATE_APPSECRET, config.WXGATE_TOKEN, config.WXGATE_AES_KEY, config.WXGATE_ADMIN_TOKEN, ...postgresSecrets(config.WXGATE_DB)]) if (s) secrets.add(s)

  // 1. settings (loadConfig already succeeded, or the CLI would have exited 2)
  const dbShown = shownDb(config.WXGATE_DB)
  const official = new URL(config.WXGATE_WECHAT_API).hostname === 'api.weixin.qq.com'
  line('ok', 'settings', `db ${dbShown}, WeChat API ${config.WXGATE_WECHAT_API}${official ? '' : ' (not api.weixin.qq.com: a sandbox or a proxy)'}`)

  // 2. database
  const db = isPostgresUrl(config.WXGATE_DB) ? await checkPostgres(config.WXGATE_DB, line) : checkDatabase(config.WXGATE_DB, line)
  if (!db) return 1

  let deps: Deps | undefined
  try {
    // The library logs nothing here: every problem it meets is reported as a check line.
    deps = createDeps(config, { db, log: memoryLogger('warn').logger })
    await deps.ready
    await checkChannel(deps, opts, line, secrets)
    return failed() ? 1 : 0
  } finally {
    if (deps) await deps.db.tx(() => undefined).catch(() => undefined)
    await db.close()
  }
}

type Line = (status: Status, check: string, detail: string) => void

/** The check lines, written to `write`; whether one FAILed. A last guard: whatever a message carries, a secret is never printed. */
const lineWriter = (write: (line: string) => void, secrets: Set<string>): { line: Line; failed: () => boolean } => {
  let failed = false
  const line: Line = (status, check, detail) => {
    if (status === 'FAIL') failed = true
    let text = `${PREFIX[status]} ${check}: ${detail}`
    for (const s of secrets) if (s.length >= 6) text = text.split(s).join('[redacted]')
    write(text)
  }
  return { line, failed: () => failed }
}

/**
 * The channel checks of `wxgate doctor` (from "channel" on: credentials for real, the token, the callback URL) on a
 * running gateway's own deps, for the console: its lines (secrets redacted) and whether one FAILed.
 */
export const doctorChannel = async (deps: Deps, opts: Pick<DoctorOptions, 'channel' | 'url' | 'timeoutMs'> & { skipEnvChannel?: boolean } = {}): Promise<{ lines: string[]; failed: boolean }> => {
  const lines: string[] = []
  const secrets = new Set<string>()
  for (const s of [deps.config.WXGATE_APPSECRET, deps.config.WXGATE_TOKEN, deps.config.WXGATE_AES_KEY, deps.config.WXGATE_ADMIN_TOKEN]) if (s) secrets.add(s)
  const { line, failed } = lineWriter((l) => lines.push(l), secrets)
  await checkChannel(deps, opts, line, secrets)
  return { lines, failed: failed() }
}

/** PostgreSQL: connects, migrates (under the migration lock), and names the server and what is applied. */
const checkPostgres = async (url: string, line: Line): Promise<Db | undefined> => {
  let db: PostgresDb | undefined
  try {
    db = await openPostgres(url, { max: 2 })
    const applied = await db.migrate()
    const { migrations: names, version } = await db.check()
    const known = new Set(embeddedPostgres.map((m) => m.name))
    const unknown = names.filter((n) => !known.has(n))
    const parts = [`PostgreSQL ${version}`, `${names.length} migrations applied${applied.length ? ` (${applied.length} just now)` : ''}`]
    if (Number.parseInt(version, 10) < 14) line('warn', 'database', `${parts.join(', ')}; wxgate is tested on PostgreSQL 14 and later`)
    else if (unknown.length) line('warn', 'database', `${parts.join(', ')}; migrations this version does not know: ${unknown.join(', ')} (written by a newer wxgate?)`)
    else line('ok', 'database', parts.join(', '))
    return db
  } catch (e) {
    line('FAIL', 'database', `cannot open or migrate ${shownDb(url)}: ${excerpt(errorText(e), 160)}`)
    await db?.close().catch(() => undefined)
    return undefined
  }
}

const checkDatabase = (path: string, line: Line): Db | undefined => {
  let db: SqliteDb | undefined
  try {
    const existed = path === ':memory:' || existsSync(path)
    db = openDb(path)
    const applied = migrate(db.sqlite)
    const names = (db.sqlite.query('SELECT name FROM _wxgate_migrations').all() as { name: string }[]).map((r) => r.name)
    const known = new Set(embedded.map((m) => m.name))
    const unknown = names.filter((n) => !known.has(n))
    const check = (db.sqlite.query('PRAGMA quick_check').all() as { quick_check: string }[]).map((r) => r.quick_check)
    const journal = String((db.sqlite.query('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode)
    const parts = [
      `${names.length} migrations applied${applied.length ? ` (${applied.length} just now${existed ? '' : ', new database'})` : ''}`,
      `quick_check ${check.length === 1 && check[0] === 'ok' ? 'ok' : 'FAILED'}`,
      `${journal.toUpperCase()} mode`,
    ]
    if (check.length !== 1 || check[0] !== 'ok') {
      line('FAIL', 'database', `quick_check: ${excerpt(check.join('; '), 90)} — the file is damaged: stop wxgate and restore a backup`)
      void db.close()
      return undefined
    }
    if (unknown.length) line('warn', 'database', `${parts.join(', ')}; migrations this version does not know: ${unknown.join(', ')} (written by a newer wxgate?)`)
    else if (journal.toLowerCase() !== 'wal' && path !== ':memory:') line('warn', 'database', `${parts.join(', ')}; not WAL: is the file on a network filesystem? use a local disk`)
    else line('ok', 'database', parts.join(', '))
    return db
  } catch (e) {
    line('FAIL', 'database', `cannot open or migrate ${path}: ${excerpt(errorText(e), 80)} — check the path, its folder's permissions and free space`)
    void db?.close()
    return undefined
  }
}

/** Checks 3-6 for one channel (without the channel, 4-6 cannot run). */
const checkChannel = async (deps: Deps, opts: DoctorOptions & { skipEnvChannel?: boolean }, line: Line, secrets: Set<string>): Promise<void> => {
  const config = deps.config
  const id = opts.channel ?? config.WXGATE_CHANNEL

  // 3. channel, callback token, aes-key. (A running gateway wrote the environment's channel at its start; the
  // console's doctor does not write it again: it would undo a change made through the API since.)
  try {
    if (!opts.skipEnvChannel) await upsertEnvChannel(deps)
  } catch (e) {
    line('FAIL', 'channel', `the environment's channel '${config.WXGATE_CHANNEL}' is refused: ${excerpt(errorText(e), 80)} — fix WXGATE_APPID/APPSECRET/TOKEN/AES_KEY`)
  }
  const channel = deps.channels.get(id)
  if (!channel) {
    const known = deps.channels.list().map((c) => c.id)
    line('FAIL', 'channel', `no channel '${id}' (known: ${known.length ? excerpt(known.join(', '), 60) : 'none'}) — set WXGATE_APPID/APPSECRET/TOKEN or run 'wxgate channel add'`)
    return
  }
  for (const s of [channel.appSecret, channel.token, channel.aesKey]) if (s) secrets.add(s)
  line('ok', 'channel', `'${channel.id}' appId ${channel.appId}, ${channel.mode} mode`)
  checkCallbackToken(channel, config.WXGATE_ALLOW_EMPTY_TOKEN, line)
  checkAesKey(channel, line)

  // 4. appid/appsecret, for real
  await checkCredentials(deps, channel, line, secrets)

  // 5. token state
  const s = await deps.tokens.status(channel.id)
  const err = s.lastError ? `; last error ${s.lastError.errcode ?? 'network'} at ${s.lastError.at}` : ''
  const detail = `${s.state}, refreshes today ${s.refreshesToday}, forced today ${s.forceRefreshesToday}${s.expiresAt ? `, expires ${s.expiresAt}` : ''}${err}`
  line(s.state === 'ok' ? 'ok' : s.state === 'refreshing' ? 'warn' : 'FAIL', 'token state', detail)

  // 6. callback url
  if (opts.url !== undefined) await checkCallbackUrl(channel, opts.url, opts.timeoutMs ?? 5000, line)
}

const checkCallbackToken = (c: Channel, allowEmpty: boolean, line: Line) => {
  if (c.token === '') {
    if (allowEmpty) line('warn', 'callback token', 'empty (WXGATE_ALLOW_EMPTY_TOKEN): anyone can forge callbacks; set a 3-32 letter/digit token')
    else line('FAIL', 'callback token', 'empty: set the same 3-32 letters/digits as Token in 公众号后台 → 设置与开发 → 基本配置')
  } else if (/^[A-Za-z0-9]{3,32}$/.test(c.token)) {
    line('ok', 'callback token', `${c.token.length} letters/digits`)
  } else {
    line('FAIL', 'callback token', `${c.token.length} characters, not 3-32 letters/digits: WeChat's admin refuses such a Token; set a valid one`)
  }
}

const checkAesKey = (c: Channel, line: Line) => {
  if (!c.aesKey) {
    line('warn', 'aes-key', 'not set: plaintext mode, messages travel unencrypted (set the EncodingAESKey for safe mode)')
    return
  }
  try {
    const key = aesKeyFrom(c.aesKey)
    line('ok', 'aes-key', `${c.aesKey.length} characters, decodes to ${key.length} bytes (safe mode)`)
  } catch {
    line('FAIL', 'aes-key', `${c.aesKey.length} characters, not a valid EncodingAESKey (43 letters/digits): copy it again from ${CREDENTIALS}`)
  }
}

/**
 * A token through the token service (which calls stable_token when it has none stored). When a stored
 * token answered, stable_token is called once more in normal mode — it returns the same token, replaces
 * nothing — so that the AppSecret and the IP whitelist are checked now, not when the token was stored.
 */
const checkCredentials = async (deps: Deps, c: Channel, line: Line, secrets: Set<string>) => {
  const check = 'appid/appsecret'
  const api = deps.config.WXGATE_WECHAT_API
  try {
    const before = (await deps.tokens.status(c.id)).refreshedAt
    const t = await deps.tokens.getToken(c.id)
    secrets.add(t.accessToken)
    const fetched = (await deps.tokens.status(c.id)).refreshedAt !== before
    if (!fetched) {
      const live = await deps.wechat.stableToken({ appId: c.appId, secret: c.appSecret, forceRefresh: false })
      secrets.add(live.access_token)
    }
    line('ok', check, `${fetched ? 'WeChat issued an access token' : 'WeChat accepts them (stable_token); stored access token'} valid until ${new Date(t.expiresAt).toISOString()}`)
  } catch (e) {
    if (e instanceof QuotaExhaustedError) {
      const until = (e.details as { until?: string } | undefined)?.until
      line('FAIL', check, `45009 quota exhausted until ${until} (no token calls meanwhile) — wait, or POST /api/channels/${c.id}/clear-quota`)
    } else if (e instanceof WeChatApiError && e.errcode !== undefined) {
      line('FAIL', check, `errcode ${e.errcode} ${excerpt(e.errmsg, 100)} — ${credentialHint(e, c, deps.clock.now())}`)
    } else if (e instanceof WeChatApiError && e.httpStatus !== undefined) {
      line('FAIL', check, `${api} answered HTTP ${e.httpStatus} (${excerpt(e.errmsg, 60)}) — is WXGATE_WECHAT_API right, or a proxy in the way?`)
    } else if (e instanceof WeChatApiError) {
      line('FAIL', check, `cannot reach ${api}: ${excerpt(e.errmsg, 100)} — check DNS, firewall and outbound proxy`)
    } else {
      line('FAIL', check, excerpt(errorText(e), 140))
    }
  }
}

const credentialHint = (e: WeChatApiError, c: Channel, now: number): string => {
  switch (e.errcode) {
    case 40164: {
      const ip = ipFromErrmsg(e.errmsg)
      return `add ${ip ?? 'this server\'s public IP'} to the IP whitelist (${WHITELIST})`
    }
    case 40125:
    case 40013:
    case 40001:
    case 41002:
    case 41004:
      return `check AppID/AppSecret (${CREDENTIALS}; resetting the AppSecret there voids the old one)`
    case 45009:
      return `quota exhausted until ${new Date(nextShanghaiMidnight(now)).toISOString()} — wait, or POST /api/channels/${c.id}/clear-quota`
    default:
      return e.hint ?? errcodeInfo(e.errcode!).meaning
  }
}

/** A connection failure in a few words: the code says more than Bun's message. */
const connectError = (e: unknown): string => {
  const code = (e as { code?: unknown })?.code
  if (code === 'ECONNREFUSED' || code === 'ConnectionRefused') return `connection refused (${code}): nothing listens on that port`
  if (code === 'ENOTFOUND' || code === 'EAI_NONAME' || code === 'DNSException') return `the name does not resolve (${code})`
  if (typeof code === 'string' && /CERT|TLS|SSL|SELF_SIGNED|ALTNAME/i.test(code)) return `TLS certificate refused (${code})`
  return excerpt(errorText(e), 70)
}

const checkCallbackUrl = async (c: Channel, url: string, timeoutMs: number, line: Line) => {
  const check = 'callback url'
  let u: URL
  try {
    u = new URL(url)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)')
  } catch {
    line('FAIL', check, `${excerpt(url, 80)} is not an http(s) URL — give it as in the admin, e.g. https://your.domain/wechat`)
    return
  }
  const timestamp = String(Math.floor(Date.now() / 1000))
  const nonce = String(randomInt(1_000_000_000, 9_999_999_999))
  const echostr = randomBytes(12).toString('hex')
  u.searchParams.set('signature', sha1Signature([c.token, timestamp, nonce]))
  u.searchParams.set('timestamp', timestamp)
  u.searchParams.set('nonce', nonce)
  u.searchParams.set('echostr', echostr)
  const shown = excerpt(`${u.origin}${u.pathname}`, 60)
  const started = Date.now()
  let status: number
  let body: string
  let location: string | null
  try {
    const res = await fetch(u, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) })
    status = res.status
    location = res.headers.get('location')
    body = await res.text()
  } catch (e) {
    const name = (e as Error)?.name
    if (name === 'TimeoutError' || name === 'AbortError') {
      line('FAIL', check, `${shown}: no answer within ${timeoutMs / 1000} s — a firewall dropping, or nginx not forwarding to wxgate?`)
    } else {
      line('FAIL', check, `${shown}: ${connectError(e)} — check DNS, firewall, nginx and the TLS certificate`)
    }
    return
  }
  const ms = Date.now() - started
  if (status === 200 && body === echostr) {
    line('ok', check, `${shown} answered the echostr (HTTP 200, ${ms} ms)`)
    return
  }
  const got = `HTTP ${status}${body ? ` ${JSON.stringify(excerpt(body, 60))}` : ''}`
  const hint =
    status === 200 ? 'not the echostr: something else answers this URL (another app, a proxy page?)'
    : status === 401 ? `token mismatch (the gateway's Token for this path differs from channel '${c.id}') or clock skew (check NTP)`
    : status === 404 ? `wrong channel path: use /wechat/${c.id}${c.id === 'default' ? ' or /wechat' : ''}`
    : status >= 300 && status < 400 ? `redirects to ${excerpt(location ?? '?', 50)}; WeChat does not follow redirects: give the final URL`
    : status === 502 || status === 503 || status === 504 ? 'the proxy cannot reach wxgate: is it running, and does nginx proxy_pass to its port?'
    : 'WeChat needs HTTP 200 with exactly the echostr'
  line('FAIL', check, `${shown}: ${got} — ${hint}`)
}
