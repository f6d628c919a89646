/**
 * @module Settings: one zod schema, read once from the environment (and `.env`). The only reader of
 * process.env. A bad value is reported as one line naming the variable; the CLI exits 2 on it.
 */
import { existsSync, readFileSync } from 'node:fs'
import { z } from 'zod'

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
  WXGATE_APPID: optionalString,
  WXGATE_APPSECRET: optionalString,
  WXGATE_TOKEN: optionalString,
  WXGATE_AES_KEY: optionalString.pipe(z.string().regex(/^[A-Za-z0-9]{43}$/, 'must be 43 characters of [A-Za-z0-9]').optional()),
  WXGATE_ALLOW_EMPTY_TOKEN: bool,
  // Sending (the outbox): per-channel rate and calls in flight, how long a message may keep retrying,
  // and how long finished messages are kept.
  WXGATE_SEND_RATE: posInt('must be a whole number of messages per second, 1 or more').default(20),
  WXGATE_SEND_CONCURRENCY: posInt('must be a whole number of calls in flight, 1 or more').default(8),
  WXGATE_SEND_MAX_AGE: posInt('must be a whole number of seconds, 1 or more').default(86_400),
  WXGATE_MESSAGE_RETENTION_DAYS: posInt('must be a whole number of days, 1 or more').default(30),
}).superRefine((c, ctx) => {
  // The environment's channel is all-or-nothing: a half-configured channel would fail at the first callback.
  const given = (['WXGATE_APPID', 'WXGATE_APPSECRET', 'WXGATE_TOKEN'] as const).filter((k) => c[k] !== undefined)
  const needed = c.WXGATE_ALLOW_EMPTY_TOKEN ? ['WXGATE_APPID', 'WXGATE_APPSECRET'] : ['WXGATE_APPID', 'WXGATE_APPSECRET', 'WXGATE_TOKEN']
  if (given.length > 0 || c.WXGATE_AES_KEY !== undefined) {
    for (const k of needed) {
      if (c[k as keyof typeof c] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is required when the environment defines a channel (WXGATE_APPID, WXGATE_APPSECRET, WXGATE_TOKEN)' })
    }
  }
})
export type Config = z.infer<typeof Config>

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
 * Validates the settings once. Real environment variables win over `.env` (as with dotenv); an empty
 * variable counts as unset.
 * Throws ConfigInvalid listing every bad variable, one line each.
 */
export const loadConfig = (env: Record<string, string | undefined> = process.env, dotenvPath = '.env'): Config => {
  const fromFile = dotenvPath && existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath, 'utf8')) : {}
  const merged: Record<string, string | undefined> = { ...fromFile }
  // An empty variable counts as unset (systemd units often carry `WXGATE_AES_KEY=`).
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v
  const r = Config.safeParse(merged)
  if (r.success) return r.data
  const lines = r.error.issues.map((i) => {
    const name = String(i.path[0] ?? 'settings')
    return `invalid setting ${name}: ${i.message}`
  })
  throw new ConfigInvalid([...new Set(lines)])
}
