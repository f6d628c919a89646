/**
 * @module The access token, owned for the whole team (after silenceper/wechat's credential/ and the
 * stable_token rules of PROTOCOL.md §5.1):
 * - fetched from stable_token in normal mode, stored in SQLite, reused after a restart while valid;
 * - refreshed by the in-process scheduler in its last 300 s (with jitter), retried with backoff; a
 *   failed refresh never replaces a good token;
 * - one fetch at a time per channel however many callers wait (single flight);
 * - on 40001/40014/42001: forget the token only if it is still the failing one (compare-and-set), fetch
 *   in normal mode (another party's forced refresh is then already visible), and only if that returns
 *   the same failing token, one force_refresh — at most one per 30 s and 20 a day, counted in SQLite;
 * - 45009 puts the channel in quota_exhausted until 00:00 Asia/Shanghai or a successful clear-quota,
 *   and no token calls are made meanwhile.
 */
import type { Clock } from '../lib/clock'
import { AppError, NotFoundError } from '../lib/errors'
import type { Logger } from '../lib/log'
import type { Random } from '../lib/random'
import { nextShanghaiMidnight, shanghaiDay } from '../lib/shanghai-day'
import { createSingleFlight } from '../lib/single-flight'
import type { Db } from '../store/db'
import { tokensRepo, type TokenRow } from '../store/tokens.repo'
import { WeChatApiError, type WeChatClient } from '../wechat-api/client'
import type { Channel, ChannelService } from './channel.service'

/** stable_token hands out a new token only in the last 300 s of the old one. */
export const REFRESH_WINDOW_MS = 300_000
export const FORCE_MIN_INTERVAL_MS = 30_000
export const FORCE_MAX_PER_DAY = 20

export type TokenState = 'ok' | 'refreshing' | 'failing' | 'quota_exhausted'

export interface TokenStatus {
  channel: string
  state: TokenState
  expiresAt: string | null
  refreshedAt: string | null
  refreshesToday: number
  forceRefreshesToday: number
  lastError?: { errcode: number | null; errmsg: string; at: string }
}

export class QuotaExhaustedError extends AppError {
  override name = 'QuotaExhaustedError'
  constructor(channel: string, until: number) {
    super('quota_exhausted', 503, `the daily API quota of channel '${channel}' is used up (45009) until ${new Date(until).toISOString()}; clear it with POST /api/channels/${channel}/clear-quota`, { details: { channel, until: new Date(until).toISOString() } })
  }
}

export class ForceRefreshLimitedError extends AppError {
  override name = 'ForceRefreshLimitedError'
  constructor(channel: string, why: string) {
    super('token_refresh_limited', 502, `WeChat rejects the access token of channel '${channel}' and a forced refresh is not allowed now (${why})`, { details: { channel } })
  }
}

export const isTokenError = (e: unknown): e is WeChatApiError => e instanceof WeChatApiError && e.class === 'token'

export interface TokenServiceDeps {
  db: Db
  clock: Clock
  random: Random
  log: Logger
  client: WeChatClient
  channels: ChannelService
  onRefresh?: (channel: string, mode: 'normal' | 'forced') => void
}

