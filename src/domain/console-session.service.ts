/**
 * @module Console sessions (SPEC §9): signed in with an API key (`read` or `admin`), kept in the database (so that
 * two instances share them), ended after 12 h idle, at sign-out, and at once when the key is revoked (its
 * principal is looked up on every request). The cookie holds a random token; the row only its sha256. Each session
 * has a CSRF token that every change must carry.
 */
import { timingSafeEqual } from 'node:crypto'
import type { Clock } from '../lib/clock'
import { ForbiddenError, UnauthorizedError } from '../lib/errors'
import type { Random } from '../lib/random'
import type { Db } from '../store/contract'
import { hasScope, sha256, type ApiKeyService, type Principal } from './apikey.service'

/** SPEC §9: a session ends after this long without a request. */
export const CONSOLE_IDLE_MS = 12 * 3600_000
/** A sign-in link (`wxgate demo`) works once, within this long. */
export const SIGN_IN_LINK_MS = 10 * 60_000
/** A session's last use is written at most this often (a page view is no write otherwise). */
const TOUCH_EVERY_MS = 60_000

const token = (random: Random) => Buffer.from(random.bytes(32)).toString('base64url')

export interface ConsoleSession {
  /** The session's row id (the token's sha256). */
  id: string
  csrf: string
  principal: Principal
  /** May change things (an `admin` key); `read` keys only look. */
  canChange: boolean
}

export const createConsoleSessionService = (deps: { db: Db; clock: Clock; random: Random; apiKeys: ApiKeyService; idleMs?: number }) => {
  const { db, clock, random, apiKeys } = deps
  const idleMs = deps.idleMs ?? CONSOLE_IDLE_MS
  /** Sign-in links of this process: the link's hash → the session's cookie token. Used once, never stored. */
  const links = new Map<string, { token: string; until: number }>()

  const signIn = async (apiKey: string): Promise<{ token: string; session: ConsoleSession }> => {
    const principal = await apiKeys.authenticate(apiKey.trim() || undefined)
    if (!hasScope(principal, 'read')) throw new ForbiddenError('this API key has neither the read nor the admin scope: the console needs one of them')
    const t = token(random)
    const now = clock.now()
    const row = { id: sha256(t), keyId: apiKeys.sessionKeyIdOf(principal), csrf: token(random), createdAt: now, lastSeenAt: now }
    await db.tx((s) => s.consoleSessions.insert(row))
    return { token: t, session: { id: row.id, csrf: row.csrf, principal, canChange: hasScope(principal, 'admin') } }
  }

  return {
    /**
     * Signs in with an API key: the cookie's token and the session. A key without `read` (nor `admin`) cannot
     * open the console: 403. A wrong or revoked key: 401 (the same answer for both, as the API gives).
     */
    signIn,

    /**
     * A link that signs in once (`wxgate demo` prints one): a session opened now with this key, handed to the
     * first browser that opens the link within SIGN_IN_LINK_MS. Kept in this process only.
     */
    signInLink: async (apiKey: string): Promise<string> => {
      const { token: t } = await signIn(apiKey)
      const once = token(random)
      links.set(sha256(once), { token: t, until: clock.now() + SIGN_IN_LINK_MS })
      return once
    },
    /** The session token of a sign-in link, once; undefined for an unknown, used or expired link. */
    redeemLink: (once: string): string | undefined => {
      const key = sha256(once)
      const l = links.get(key)
      links.delete(key)
      return l && l.until > clock.now() ? l.token : undefined
    },

    /** The session of a cookie's token, or undefined (none, idle too long, or its key revoked: then it is deleted). */
    resolve: async (cookieToken: string | undefined): Promise<ConsoleSession | undefined> => {
      if (!cookieToken) return undefined
      const id = sha256(cookieToken)
      const row = await db.read.consoleSessions.get(id)
      if (!row) return undefined
      const now = clock.now()
      const principal = now - row.lastSeenAt <= idleMs ? await apiKeys.principalOf(row.keyId) : undefined
      if (!principal || !hasScope(principal, 'read')) {
        await db.tx((s) => s.consoleSessions.delete(id))
        return undefined
      }
      if (now - row.lastSeenAt >= TOUCH_EVERY_MS) await db.tx((s) => s.consoleSessions.touch(id, now))
      return { id, csrf: row.csrf, principal, canChange: hasScope(principal, 'admin') }
    },

    signOut: async (session: ConsoleSession): Promise<void> => {
      await db.tx((s) => s.consoleSessions.delete(session.id))
    },

    /** A change: the session's CSRF token must come with it, and the key must be allowed to change things. */
    checkChange: (session: ConsoleSession, csrf: string | undefined): void => {
      const a = Buffer.from(session.csrf)
      const b = Buffer.from(csrf ?? '')
      if (a.length !== b.length || !timingSafeEqual(a, b)) throw new ForbiddenError('the form is stale or came from elsewhere (CSRF token missing or wrong): reload the page and try again')
      if (!session.canChange) throw new ForbiddenError('this API key may only look (read): changes need an admin key')
    },

    prune: async (): Promise<number> => db.tx((s) => s.consoleSessions.pruneIdle(clock.now() - idleMs)),
  }
}
export type ConsoleSessionService = ReturnType<typeof createConsoleSessionService>

/** For the sign-in form: a 401 or 403 from signIn, said to the operator. */
export const isSignInRefusal = (e: unknown): e is UnauthorizedError | ForbiddenError => e instanceof UnauthorizedError || e instanceof ForbiddenError
