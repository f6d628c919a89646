/**
 * @module The access token, owned for the whole team (after silenceper/wechat's credential/ and the
 * stable_token rules of PROTOCOL.md §5.1):
 * - fetched from stable_token in normal mode, stored in SQLite, reused after a restart while valid;
 * - handed out only with at least 60 s left (a stored token with less is refreshed first);
 * - refreshed by the in-process scheduler in its last 300 s (with jitter), retried with backoff; a
 *   failed refresh never replaces a good token;
 * - one fetch at a time per channel however many callers wait: in this process a single flight, and across
 *   the instances of one database (SPEC §8) the lease `token:<channel>` around every stable_token call (see
 *   `leased`): the row is read again under the lease, so an instance that finds the token already fetched,
 *   refreshed or force-refreshed by another makes no call, and the force budget is spent once;
 * - on 40001/40014/42001 (ours, or a sibling's reject): forget the token only if it is still the failing
 *   one (compare-and-set), fetch in normal mode (another party's forced refresh is then already visible),
 *   and only if that returns the same failing token, one force_refresh — at most one per 30 s and 20 a
 *   day, counted in SQLite;
 * - a failure to obtain a token (40164, 40125, 40013, 89503, WeChat unreachable) is kept with its hint in
 *   the status, and fetches back off 1 s, 2 s, 4 s … 60 s; while there is no usable token the outbox
 *   pauses (sendingPausedUntil) and resumes by itself once a fetch succeeds;
 * - 45009 is per WeChat API: from stable_token it is the token's (no token calls until 00:00
 *   Asia/Shanghai or clear-quota); from another API it stops that API only (template send: the outbox
 *   pauses; qrcode/create: bind codes answer 503) while the token is still served and used elsewhere.
 * - token.failing / token.quota_exhausted / token.recovered (SPEC §6) are emitted in the transaction that
 *   records the change (an error, a quota, a token stored, a quota cleared), with the status built from the
 *   row there. The state compared is the last one emitted per channel (the stored state the first time), so
 *   each failure streak is one token.failing however many fetches fail, and forgetting a rejected token on
 *   the way to its replacement is no change. A quota that runs out at midnight is noticed at the next change.
 */
import type { Clock } from '../lib/clock'
import { AppError, NotFoundError } from '../lib/errors'
import type { Logger } from '../lib/log'
import type { Random } from '../lib/random'
import { nextShanghaiMidnight, shanghaiDay } from '../lib/shanghai-day'
import { createSingleFlight } from '../lib/single-flight'
import type { Awaitable, Db, Store, TokenRow } from '../store/contract'
import { apiError, WeChatApiError, type WeChatClient } from '../wechat-api/client'
import type { Channel, ChannelService } from './channel.service'
import type { EventsService, EventType } from './events.service'

/** stable_token hands out a new token only in the last 300 s of the old one. */
export const REFRESH_WINDOW_MS = 300_000
export const FORCE_MIN_INTERVAL_MS = 30_000
export const FORCE_MAX_PER_DAY = 20
/** SPEC §4: a token handed out is valid for at least 60 more seconds. */
export const MIN_HANDOUT_MS = 60_000
/** Token fetch retries back off from 1 s, doubling, up to this. */
export const MAX_FETCH_BACKOFF_MS = 60_000

/**
 * How long an instance holds a channel's token lease (`token:<channel>`, SPEC §8) per stable_token call: the
 * call lasts at most the WeChat client's timeout (5 s, the default of src/wechat-api/client.ts; nothing in
 * production sets another), and 5 s more cover storing its answer (a transaction on a loaded database) and
 * instances whose clocks differ by a little. A flight of two calls (a forced refresh after a normal one) renews
 * it before the second. It is also how long the callers wait when a holder dies mid-call: short enough for
 * an HTTP caller, long enough that a live holder's lease never lapses under it.
 */
export const LEASE_MS = 10_000
/**
 * A caller waiting for another instance's flight gives up after this (the error of a failed fetch): a live
 * holder that started before the wait ends within LEASE_MS, and 2 s more let its stored row be seen.
 */
export const LEASE_WAIT_MS = LEASE_MS + 2_000
/** How often (real time) a caller waiting for another instance's flight reads the row and tries the lease. */
export const LEASE_POLL_MS = 100

