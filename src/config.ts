/**
 * @module Settings: one zod schema, read once from the environment (and `.env`). The only reader of
 * process.env. A bad value is reported as one line naming the variable; the CLI exits 2 on it.
 */
import { existsSync, readFileSync } from 'node:fs'
import { z } from 'zod'
import { editDistance } from './lib/did-you-mean'
import { AppId } from './domain/channel.service'
import { isWebhookSecret } from './lib/standard-webhooks'

const optionalString = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional())
const bool = z.preprocess((v) => (v === undefined || v === '' ? 'false' : String(v).toLowerCase()), z.enum(['true', 'false', '1', '0', 'yes', 'no']))
  .transform((v) => v === 'true' || v === '1' || v === 'yes')

const posInt = (message: string) => z.coerce.number({ error: message }).int(message).min(1, message)

export const Config = z.object({
  WXGATE_HOST: z.string().min(1).default('127.0.0.1'),
  WXGATE_PORT: z.coerce.number({ error: 'must be a port number 0-65535' }).int('must be a port number 0-65535').min(0, 'must be a port number 0-65535').max(65535, 'must be a port number 0-65535').default(3000),
  WXGATE_DB: z.string().min(1).default('./data/wxgate.db'),
  WXGATE_ADMIN_TOKEN: optionalString.pipe(z.string().min(24, 'must be at least 24 characters').optional()),
  WXGATE_PUBLIC_URL: optionalString.pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional()),
  WXGATE_WECHAT_API: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).default('https://api.weixin.qq.com'),
  WXGATE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  WXGATE_CALLBACK_MAX_AGE: z.coerce.number({ error: 'must be a whole number of seconds' }).int('must be a whole number of seconds').min(0, 'must be 0 (off) or more seconds').default(300),
  WXGATE_TRUST_PROXY: z.string().default('loopback').transform((v, ctx) => {
    const s = v.trim()
    if (s === 'none' || s === 'loopback') return s
    const list = s.split(',').map((x) => x.trim()).filter(Boolean)
    if (list.length === 0 || list.some((a) => !z.union([z.ipv4(), z.ipv6()]).safeParse(a).success)) {
      ctx.addIssue({ code: 'custom', message: "must be 'none', 'loopback' or a comma-separated list of IP addresses" })
      return z.NEVER
    }
    return list
  }),
  WXGATE_CHANNEL: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of [A-Za-z0-9_-]').default('default'),
  WXGATE_APPID: optionalString.pipe(AppId.optional()),
  WXGATE_APPSECRET: optionalString,
  WXGATE_TOKEN: optionalString,
  WXGATE_AES_KEY: optionalString.pipe(z.string().regex(/^[A-Za-z0-9]{43}$/, 'must be 43 characters of [A-Za-z0-9]').optional()),
  // The environment's channel's display name (公众号名称), shown on the bind page ("关注「…」并完成绑定").
  WXGATE_CHANNEL_NAME: optionalString.pipe(z.string().trim().min(1).max(64, 'must be at most 64 characters').optional()),
  WXGATE_ALLOW_EMPTY_TOKEN: bool,
  // Lifetime of a bind code (and its QR code) when a request gives no ttlSeconds: within WeChat's limits
  // for a temporary QR code. 30 minutes: long enough to pass a link on in a chat and open it.
  WXGATE_BIND_TTL: z.coerce.number({ error: 'must be a whole number of seconds, 60-2592000' }).int('must be a whole number of seconds, 60-2592000')
    .min(60, 'must be a whole number of seconds, 60-2592000').max(2_592_000, 'must be a whole number of seconds, 60-2592000').default(1800),
  // Sending (the outbox): per-channel rate and calls in flight, how long a message may keep retrying,
  // and how long finished messages are kept.
  WXGATE_SEND_RATE: posInt('must be a whole number of messages per second, 1 or more').default(20),
  WXGATE_SEND_CONCURRENCY: posInt('must be a whole number of calls in flight, 1 or more').default(8),
  WXGATE_SEND_MAX_AGE: posInt('must be a whole number of seconds, 1 or more').default(86_400),
  WXGATE_MESSAGE_RETENTION_DAYS: posInt('must be a whole number of days, 1 or more').default(30),
  // The inbound history (GET /api/inbound): received messages and events are kept this long. The dedup
  // record they are stays at least 72 h whatever this says (WeChat's retries, SPEC §3).
  WXGATE_INBOUND_RETENTION_DAYS: posInt('must be a whole number of days, 1 or more').default(30),
  // How long a reply hook may take (SPEC §7): WeChat waits 5 s for the answer, and the rest of a callback needs some.
  WXGATE_REPLY_TIMEOUT_MS: z.coerce.number({ error: 'must be a whole number of milliseconds, 500-4000' }).int('must be a whole number of milliseconds, 500-4000')
    .min(500, 'must be a whole number of milliseconds, 500-4000').max(4000, 'must be a whole number of milliseconds, 500-4000').default(3000),
  // This instance's name among those of one PostgreSQL database (SPEC §8): the owner of its leases and claims.
  // Unset: a new random one at each start, so a restarted instance's claims from before are taken over once
  // their lease lapses (≤ 40 s). Set (unique per instance, stable across restarts, e.g. systemd's %H-%i): a
  // restarted instance takes its own back at once. Two running instances with one name would share claims.
  WXGATE_INSTANCE: optionalString.pipe(z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1-64 letters, digits or . _ : - (unique per instance, e.g. myhost-3000)').optional()),
  // One webhook endpoint for every event (SPEC §6), upserted at start. Decision: the secret is required with
  // the URL (never generated): the receiver must be configured with it too, and a generated one would have
  // to be logged, which no secret ever is.
  WXGATE_WEBHOOK_URL: optionalString.pipe(z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional()),
  WXGATE_WEBHOOK_SECRET: optionalString.pipe(z.string().refine(isWebhookSecret, 'must be whsec_ followed by the base64 of 24-64 random bytes, e.g. the output of: echo "whsec_$(openssl rand -base64 32)"').optional()),
}).superRefine((c, ctx) => {
  if (c.WXGATE_WEBHOOK_URL !== undefined && c.WXGATE_WEBHOOK_SECRET === undefined) {
    ctx.addIssue({ code: 'custom', path: ['WXGATE_WEBHOOK_SECRET'], message: 'is required with WXGATE_WEBHOOK_URL (the receiver verifies with it): make one with echo "whsec_$(openssl rand -base64 32)"' })
  }
  if (c.WXGATE_WEBHOOK_SECRET !== undefined && c.WXGATE_WEBHOOK_URL === undefined) {
    ctx.addIssue({ code: 'custom', path: ['WXGATE_WEBHOOK_URL'], message: 'is required with WXGATE_WEBHOOK_SECRET (where to deliver the events)' })
  }
  // The environment's channel is all-or-nothing: a half-configured channel would fail at the first callback.
  const given = (['WXGATE_APPID', 'WXGATE_APPSECRET', 'WXGATE_TOKEN'] as const).filter((k) => c[k] !== undefined)
  const needed = c.WXGATE_ALLOW_EMPTY_TOKEN ? ['WXGATE_APPID', 'WXGATE_APPSECRET'] : ['WXGATE_APPID', 'WXGATE_APPSECRET', 'WXGATE_TOKEN']
  if (given.length > 0 || c.WXGATE_AES_KEY !== undefined || c.WXGATE_CHANNEL_NAME !== undefined) {
    for (const k of needed) {
      if (c[k as keyof typeof c] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is required when the environment defines a channel (WXGATE_APPID, WXGATE_APPSECRET, WXGATE_TOKEN)' })
    }
  }
})
export type Config = z.infer<typeof Config>

const KNOWN = Object.keys(Config.shape)

/** Parses a `.env` file: KEY=value lines, `#` comments, optional single or double quotes. */
export const parseDotenv = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (!m) continue
    let v = m[2] ?? ''
    if ((v.startsWith('"') && v.endsWith('"') && v.length >= 2) || (v.startsWith("'") && v.endsWith("'") && v.length >= 2)) v = v.slice(1, -1)
    else v = v.replace(/\s+#.*$/, '')
    out[m[1]!] = v
  }
  return out
}