export const createTokenService = (deps: TokenServiceDeps) => {
  const { db, clock, client, channels } = deps
  const log = deps.log.child({ module: 'token' })
  const repo = tokensRepo(db.orm)
  const flight = createSingleFlight()
  /** Per channel: when the scheduler may try again after a failure, and the failures in a row. */
  const backoff = new Map<string, { until: number; failures: number }>()
  /** Per channel: the jitter (ms before the refresh window would open) drawn for the current token. */
  const jitter = new Map<string, number>()

  const channelOrThrow = (id: string): Channel => {
    const c = channels.get(id)
    if (!c) throw new NotFoundError(`unknown channel '${id}'`)
    return c
  }

  const row = async (channelId: string): Promise<TokenRow> => {
    const day = shanghaiDay(clock.now())
    const r = repo.get(channelId)
    if (r && r.day === day) return r
    await db.tx((orm) => tokensRepo(orm).ensureDay(channelId, day))
    return repo.get(channelId)!
  }

  const checkQuota = (channelId: string, r: TokenRow) => {
    if (r.quotaUntil && r.quotaUntil > clock.now()) throw new QuotaExhaustedError(channelId, r.quotaUntil)
  }

  /** Any 45009 seen by any call puts the channel in quota_exhausted until 00:00 Asia/Shanghai. */
  const noteError = async (channelId: string, e: unknown) => {
    if (e instanceof WeChatApiError && e.class === 'quota') {
      const until = nextShanghaiMidnight(clock.now())
      log.error('daily API quota used up (45009): no calls until the quota is back', { channel: channelId, until: new Date(until).toISOString() })
      await db.tx((orm) => tokensRepo(orm).setQuotaUntil(channelId, until))
    }
  }

  const recordFailure = async (channelId: string, e: unknown) => {
    const err = e instanceof WeChatApiError ? { errcode: e.errcode ?? null, errmsg: e.errmsg } : { errcode: null, errmsg: String((e as Error)?.message ?? e) }
    await db.tx((orm) => tokensRepo(orm).setError(channelId, JSON.stringify({ ...err, at: clock.now() })))
    await noteError(channelId, e)
  }

  /** One stable_token call, stored on success. Runs inside the channel's single flight. */
  const fetchToken = async (c: Channel, mode: 'normal' | 'forced'): Promise<{ accessToken: string; expiresAt: number }> => {
    const r = await row(c.id)
    checkQuota(c.id, r)
    const now = clock.now()
    if (mode === 'forced') {
      if (r.forceRefreshesToday >= FORCE_MAX_PER_DAY) throw new ForceRefreshLimitedError(c.id, `${FORCE_MAX_PER_DAY} forced refreshes today already`)
      if (r.lastForceAt && now - r.lastForceAt < FORCE_MIN_INTERVAL_MS) throw new ForceRefreshLimitedError(c.id, 'the last forced refresh was less than 30 s ago')
    }
    try {
      const a = await client.stableToken({ appId: c.appId, secret: c.appSecret, forceRefresh: mode === 'forced' })
      const expiresAt = clock.now() + a.expires_in * 1000
      deps.log.addSecret(a.access_token)
      await db.tx((orm) => tokensRepo(orm).storeToken(c.id, { accessToken: a.access_token, expiresAt, now: clock.now(), forced: mode === 'forced' }))
      jitter.delete(c.id)
      backoff.delete(c.id)
      deps.onRefresh?.(c.id, mode)
      log.info('access token refreshed', { channel: c.id, mode, expiresAt: new Date(expiresAt).toISOString() })
      return { accessToken: a.access_token, expiresAt }
    } catch (e) {
      if (mode === 'forced') await db.tx((orm) => tokensRepo(orm).countForceAttempt(c.id, clock.now()))
      await recordFailure(c.id, e)
      throw e
    }
  }

  const usable = (r: TokenRow): r is TokenRow & { accessToken: string; expiresAt: number } =>
    !!r.accessToken && !!r.expiresAt && r.expiresAt - clock.now() > 5_000

  /** A valid token: the stored one, or one fetched by a single flight if there is none. */
  const getToken = async (channelId: string): Promise<{ accessToken: string; expiresAt: number }> => {
    const c = channelOrThrow(channelId)
    const r = await row(channelId)
    checkQuota(channelId, r)
    if (usable(r)) return { accessToken: r.accessToken, expiresAt: r.expiresAt }
    return flight(`token:${channelId}`, async () => {
      const again = repo.get(channelId)
      if (again && usable(again)) return { accessToken: again.accessToken, expiresAt: again.expiresAt }
      return fetchToken(c, 'normal')
    })
  }

  /** WeChat said the token `failing` is bad (40001/40014/42001): get a good one, calling WeChat at most twice. */
  const replaceFailing = async (channelId: string, failing: string): Promise<{ accessToken: string; expiresAt: number }> => {
    const c = channelOrThrow(channelId)
    const current = repo.get(channelId)
    if (current?.accessToken && current.accessToken !== failing && usable(current)) return { accessToken: current.accessToken, expiresAt: current.expiresAt }
    const result = await flight(`token:${channelId}`, async () => {
      const r = repo.get(channelId)
      if (r?.accessToken && r.accessToken !== failing && usable(r)) return { accessToken: r.accessToken, expiresAt: r.expiresAt }
      await db.tx((orm) => tokensRepo(orm).invalidateIf(channelId, failing))
      const normal = await fetchToken(c, 'normal')
      if (normal.accessToken !== failing) return normal
      log.warn('WeChat rejects the token that stable_token still returns: forcing a refresh', { channel: channelId })
      return fetchToken(c, 'forced')
    })
    // Joined a flight that started before this failure and returned the same token: one more round.
    if (result.accessToken === failing) {
      return flight(`token:${channelId}`, async () => fetchToken(c, 'forced'))
    }
    return result
  }

  /**
   * Runs a WeChat call with the channel's token; on a token error, replaces the token (see above) and
   * retries once. A 45009 from the call puts the channel in quota_exhausted.
   */
  const withToken = async <T>(channelId: string, fn: (accessToken: string) => Promise<T>): Promise<T> => {
    const { accessToken } = await getToken(channelId)
    try {
      return await fn(accessToken)
    } catch (e) {
      if (!isTokenError(e)) {
        await noteError(channelId, e)
        throw e
      }
      const fresh = await replaceFailing(channelId, accessToken)
      try {
        return await fn(fresh.accessToken)
      } catch (e2) {
        await noteError(channelId, e2)
        throw e2
      }
    }
  }

  /** Until when (ms) the channel's daily quota is used up (45009), or undefined. A read, for the outbox. */
  const quotaPausedUntil = (channelId: string): number | undefined => {
    const until = repo.get(channelId)?.quotaUntil
    return until && until > clock.now() ? until : undefined
  }

  const status = async (channelId: string): Promise<TokenStatus> => {
    channelOrThrow(channelId)
    const r = await row(channelId)
    const now = clock.now()
    const err = r.lastError ? (JSON.parse(r.lastError) as { errcode: number | null; errmsg: string; at: number }) : undefined
    const state: TokenState = r.quotaUntil && r.quotaUntil > now ? 'quota_exhausted'
      : flight.running(`token:${channelId}`) ? 'refreshing'
      : err || !usable(r) && r.refreshedAt ? 'failing'
      : 'ok'
    return {
      channel: channelId,
      state,
      expiresAt: r.expiresAt ? new Date(r.expiresAt).toISOString() : null,
      refreshedAt: r.refreshedAt ? new Date(r.refreshedAt).toISOString() : null,
      refreshesToday: r.refreshesToday,
      forceRefreshesToday: r.forceRefreshesToday,
      ...(err ? { lastError: { errcode: err.errcode, errmsg: err.errmsg, at: new Date(err.at).toISOString() } } : {}),
    }
  }

  /** POST /api/channels/:id/clear-quota: asks WeChat to reset the quota, then lifts quota_exhausted. */
  const clearQuota = async (channelId: string): Promise<void> => {
    const c = channelOrThrow(channelId)
    const r = await row(channelId)
    // With a valid stored token the normal endpoint; without one, v2 (AppID + AppSecret, no token).
    if (usable(r)) await client.clearQuota({ accessToken: r.accessToken, appId: c.appId })
    else await client.clearQuotaBySecret({ appId: c.appId, secret: c.appSecret })
    await db.tx((orm) => {
      tokensRepo(orm).setQuotaUntil(channelId, null)
      tokensRepo(orm).setError(channelId, null)
    })
    log.info('quota cleared', { channel: channelId })
  }

  /**
   * One scheduler pass: refresh every channel whose token entered its last 300 s (less a per-token
   * jitter of 10-120 s, so that several gateways or channels do not all call at once). Channels that
   * have never been asked for a token are left alone until someone asks.
   */
  const tick = async (): Promise<void> => {
    const now = clock.now()
    for (const c of channels.list()) {
      const r = repo.get(c.id)
      if (!r?.refreshedAt) continue
      if (r.quotaUntil && r.quotaUntil > now) continue
      const b = backoff.get(c.id)
      if (b && b.until > now) continue
      if (!jitter.has(c.id)) jitter.set(c.id, 10_000 + Math.floor(((deps.random.bytes(1)[0] ?? 0) / 256) * 110_000))
      const due = !r.accessToken || !r.expiresAt || r.expiresAt - now <= REFRESH_WINDOW_MS - jitter.get(c.id)!
      if (!due || flight.running(`token:${c.id}`)) continue
      try {
        await flight(`token:${c.id}`, () => fetchToken(c, 'normal'))
      } catch (e) {
        const failures = (b?.failures ?? 0) + 1
        // 1 s, 2 s, 4 s … up to 60 s; the old token stays in use meanwhile.
        const delay = Math.min(60_000, 1000 * 2 ** (failures - 1))
        backoff.set(c.id, { until: clock.now() + delay, failures })
        log.warn('scheduled token refresh failed; the current token stays in use', { channel: c.id, failures, retryInMs: delay, error: e })
      }
    }
  }

  return { getToken, replaceFailing, withToken, status, quotaPausedUntil, clearQuota, tick }
}
export type TokenService = ReturnType<typeof createTokenService>