export const STABLE_TOKEN_ENDPOINT = '/cgi-bin/stable_token'
/** The API name of a WeChat endpoint in quotas: '/cgi-bin/message/template/send' → 'message/template/send'. */
export const apiOf = (endpoint: string): string => endpoint.replace(/^\/?cgi-bin\//, '')
export const TOKEN_API = apiOf(STABLE_TOKEN_ENDPOINT)
export const TEMPLATE_SEND_API = 'message/template/send'
export const QR_CREATE_API = 'qrcode/create'

export type TokenState = 'ok' | 'refreshing' | 'failing' | 'quota_exhausted'

/**
 * GET /api/channels/:id/token. Per-API quotas: `quota` maps each WeChat API whose daily quota is used up
 * (45009) to when it comes back, e.g. { "message/template/send": "2026-11-24T16:00:00.000Z" }; "stable_token"
 * in it is the token's own quota. `state` is `quota_exhausted` while any API of the channel is in `quota`
 * (an alert on the state keeps firing for a paused outbox), even though the token is still served unless
 * "stable_token" is the one listed; otherwise `failing` while the last fetch failed (lastError carries
 * WeChat's errcode, errmsg and what to do) or no valid token could be had, `refreshing` during a fetch.
 */
export interface TokenStatus {
  channel: string
  state: TokenState
  expiresAt: string | null
  refreshedAt: string | null
  refreshesToday: number
  forceRefreshesToday: number
  lastError?: { errcode: number | null; errmsg: string; hint?: string; at: string }
  quota?: Record<string, string>
}

export class QuotaExhaustedError extends AppError {
  override name = 'QuotaExhaustedError'
  readonly api: string
  readonly until: number
  constructor(channel: string, until: number, api: string = TOKEN_API) {
    super('quota_exhausted', 503, `the daily quota of WeChat API ${api} of channel '${channel}' is used up (45009) until ${new Date(until).toISOString()}; clear it with POST /api/channels/${channel}/clear-quota`, { details: { channel, api, until: new Date(until).toISOString() } })
    this.api = api
    this.until = until
  }
}

export class ForceRefreshLimitedError extends AppError {
  override name = 'ForceRefreshLimitedError'
  constructor(channel: string, why: string) {
    super('token_refresh_limited', 502, `WeChat rejects the access token of channel '${channel}' and a forced refresh is not allowed now (${why})`, { details: { channel } })
  }
}

export const isTokenError = (e: unknown): e is WeChatApiError => e instanceof WeChatApiError && e.class === 'token'

/**
 * The error came from obtaining the token (a stable_token call, or the token's own quota), not from the
 * call it was wanted for: the caller's own call was not made, so the caller is not to blame (the outbox
 * keeps the message queued). A forced refresh refused by our own limits is not one: the call did fail.
 */
export const isTokenFetchError = (e: unknown): boolean =>
  (e instanceof WeChatApiError && e.endpoint === STABLE_TOKEN_ENDPOINT && !e.aborted) || (e instanceof QuotaExhaustedError && e.api === TOKEN_API)

export interface TokenServiceDeps {
  db: Db
  /**
   * This instance's id (Deps.instanceId): the owner of its leases and claims on a shared database (SPEC §8).
   * Default 'local' (tests that build the service alone).
   */
  instanceId?: string
  clock: Clock
  random: Random
  log: Logger
  client: WeChatClient
  channels: ChannelService
  onRefresh?: (channel: string, mode: 'normal' | 'forced') => void
  /** Events out (SPEC §6): the token status changes. */
  events?: Pick<EventsService, 'emit' | 'wants'>
}

/** The states an event is about: `refreshing` is a passing moment, not a change anyone is told of. */
type EventState = 'ok' | 'failing' | 'quota_exhausted'
const EVENT_OF: Record<EventState, EventType> = { ok: 'token.recovered', failing: 'token.failing', quota_exhausted: 'token.quota_exhausted' }

export const createTokenService = (deps: TokenServiceDeps) => {
  const { db, clock, client, channels } = deps
  const owner = deps.instanceId ?? 'local'
  const log = deps.log.child({ module: 'token' })
  const repo = db.read.tokens
  const flight = createSingleFlight()
  /** Per channel: when a fetch may be tried again after failures (the scheduler and the outbox wait), and the failures in a row. */
  const backoff = new Map<string, { until: number; failures: number }>()
  /**
   * Per channel: the jitter (ms before the refresh window would open) drawn for its current token; drawn
   * again for a new token, also one another instance fetched.
   */
  const jitter = new Map<string, { token: string | null; ms: number }>()

  /**
   * Every token this process hands out or reads is masked in logs and error texts: one slot per channel,
   * so a replaced token is forgotten rather than piling up. Tokens stored before a restart included.
   */
  const remember = (channelId: string, token: string | null | undefined) => {
    if (token) deps.log.setSecret(`token:${channelId}`, token)
  }
  /** Reads the stored tokens so they are masked from the start (once, before anything is served). */
  const load = async (): Promise<void> => {
    for (const c of channels.list()) remember(c.id, (await repo.get(c.id))?.accessToken)
  }

  const channelOrThrow = (id: string): Channel => {
    const c = channels.get(id)
    if (!c) throw new NotFoundError(`unknown channel '${id}'`)
    return c
  }

  const row = async (channelId: string): Promise<TokenRow> => {
    const day = shanghaiDay(clock.now())
    const r = await repo.get(channelId)
    if (r && r.day === day) return r
    await db.tx((s) => s.tokens.ensureDay(channelId, day))
    return (await repo.get(channelId))!
  }

  /** The APIs (see apiOf) whose quota is used up now, with until when; the token's own as 'stable_token'. */
  const quotasOf = (r: TokenRow | undefined, now: number): Map<string, number> => {
    const out = new Map<string, number>()
    if (!r) return out
    if (r.quotaUntil && r.quotaUntil > now) out.set(TOKEN_API, r.quotaUntil)
    if (r.apiQuotas) {
      for (const [api, until] of Object.entries(JSON.parse(r.apiQuotas) as Record<string, number>)) if (until > now) out.set(api, until)
    }
    return out
  }

  const checkQuota = (channelId: string, r: TokenRow, api = TOKEN_API) => {
    const until = quotasOf(r, clock.now()).get(api)
    if (until !== undefined) throw new QuotaExhaustedError(channelId, until, api)
  }

  /**
   * A 45009 stops the API that answered it (see the module comment) until 00:00 Asia/Shanghai. Returns the
   * write for a db.tx function, or undefined when `e` is no quota error.
   */
  const quotaWrite = (channelId: string, e: unknown): ((s: Store) => Promise<void>) | undefined => {
    if (!(e instanceof WeChatApiError && e.class === 'quota')) return undefined
    const until = nextShanghaiMidnight(clock.now())
    const api = apiOf(e.endpoint)
    log.error(`daily quota of ${api} used up (45009): no ${api} calls until the quota is back`, { channel: channelId, api, until: new Date(until).toISOString() })
    return async (s) => {
      const t = s.tokens
      if (api === TOKEN_API) return t.setQuotaUntil(channelId, until)
      const current = (await t.get(channelId))?.apiQuotas
      await t.setApiQuotas(channelId, JSON.stringify({ ...(current ? JSON.parse(current) as Record<string, number> : {}), [api]: until }))
    }
  }

  const noteError = async (channelId: string, e: unknown) => {
    const write = quotaWrite(channelId, e)
    if (write) await txChanging(channelId, write)
  }

  /** The error and, for a 45009, the quota in one transaction: one status change (one event), not two. */
  const recordFailure = async (channelId: string, e: unknown) => {
    const err = e instanceof WeChatApiError
      ? { errcode: e.errcode ?? null, errmsg: e.errmsg, ...(e.hint ? { hint: e.hint } : {}) }
      : { errcode: null, errmsg: deps.log.redact(String((e as Error)?.message ?? e)) }
    const quota = quotaWrite(channelId, e)
    await txChanging(channelId, async (s) => {
      await s.tokens.setError(channelId, JSON.stringify({ ...err, at: clock.now() }))
      await quota?.(s)
    })
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
      remember(c.id, a.access_token)
      await txChanging(c.id, (s) => s.tokens.storeToken(c.id, { accessToken: a.access_token, expiresAt, now: clock.now(), forced: mode === 'forced' }))
      jitter.delete(c.id)
      if (backoff.delete(c.id)) log.info('access token obtained again: sending resumes', { channel: c.id })
      deps.onRefresh?.(c.id, mode)
      log.info('access token refreshed', { channel: c.id, mode, expiresAt: new Date(expiresAt).toISOString() })
      return { accessToken: a.access_token, expiresAt }
    } catch (e) {
      // Aborted because the gateway stops: not WeChat's answer, nothing to record.
      if (e instanceof WeChatApiError && e.aborted) throw e
      if (mode === 'forced') await db.tx((s) => s.tokens.countForceAttempt(c.id, clock.now()))
      await recordFailure(c.id, e)
      const failures = (backoff.get(c.id)?.failures ?? 0) + 1
      // 1 s, 2 s, 4 s … up to 60 s; a valid stored token stays in use meanwhile.
      const delay = Math.min(MAX_FETCH_BACKOFF_MS, 1000 * 2 ** (failures - 1))
      backoff.set(c.id, { until: clock.now() + delay, failures })
      log.warn('could not obtain an access token', { channel: c.id, mode, failures, retryInMs: delay, error: e })
      throw e
    }
  }

  const usable = (r: TokenRow | undefined): r is TokenRow & { accessToken: string; expiresAt: number } =>
    !!r?.accessToken && !!r.expiresAt && r.expiresAt - clock.now() >= MIN_HANDOUT_MS

  /** The token status of SPEC §4, from the row alone (synchronous: also inside a transaction). */
  const statusOf = (channelId: string, r: TokenRow, refreshing: boolean): TokenStatus => {
    const now = clock.now()
    const err = r.lastError ? (JSON.parse(r.lastError) as { errcode: number | null; errmsg: string; hint?: string; at: number }) : undefined
    const quotas = quotasOf(r, now)
    const state: TokenState = quotas.size > 0 ? 'quota_exhausted'
      : refreshing ? 'refreshing'
      : err || !usable(r) && r.refreshedAt ? 'failing'
      : 'ok'
    return {
      channel: channelId,
      state,
      expiresAt: r.expiresAt ? new Date(r.expiresAt).toISOString() : null,
      refreshedAt: r.refreshedAt ? new Date(r.refreshedAt).toISOString() : null,
      refreshesToday: r.refreshesToday,
      forceRefreshesToday: r.forceRefreshesToday,
      ...(err ? { lastError: { errcode: err.errcode, errmsg: err.errmsg, ...(err.hint ? { hint: err.hint } : {}), at: new Date(err.at).toISOString() } } : {}),
      ...(quotas.size > 0 ? { quota: Object.fromEntries([...quotas].map(([api, until]) => [api, new Date(until).toISOString()])) } : {}),
    }
  }

  const stored = (channelId: string, r: TokenRow & { accessToken: string; expiresAt: number }) => {
    // Also a token another process (the CLI) stored: masked from the first time it is read.
    remember(channelId, r.accessToken)
    return { accessToken: r.accessToken, expiresAt: r.expiresAt }
  }

  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

  /**
   * The failure another instance recorded for the channel at or after `since`, as the error its fetch threw
   * (what its callers got), or undefined.
   */
  const failureSince = (r: TokenRow | undefined, since: number): WeChatApiError | undefined => {
    if (!r?.lastError) return undefined
    const err = JSON.parse(r.lastError) as { errcode: number | null; errmsg: string; hint?: string; at: number }
    if (err.at < since) return undefined
    if (err.errcode !== null) return apiError(STABLE_TOKEN_ENDPOINT, err.errcode, err.errmsg)
    return new WeChatApiError({ endpoint: STABLE_TOKEN_ENDPOINT, errmsg: err.errmsg, class: 'transient', uncertain: true })
  }

  /**
   * A write of the token lease. PostgreSQL: one statement, atomic on its own. SQLite: in a transaction, whose
   * BEGIN waits (from a timer, up to the store's lock wait) while another process holds the write lock (the
   * CLI, a backup); the same statement outside one would fail after SQLite's busy timeout of a few ms.
   */
  const leaseWrite = <T>(f: (s: Store) => Awaitable<T>): Promise<T> => db.kind === 'sqlite' ? db.tx(f) : Promise.resolve(f(db.read))

  /**
   * Runs `call` (this instance's stable_token calls for the channel) holding the lease `token:<channel>`, so
   * that of all instances of the database one calls at a time (SPEC §8); the single flight in front keeps it
   * to one waiter per process. Under the lease the row is read again: a usable token for which `enough`
   * holds (another instance fetched, refreshed or replaced it meanwhile) is returned with no call. The
   * WeChat call is never made inside a transaction; the lease is let go after it, whatever the outcome.
   *
   * While another instance holds the lease the caller waits, reading the row every LEASE_POLL_MS and trying
   * the lease again:
   * - the holder stores a token that is enough → that token, no call;
   * - the holder fails (it let go, and the row records a failure since the wait began) → the same error
   *   (its 45009: QuotaExhaustedError), no call: retrying at once would double the calls to a failing WeChat;
   *   this instance backs off as if its own fetch had failed (its outbox pauses too);
   * - the holder dies (its lease lapses after at most LEASE_MS) → this caller takes the lease and calls;
   * - none of these within LEASE_WAIT_MS → a transient stable_token error, like a fetch that timed out.
   *
   * SQLite (db.shared false) takes the same path: its leases are in the same file, which the CLI (doctor)
   * also serves from another process, and the cost is two small transactions per stable_token call (a few
   * a day per channel; they join the group commit), nothing on the path that hands out a stored token.
   */
  const leased = async (
    c: Channel,
    enough: (r: TokenRow) => boolean,
    call: (f: { renew: () => Promise<void>; fetchedMeanwhile: TokenRow | undefined }) => Promise<{ accessToken: string; expiresAt: number }>,
  ): Promise<{ accessToken: string; expiresAt: number }> => {
    const name = `token:${c.id}`
    const started = clock.now()
    let waited = false
    for (;;) {
      const now = clock.now()
      if (await leaseWrite((s) => s.leases.acquire(name, owner, now + LEASE_MS, now))) {
        try {
          const r = await repo.get(c.id)
          if (usable(r) && enough(r)) return stored(c.id, r)
          if (waited) {
            if (r) checkQuota(c.id, r)
            const failed = failureSince(r, started)
            if (failed) throw noteWaitFailure(c.id, failed)
          }
          const renew = async () => {
            const at = clock.now()
            // Ours until now (the call before ended within its timeout): renewed for the next call. Lost (the flight
            // outlasted the lease and another instance took it): no further call, or two instances could both force.
            if (!await leaseWrite((s) => s.leases.acquire(name, owner, at + LEASE_MS, at))) {
              log.warn('the token lease lapsed during a flight: another instance obtains the token', { channel: c.id })
              throw new WeChatApiError({ endpoint: STABLE_TOKEN_ENDPOINT, errmsg: 'the token lease lapsed during the flight; another instance obtains the token', class: 'transient', uncertain: true })
            }
          }
          // The row another instance's flight stored a token in while this caller waited (not enough for it).
          const fetchedMeanwhile = waited && r?.refreshedAt != null && r.refreshedAt >= started ? r : undefined
          return await call({ renew, fetchedMeanwhile })
        } finally {
          // A release that fails (the database is gone) leaves the lease to lapse: the outcome stands.
          await leaseWrite((s) => s.leases.release(name, owner)).catch((e) => log.warn('could not let go of the token lease', { channel: c.id, error: e }))
        }
      }
      waited = true
      const r = await repo.get(c.id)
      if (usable(r) && enough(r)) return stored(c.id, r)
      if (clock.now() - started >= LEASE_WAIT_MS) {
        throw noteWaitFailure(c.id, new WeChatApiError({ endpoint: STABLE_TOKEN_ENDPOINT, errmsg: `another instance is obtaining the access token and did not finish within ${LEASE_WAIT_MS} ms`, class: 'transient', uncertain: true }))
      }
      await sleep(LEASE_POLL_MS)
    }
  }

  /** A failed wait for another instance's flight counts as a failed fetch of this instance's (its backoff). */
  const noteWaitFailure = (channelId: string, e: WeChatApiError): WeChatApiError => {
    const failures = (backoff.get(channelId)?.failures ?? 0) + 1
    backoff.set(channelId, { until: clock.now() + Math.min(MAX_FETCH_BACKOFF_MS, 1000 * 2 ** (failures - 1)), failures })
    log.warn('another instance could not obtain an access token', { channel: channelId, failures, error: e })
    return e
  }

  /** A token valid for at least 60 s: the stored one, or one fetched by a single flight if there is none. */
  const getToken = async (channelId: string): Promise<{ accessToken: string; expiresAt: number }> => {
    const c = channelOrThrow(channelId)
    const r = await row(channelId)
    checkQuota(channelId, r)
    if (usable(r)) return stored(channelId, r)
    return flight(`token:${channelId}`, () => leased(c, () => true, () => fetchToken(c, 'normal')))
  }

  /**
   * WeChat said the token `failing` is bad (40001/40014/42001), to us or to a sibling service
   * (POST /access-token/reject): get a good one, calling WeChat at most twice however many callers on however
   * many instances report the same token (one flight under the lease, renewed for its forced call). A caller whose token was replaced already gets the current one with no call.
   */
  const replaceFailing = async (channelId: string, failing: string): Promise<{ accessToken: string; expiresAt: number }> => {
    const c = channelOrThrow(channelId)
    const current = await repo.get(channelId)
    if (current?.accessToken !== failing && usable(current)) return stored(channelId, current)
    // Under the lease the row is read again: another instance may have replaced the token meanwhile.
    const replaced = (r: TokenRow) => r.accessToken !== failing
    const result = await flight(`token:${channelId}`, () => leased(c, replaced, async ({ renew, fetchedMeanwhile }) => {
      // Another instance's normal call got the failing token back while we waited (its force was not
      // allowed, or it died): a normal call now would answer the same; straight to the force, whose
      // budget (checked on this row) decides.
      if (fetchedMeanwhile?.accessToken !== failing) {
        await db.tx((s) => s.tokens.invalidateIf(channelId, failing))
        const normal = await fetchToken(c, 'normal')
        if (normal.accessToken !== failing) return normal
        await renew()
      }
      log.warn('WeChat rejects the token that stable_token still returns: forcing a refresh', { channel: channelId })
      return fetchToken(c, 'forced')
    }))
    // Joined a flight that started before this failure and returned the same token: one more round.
    if (result.accessToken === failing) {
      return flight(`token:${channelId}`, () => leased(c, replaced, () => fetchToken(c, 'forced')))
    }
    return result
  }

  /**
   * Runs a WeChat call with the channel's token; on a token error, replaces the token (see above) and
   * retries once. `api` (see apiOf) is the API fn calls: while its daily quota is used up, fn is not
   * called (QuotaExhaustedError); a 45009 from the call stops that API.
   */
  const withToken = async <T>(channelId: string, fn: (accessToken: string) => Promise<T>, opts: { api?: string } = {}): Promise<T> => {
    if (opts.api) {
      channelOrThrow(channelId)
      checkQuota(channelId, await row(channelId), opts.api)
    }
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

  /**
   * Until when (ms) the outbox must not send for the channel, or undefined: template send's or the
   * token's daily quota is used up, or no valid token is stored and the last fetch failed (its backoff).
   * A read, for every outbox pass.
   */
  /**
   * Until when the outbox may not send through `api` (default the template send): no token to be had (its
   * quota, or fetches failing), or that API's own daily quota. Customer-service messages ask for their API,
   * so a template quota (45009) does not hold them up.
   */
  const sendingPausedUntil = async (channelId: string, api: string = TEMPLATE_SEND_API): Promise<number | undefined> => {
    const r = await repo.get(channelId)
    const now = clock.now()
    const q = quotasOf(r, now)
    const quota = Math.max(q.get(TOKEN_API) ?? 0, api === TEMPLATE_SEND_API ? q.get(TEMPLATE_SEND_API) ?? 0 : 0)
    if (quota > 0) return quota
    const b = backoff.get(channelId)
    return b && b.until > now && !usable(r) ? b.until : undefined
  }

  const status = async (channelId: string): Promise<TokenStatus> => {
    channelOrThrow(channelId)
    return statusOf(channelId, await row(channelId), flight.running(`token:${channelId}`))
  }

  /** The state last announced, per channel (after its transaction committed). */
  const lastEmitted = new Map<string, EventState>()
  /** States announced by transactions not yet committed (two changes in one batch must not both emit). */
  const provisional = new Map<string, EventState>()
  const eventStateOf = (r: TokenRow | undefined): EventState => (r ? statusOf(r.channelId, r, false).state as EventState : 'ok')
  /**
   * Inside the transaction that records a change of the channel's token row: `before` is the row as it was
   * (read in the same transaction). Emits the event of the new state when it differs from the last one, and
   * returns the new state.
   */
  const noteChange = async (s: Store, channelId: string, before: TokenRow | undefined): Promise<EventState> => {
    const prev = provisional.get(channelId) ?? lastEmitted.get(channelId) ?? eventStateOf(before)
    const r = await s.tokens.get(channelId)
    const state = eventStateOf(r)
    provisional.set(channelId, state)
    if (state === prev) return state
    const type = EVENT_OF[state]
    if (r && deps.events?.wants(type, channelId)) await deps.events.emit(s, { type, channelId, data: { ...statusOf(channelId, r, false) } })
    return state
  }
  /**
   * A transaction that changes the token row, with noteChange after it. The announced state is remembered only
   * once the transaction committed: after a rollback (its event rolled back too) the next change announces again.
   */
  const txChanging = async <T>(channelId: string, fn: (s: Store) => Promise<T> | T): Promise<T> => {
    let state: EventState | undefined
    try {
      const out = await db.tx<T>(async (s) => {
        const before = await s.tokens.get(channelId)
        const v = await fn(s)
        state = await noteChange(s, channelId, before)
        return v
      })
      if (state) lastEmitted.set(channelId, state)
      return out
    } finally {
      provisional.delete(channelId)
    }
  }

  /** POST /api/channels/:id/clear-quota: asks WeChat to reset the quota, then lifts every API's quota. */
  const clearQuota = async (channelId: string): Promise<void> => {
    const c = channelOrThrow(channelId)
    const r = await row(channelId)
    // With a valid stored token the normal endpoint; without one, v2 (AppID + AppSecret, no token).
    if (usable(r)) await client.clearQuota({ accessToken: r.accessToken, appId: c.appId })
    else await client.clearQuotaBySecret({ appId: c.appId, secret: c.appSecret })
    await txChanging(channelId, async (s) => {
      await s.tokens.setQuotaUntil(channelId, null)
      await s.tokens.setApiQuotas(channelId, null)
      await s.tokens.setError(channelId, null)
    })
    backoff.delete(channelId)
    log.info('quota cleared', { channel: channelId })
  }

  /**
   * One scheduler pass: refresh every channel whose token entered its last 300 s (less a per-token
   * jitter of 10-120 s, so that channels do not all call at once; of several instances the lease lets one
   * call, see `leased`). Channels that have never been asked for a token are left alone until someone asks.
   */
  const tick = async (): Promise<void> => {
    const now = clock.now()
    for (const c of channels.list()) {
      const r = await repo.get(c.id)
      if (!r?.refreshedAt) continue
      if (r.quotaUntil && r.quotaUntil > now) continue
      const b = backoff.get(c.id)
      if (b && b.until > now) continue
      let j = jitter.get(c.id)
      if (j?.token !== r.accessToken) {
        j = { token: r.accessToken, ms: 10_000 + Math.floor(((deps.random.bytes(1)[0] ?? 0) / 256) * 110_000) }
        jitter.set(c.id, j)
      }
      const { ms } = j
      const due = (t: TokenRow) => !t.accessToken || !t.expiresAt || t.expiresAt - clock.now() <= REFRESH_WINDOW_MS - ms
      if (!due(r) || flight.running(`token:${c.id}`)) continue
      try {
        // Every instance ticks: under the lease the first refreshes, the others find its token no longer due.
        await flight(`token:${c.id}`, () => leased(c, (t) => !due(t), () => fetchToken(c, 'normal')))
      } catch (e) {
        // fetchToken set the backoff; the old token stays in use meanwhile.
        log.warn('scheduled token refresh failed; the current token stays in use', { channel: c.id, failures: backoff.get(c.id)?.failures, error: e })
      }
    }
  }

  return { load, getToken, replaceFailing, reject: replaceFailing, withToken, status, sendingPausedUntil, clearQuota, tick }
}
export type TokenService = ReturnType<typeof createTokenService>