export class ConfigInvalid extends Error {
  override name = 'ConfigInvalid'
  constructor(readonly lines: string[]) {
    // One line on stderr however many settings are wrong, each naming its variable.
    super(lines.join('; '))
  }
}

/**
 * The environment wxgate was started with. Bun loads `.env` itself before our first line runs, expanding
 * `$` (`ab$cd` becomes `ab`), and puts it in process.env, where it would pass for real variables and win
 * over our literal reading. The package scripts, bunfig.toml and the build turn that off; for the paths
 * they cannot reach (`bun /path/to/main.ts` from another folder) it is undone here: on Linux the kernel
 * keeps the start environment in /proc/self/environ, which Bun's loading does not touch; elsewhere a key
 * of `.env` whose process.env value differs from the file's literal one while the file's holds a `$` is
 * taken for Bun's expansion (a real variable of the same name set to another value is the rarer case).
 */
export const startEnvironment = (dotenv: Record<string, string>, procEnviron = '/proc/self/environ'): Record<string, string | undefined> => {
  try {
    const out: Record<string, string> = {}
    for (const entry of readFileSync(procEnviron, 'utf8').split('\0')) {
      const i = entry.indexOf('=')
      if (i > 0) out[entry.slice(0, i)] = entry.slice(i + 1)
    }
    return out
  } catch {
    const out = { ...process.env }
    for (const [k, v] of Object.entries(dotenv)) if (v.includes('$') && out[k] !== v) delete out[k]
    return out
  }
}

