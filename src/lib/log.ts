/**
 * @module JSON-line logger with secrets redacted at the logger itself, so a careless call cannot leak
 * an AppSecret, access token, AES key or API key: known-sensitive field names are masked, registered
 * secret values are masked wherever they appear, and `access_token=` in URLs is masked.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  child(fields: Record<string, unknown>): Logger
  /** Would a line at this level be written? (to skip building costly fields on hot paths) */
  enabled(level: LogLevel): boolean
  /** Registers a secret value (AppSecret, token, key) to be masked in every later line. */
  addSecret(value: string | undefined | null): void
  /**
   * Sets the secret held in `slot` (e.g. `token:<channel>`), replacing (and forgetting) the slot's earlier
   * value: secrets that rotate (access tokens, a channel's changed AppSecret) do not pile up.
   */
  setSecret(slot: string, value: string | undefined | null): void
  /** The text with every known secret masked (for text that leaves the process other than by a log line). */
  redact(text: string): string
  /** How many distinct secrets are masked now (permanent ones and each slot's current value). */
  secretCount(): number
}

const SENSITIVE_KEY = /secret|password|passwd|token|aes_?key|aeskey|api_?key|authorization|cookie|encodingaeskey/i
const MASK = '[redacted]'

export interface LoggerOptions {
  level?: LogLevel
  write?: (line: string) => void
  now?: () => number
  base?: Record<string, unknown>
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')

export const createLogger = (opts: LoggerOptions = {}): Logger => {
  const secrets = new Set<string>()
  const slots = new Map<string, string>()
  // Every secret in one alternation, longest first (so a Token inside an AES key does not leave the key's
  // remainder readable), rebuilt only when the set changes: a line costs one regex pass whatever the
  // number of secrets. Every length is masked: WeChat callback Tokens can be 3 characters.
  let matcher: RegExp | null = null
  let stale = false
  const current = () => new Set([...secrets, ...slots.values()])
  const compiled = (): RegExp | null => {
    if (stale) {
      const all = [...current()].sort((a, b) => b.length - a.length)
      matcher = all.length ? new RegExp(all.map(escapeRegExp).join('|'), 'g') : null
      stale = false
    }
    return matcher
  }
  const state = {
    level: opts.level ?? 'info',
    write: opts.write ?? ((line: string) => process.stdout.write(line + '\n')),
    now: opts.now ?? (() => Date.now()),
  }

  const scrubString = (s: string): string => {
    const out = s.replace(/(access_token=)[^&\s"']+/gi, `$1${MASK}`)
    const m = compiled()
    return m ? out.replace(m, MASK) : out
  }

  const scrub = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return scrubString(v)
    if (v === null || typeof v !== 'object') return v
    if (depth > 6) return '[deep]'
    if (v instanceof Error) {
      return scrub({ name: v.name, message: v.message, code: (v as { code?: unknown }).code, stack: v.stack }, depth + 1)
    }
    if (Array.isArray(v)) return v.map((x) => scrub(x, depth + 1))
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) {
      // Keys like `tokenState` or `refreshedAt` are fine; mask only values that look like the secret itself.
      out[k] = SENSITIVE_KEY.test(k) && (typeof x === 'string' || typeof x === 'number') && !/state|status|expires|count|at$|id$/i.test(k) ? MASK : scrub(x, depth + 1)
    }
    return out
  }

  const make = (bound: Record<string, unknown>): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
      if (order[level] < order[state.level]) return
      // time and level are the logger's own: left unmasked, so a 3-character secret such as "000" cannot garble them.
      const rest = scrub({ msg, ...bound, ...(fields ?? {}) }, 0) as Record<string, unknown>
      state.write(JSON.stringify({ time: new Date(state.now()).toISOString(), level, ...rest }))
    }
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (f) => make({ ...bound, ...f }),
      enabled: (level) => order[level] >= order[state.level],
      addSecret: (value) => {
        if (!value || secrets.has(value)) return
        secrets.add(value)
        stale = true
      },
      setSecret: (slot, value) => {
        if ((value || undefined) === slots.get(slot)) return
        if (value) slots.set(slot, value)
        else slots.delete(slot)
        stale = true
      },
      redact: (text) => scrubString(text),
      secretCount: () => current().size,
    }
  }
  return make(opts.base ?? {})
}

/** A logger that keeps lines in memory; for tests that assert what was (not) logged. */
export const memoryLogger = (level: LogLevel = 'debug') => {
  const lines: string[] = []
  const logger = createLogger({ level, write: (l) => lines.push(l) })
  return { logger, lines }
}
