/**
 * @module The two access-token endpoints and the token check every other endpoint starts with.
 * Stable tokens follow https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken
 * (PROTOCOL.md §5.1); cgi-bin/token follows Get_access_token (§5.2). The two families never affect each other.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'
import {
  type AccountState, type SandboxRequest, type SandboxState, type TokenKind, type TokenRecord,
  accountOrThrow, nextSeq, randomChars, shanghaiDay, TOKEN_ALPHABET,
} from './sandbox.state'
import { jsonAnswer, wxError } from './wx-reply'

/** The platform hands out a new stable token once the current one has 5 minutes or less to live. */
const RENEW_MARGIN_MS = 300_000
/** "≥30 s apart, otherwise it does not refresh". */
const FORCE_MIN_GAP_MS = 30_000
const FORCE_PER_DAY = 20
/** A cgi-bin/token token stays usable this long after the next one is issued. */
const PLAIN_OVERLAP_MS = 300_000

export const StableTokenBody = z.object({
  grant_type: z.string().optional(),
  appid: z.string().optional(),
  secret: z.string().optional(),
  force_refresh: z.boolean().optional(),
})
export type StableTokenBody = z.infer<typeof StableTokenBody>

const sameSecret = (a: string, b: string): boolean =>
  // Digests make the lengths equal, so the comparison leaks neither content nor length.
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())

/** The validation both token endpoints share; answers the account or an errcode. */
export const checkCredentials = (state: SandboxState, c: { grant_type?: string; appid?: string; secret?: string }): AccountState | number => {
  if (c.grant_type !== 'client_credential') return 40002
  return checkAppSecret(state, c.appid, c.secret)
}

/** AppID + AppSecret check, also used by clear_quota/v2. */
export const checkAppSecret = (state: SandboxState, appid: string | undefined, secret: string | undefined): AccountState | number => {
  if (!appid) return 41002
  if (!secret) return 41004
  const acc = state.accounts.get(appid)
  if (!acc) return 40013
  if (!sameSecret(secret, acc.account.appSecret)) return 40125
  return acc
}

const issue = (state: SandboxState, acc: AccountState, kind: TokenKind, now: number): TokenRecord => {
  // Real tokens look like "86_…" and are well over 100 characters; the sequence suffix keeps them unique
  // even when a test injects a constant random.
  const prefix = kind === 'stable' ? '86_' : '85_'
  const token = `${prefix}${randomChars(state, TOKEN_ALPHABET, 128)}${nextSeq(state).toString(36)}`
  const rec: TokenRecord = { token, appId: acc.account.appId, kind, expiresAt: now + state.ttlSeconds * 1000, revoked: false, expiredByHand: false }
  state.tokens.set(token, rec)
  return rec
}

const isAlive = (rec: TokenRecord | undefined, now: number): rec is TokenRecord =>
  rec !== undefined && !rec.revoked && !rec.expiredByHand && now < rec.expiresAt

const validStable = (state: SandboxState, acc: AccountState, now: number): TokenRecord | undefined => {
  const rec = acc.stableCurrent === undefined ? undefined : state.tokens.get(acc.stableCurrent)
  return isAlive(rec, now) ? rec : undefined
}

const tokenAnswer = (rec: TokenRecord, now: number): Response =>
  jsonAnswer({ access_token: rec.token, expires_in: Math.floor((rec.expiresAt - now) / 1000) })

const issueStable = (state: SandboxState, acc: AccountState, now: number): Response => {
  const rec = issue(state, acc, 'stable', now)
  acc.stableCurrent = rec.token
  return tokenAnswer(rec, now)
}

const forceRefresh = (state: SandboxState, acc: AccountState, now: number): Response => {
  const current = validStable(state, acc, now)
  if (current && acc.lastForceAt !== undefined && now - acc.lastForceAt < FORCE_MIN_GAP_MS) {
    // Too soon after the last forced refresh: WeChat silently does not refresh, and it does not count.
    return tokenAnswer(current, now)
  }
  const day = shanghaiDay(now)
  if (acc.forceDay !== day) {
    acc.forceDay = day
    acc.forceCount = 0
  }
  if (acc.forceCount >= FORCE_PER_DAY) return wxError(state.random, 45009)
  for (const rec of state.tokens.values()) {
    // Only live ones: an already expired token keeps answering 42001.
    if (rec.appId === acc.account.appId && rec.kind === 'stable' && isAlive(rec, now)) rec.revoked = true
  }
  acc.forceCount++
  acc.lastForceAt = now
  return issueStable(state, acc, now)
}