/** A warning for each WXGATE_* name wxgate does not know (a typo would otherwise be ignored silently). */
const unknownNames = (names: Iterable<string>): string[] => {
  const out: string[] = []
  for (const name of names) {
    if (!name.startsWith('WXGATE_') || KNOWN.includes(name)) continue
    // SPEC §2: always name the nearest known setting (a flag suggestion, by contrast, is only made when it is close).
    const nearest = KNOWN.reduce((best, k) => (editDistance(name, k) < editDistance(name, best) ? k : best))
    out.push(`warning: unknown setting ${name} is ignored; did you mean ${nearest}?`)
  }
  return out.sort()
}

export interface Settings {
  config: Config
  /** Lines for stderr, once (unknown WXGATE_* names); the settings are usable as they are. */
  warnings: string[]
}

/**
 * Validates the settings once. Real environment variables win over `.env` (as with dotenv); an empty
 * variable counts as unset. Without `env`, the environment wxgate was started with (startEnvironment).
 * Throws ConfigInvalid listing every bad variable, one line each.
 */
export const loadSettings = (env?: Record<string, string | undefined>, dotenvPath = '.env'): Settings => {
  const fromFile = dotenvPath && existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath, 'utf8')) : {}
  const real = env ?? startEnvironment(fromFile)
  const merged: Record<string, string | undefined> = { ...fromFile }
  // An empty variable counts as unset (systemd units often carry `WXGATE_AES_KEY=`).
  for (const [k, v] of Object.entries(real)) if (v !== undefined && v !== '') merged[k] = v
  const r = Config.safeParse(merged)
  if (r.success) return { config: r.data, warnings: unknownNames(Object.keys(merged)) }
  const lines = r.error.issues.map((i) => {
    const name = String(i.path[0] ?? 'settings')
    return `invalid setting ${name}: ${i.message}`
  })
  throw new ConfigInvalid([...new Set(lines)])
}

/** loadSettings without the warnings (tests, the demo, the doctor). */
export const loadConfig = (env?: Record<string, string | undefined>, dotenvPath = '.env'): Config => loadSettings(env, dotenvPath).config
