/**
 * @module What PostgreSQL's errors become: a connection failure is one 503 AppError (database_unavailable)
 * whose message names the server but never the password; any other error is the driver's PostgresError
 * itself, out of drizzle's DrizzleQueryError (whose message lists the query's parameters: an AppSecret, a
 * token). What Bun.SQL (Bun 1.4) throws, found by experiment (test/store/postgres-db.test.ts keeps it):
 * - every error is a PostgresError; `errno` holds the SQLSTATE (a string: '40P01', '23505'), `code` Bun's
 *   own name ('ERR_POSTGRES_SERVER_ERROR' for anything the server reported, 'ERR_POSTGRES_SYNTAX_ERROR').
 * - a server that is down: ERR_POSTGRES_CONNECTION_REFUSED ('Failed to connect', no errno); a pooled
 *   connection the server ended (pg_ctl stop): ERR_POSTGRES_SERVER_ERROR with errno 57P01, then
 *   ERR_POSTGRES_CONNECTION_CLOSED; a connect that takes too long: ERR_POSTGRES_CONNECTION_TIMEOUT.
 * - none of these messages contains the URL or the password (they are masked anyway).
 */
import { DrizzleQueryError } from 'drizzle-orm'
import { AppError } from '../../lib/errors'

/** Bun's codes of a connection that could not be made or was lost. */
const CONNECTION_CODES = new Set([
  'ERR_POSTGRES_CONNECTION_REFUSED', 'ERR_POSTGRES_CONNECTION_FAILED', 'ERR_POSTGRES_CONNECTION_CLOSED', 'ERR_POSTGRES_CONNECTION_TIMEOUT',
  'ERR_POSTGRES_IDLE_TIMEOUT', 'ERR_POSTGRES_LIFETIME_TIMEOUT', 'ERR_POSTGRES_TLS_NOT_AVAILABLE', 'ERR_POSTGRES_TLS_UPGRADE_FAILED',
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_SOCKET_CLOSED',
])
/**
 * SQLSTATEs of the same: class 08 (connection exception), 57P01-57P03 (the server shutting down, crashed,
 * starting), 53300 (too many connections), 28xxx (authentication: a wrong password in WXGATE_DB).
 */
const CONNECTION_STATES = /^(08...|57P0[123]|53300|28...)$/

/** The errors along e's cause chain (drizzle wraps the driver's error; AppError keeps its cause). */
const chain = (e: unknown): unknown[] => {
  const out: unknown[] = []
  for (let x = e; x && typeof x === 'object' && out.length < 5; x = (x as { cause?: unknown }).cause) out.push(x)
  return out
}

/** The SQLSTATE of e (or of its cause), if the server reported one. */
export const sqlState = (e: unknown): string | undefined => {
  for (const x of chain(e)) {
    const s = (x as { errno?: unknown }).errno
    if (typeof s === 'string' && /^[0-9A-Z]{5}$/.test(s)) return s
  }
  return undefined
}

export const isConnectionFailure = (e: unknown): boolean => chain(e).some((x) => {
  const code = (x as { code?: unknown }).code
  return (typeof code === 'string' && CONNECTION_CODES.has(code)) || CONNECTION_STATES.test(sqlState(x) ?? '')
})

/** A deadlock or a serialization failure: the transaction may simply be run again. */
export const isRetryable = (e: unknown): boolean => { const s = sqlState(e); return s === '40P01' || s === '40001' }

/** The password of a postgres:// URL (as written and decoded, and a `password=` parameter), for the logger's secrets. */
export const postgresSecrets = (url: string): string[] => {
  const out = new Set<string>()
  try {
    const u = new URL(url)
    if (u.password) { out.add(u.password); out.add(decodeURIComponent(u.password)) }
    const q = u.searchParams.get('password')
    if (q) out.add(q)
  } catch {
    const m = /^[a-z]+:\/\/[^:/@]*:([^@]*)@/i.exec(url)
    if (m?.[1]) out.add(m[1])
  }
  return [...out].filter((s) => s.length > 0)
}

/** The URL as logs and messages show it: the password replaced by ***. */
export const shownPostgresUrl = (url: string): string => {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    if (u.searchParams.has('password')) u.searchParams.set('password', '***')
    return u.toString().replace('%2A%2A%2A', '***')
  } catch {
    return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/i, '$1***@')
  }
}

/** The database cannot be reached (down, refused, reset, timed out, wrong credentials). */
export class DatabaseUnavailableError extends AppError {
  override name = 'DatabaseUnavailableError'
  constructor(shownUrl: string, cause: unknown, secrets: string[] = []) {
    let why = String((cause as Error)?.message ?? cause)
    for (const s of secrets) why = why.split(s).join('***')
    const state = sqlState(cause)
    super('database_unavailable', 503,
      `the PostgreSQL database ${shownUrl} (WXGATE_DB) is not answering (${why}${state ? `, SQLSTATE ${state}` : ''}): check that the server runs and accepts wxgate's connections, then retry`,
      { cause })
  }
}

/** The error a caller sees for e: a connection failure as DatabaseUnavailableError, anything else as the driver's error. */
export const toStoreError = (e: unknown, shownUrl: string, secrets: string[]): unknown => {
  if (e instanceof AppError) return e
  // Its name is plain 'Error': told by its class.
  const inner = e instanceof DrizzleQueryError && e.cause !== undefined ? e.cause : e
  return isConnectionFailure(inner) ? new DatabaseUnavailableError(shownUrl, inner, secrets) : inner
}