export const handleStableToken = (state: SandboxState, req: SandboxRequest): Response => {
  const parsed = readPost(state, req, StableTokenBody)
  if (parsed instanceof Response) return parsed
  const acc = checkCredentials(state, parsed.data)
  if (typeof acc === 'number') return wxError(state.random, acc)
  const now = state.clock.now()
  if (parsed.data.force_refresh === true) return forceRefresh(state, acc, now)
  const current = validStable(state, acc, now)
  if (current && current.expiresAt - now > RENEW_MARGIN_MS) return tokenAnswer(current, now)
  // In its last 5 minutes the old token is left alone: it stays valid until its own expiry.
  return issueStable(state, acc, now)
}

export const handleToken = (state: SandboxState, req: SandboxRequest): Response => {
  const { grant_type, appid, secret } = req.query
  const acc = checkCredentials(state, { grant_type, appid, secret })
  if (typeof acc === 'number') return wxError(state.random, acc)
  const now = state.clock.now()
  const previous = acc.plainCurrent === undefined ? undefined : state.tokens.get(acc.plainCurrent)
  if (previous && previous.supersededAt === undefined) previous.supersededAt = now + PLAIN_OVERLAP_MS
  const rec = issue(state, acc, 'plain', now)
  acc.plainCurrent = rec.token
  return tokenAnswer(rec, now)
}

/**
 * The preamble of a JSON POST endpoint, in WeChat's order: the method (43002), then the token when
 * the endpoint takes one, then the body's shape (47001). The parsed body (and account), or the error answer.
 */
export const readPost = <S extends z.ZodType>(state: SandboxState, req: SandboxRequest, schema: S): { data: z.infer<S> } | Response => {
  if (req.method !== 'POST') return wxError(state.random, 43002)
  const parsed = schema.safeParse(req.json)
  if (!req.jsonOk || !parsed.success) return wxError(state.random, 47001)
  return { data: parsed.data }
}

export const readAuthedPost = <S extends z.ZodType>(state: SandboxState, req: SandboxRequest, schema: S): { acc: AccountState; data: z.infer<S> } | Response => {
  if (req.method !== 'POST') return wxError(state.random, 43002)
  const acc = checkAccessToken(state, req)
  if (acc instanceof Response) return acc
  const body = readPost(state, req, schema)
  return body instanceof Response ? body : { acc, data: body.data }
}

/** The check in front of every token-protected endpoint: the account, or the error answer. */
export const checkAccessToken = (state: SandboxState, req: SandboxRequest): AccountState | Response => {
  const token = req.query.access_token
  if (!token) return wxError(state.random, 41001)
  const rec = state.tokens.get(token)
  if (!rec || rec.revoked) return wxError(state.random, 40001)
  const now = state.clock.now()
  if (rec.expiredByHand || now >= rec.expiresAt) return wxError(state.random, 42001)
  // A replaced cgi-bin/token token is "not latest", not expired.
  if (rec.supersededAt !== undefined && now >= rec.supersededAt) return wxError(state.random, 40001)
  return accountOrThrow(state, rec.appId)
}

const liveTokensOf = (state: SandboxState, appId: string | undefined): TokenRecord[] => {
  if (appId !== undefined) accountOrThrow(state, appId)
  const now = state.clock.now()
  return [...state.tokens.values()].filter((rec) => (appId === undefined || rec.appId === appId) && isAlive(rec, now))
}

export const revokeTokens = (state: SandboxState, appId?: string): void => {
  for (const rec of liveTokensOf(state, appId)) rec.revoked = true
}

export const expireTokens = (state: SandboxState, appId?: string): void => {
  for (const rec of liveTokensOf(state, appId)) rec.expiredByHand = true
}

export const currentStableToken = (state: SandboxState, appId: string): string | undefined =>
  validStable(state, accountOrThrow(state, appId), state.clock.now())?.token

export const forceRefreshesToday = (state: SandboxState, appId: string): number => {
  const acc = accountOrThrow(state, appId)
  return acc.forceDay === shanghaiDay(state.clock.now()) ? acc.forceCount : 0
}
