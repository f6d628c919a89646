/**
 * @module The webhook delivery worker (SPEC §6, STYLE §15): a table-backed queue, claim → POST → record →
 * backoff, like the outbox.
 *
 * - Claim: due `pending` rows become `delivering` with a 45 s lease owned by this instance (lease_owner) by a
 *   conditional UPDATE; at start every row left `delivering` (a crash, a stop mid-POST) goes back to pending
 *   (on a shared database only those whose lease lapsed: the others are other instances' work); a lease that
 *   lapses while we run (a result that could not be recorded, an instance that died) is taken back by the
 *   pass every 10 s, so a dead instance's claims are pending again within 55 s (SPEC §8: 60 s). A result is
 *   recorded only while this instance still owns the row: after another took it over, the late one is
 *   dropped. Delivery is at least once: the receiver dedups on webhook-id, which is the event's id on every
 *   attempt.
 * - Several instances on one database (Db.shared): each endpoint's feed is read by one instance at a time,
 *   the holder of the lease `feed:<endpointId>` (30 s, renewed every 10 s; see feedHolder). Only it POSTs
 *   that endpoint's feed events and moves its cursor (checked in the cursor's UPDATE). On SQLite (one
 *   process) no lease is taken: no statement is added to its hot path.
 *   At least once across a takeover: the new holder goes on from the stored cursor and skips the events
 *   recorded past it (feedRecorded), so what goes twice is only what the old holder had POSTed and not
 *   recorded yet: its POSTs in flight (at most PER_ENDPOINT per endpoint; each result is recorded right after
 *   its answer), or, for a holder that stalled past FEED_LEASE_MS - FEED_MARGIN_MS, the results it could no
 *   longer record. Same webhook-id each time: receivers dedup on it. A stop hands over at once (released).
 * - At most PER_ENDPOINT POSTs in flight per endpoint (FAILING_SLOTS once it is failing) and GLOBAL in all,
 *   each pass starting one endpoint further on: a hanging endpoint holds its own slots and nothing else, so
 *   other endpoints, callbacks and sends go on (the POSTs are async I/O,
 *   and no transaction waits on one: every result is recorded in its own short db.tx afterwards).
 * - The POST: 10 s timeout, redirects not followed (a failure), at most 64 KiB of the answer read (more is a
 *   failure: the stream is cancelled), headers webhook-id / webhook-timestamp / webhook-signature (the
 *   current secret, and the previous one for 24 h after a rotation).
 * - Results: 2xx delivered; 410 fails the delivery and disables the endpoint; 429/503 with Retry-After waits
 *   that long; anything else is retried on RETRY_SCHEDULE_MS (±10 % jitter), then failed. An endpoint whose
 *   run of failures is 5 days old is disabled (its reason says so, a warn line, the metric).
 */
import type { Clock } from '../lib/clock'
import { inChunks } from '../lib/chunks'
import { createPump } from '../lib/pump'
import { readBytesCapped } from '../lib/read-capped'
import type { Logger } from '../lib/log'
import type { Random } from '../lib/random'
import { signatureHeader } from '../lib/standard-webhooks'
import type { Db, DeliveryWithEvent, EndpointRow } from '../store/contract'
import { endpointWants, type EventsService } from './events.service'
import { callbackEventCandidates } from './inbound-events'
import { feedEvent, type FeedEvent } from './webhook-feed'
import { RETRY_SCHEDULE_MS } from './webhook-schedule'
import { registerWebhookSecrets } from './webhooks.service'

export { RETRY_SCHEDULE_MS }

/** After the 1st, 2nd … 7th failed attempt; the 8th failure is final (the Svix schedule, PROTOCOL §9.1). */
const SCHEDULE_SPAN_MS = RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0)
/** An endpoint failing every attempt this long is disabled. */
export const DISABLE_AFTER_MS = 5 * 86_400_000
/** Finished deliveries (and their events) are kept this long. */
export const DELIVERY_RETENTION_MS = 7 * 86_400_000
export const PER_ENDPOINT = 4
/**
 * POSTs in flight in all (sockets and memory stay bounded). Large next to PER_ENDPOINT, and an endpoint that is
 * failing gets FAILING_SLOTS only: many dead endpoints cannot take the slots the healthy ones need.
 */
export const GLOBAL = 256
/** Slots of an endpoint whose last attempts failed (failingSince set): one probe at a time until it answers again. */
export const FAILING_SLOTS = 1
/** Slots of each endpoint while callbacks are queuing up (WebhookWorkerDeps.busy): WeChat's 5 s come first. */
export const BUSY_SLOTS = 1
/**
 * While callbacks are queuing up, POSTs start at most this often in all (per second): a delivery costs the one
 * JavaScript thread about 0.1 ms (the POST, its signature, the event built from the inbound row, its record),
 * so this keeps the worker to a few per cent of it during a burst (measured: 250/s still cost the callbacks 13 %, 100/s under 10 %). The rest waits in the inbound log (durable) and goes
 * at full speed once the burst is over.
 */
export const BUSY_RATE = 100
export const TIMEOUT_MS = 10_000
export const MAX_ANSWER_BYTES = 64 * 1024
/**
 * A claim lapses after this: far above a POST's 10 s timeout and its record (retried for about 3 s), so only
 * a row nobody is working on is taken back. With RELEASE_EVERY_MS: a dead instance's claims are pending
 * again at most 45 + 10 = 55 s after they were made (SPEC §8: within 60 s).
 */
export const LEASE_MS = 45_000
/** How often due retries are looked for when nothing kicked the worker. */
const POLL_MS = 250
/** How often lapsed leases are looked for (one UPDATE; each instance does it). */
export const RELEASE_EVERY_MS = 10_000
/**
 * The lease on an endpoint's feed (shared database): held this long, renewed once it is FEED_RENEW_MS old
 * (a pass runs at least every POLL_MS, so a live holder renews 20 s before it would lapse; a statement per
 * endpoint every 10 s, not per pass). Another instance takes a lapsed one over within FEED_TRY_MS.
 */
export const FEED_LEASE_MS = 30_000
const FEED_RENEW_MS = 10_000
/** How often an instance that does not hold an endpoint's feed looks whether its lease is free. */
const FEED_TRY_MS = 1_000
/**
 * A feed result is recorded only while its lease lasts at least this much longer (checked in the cursor's
 * UPDATE): a holder that stalled until close to its lapse records nothing, since another instance may be
 * taking the feed over. What it POSTed and did not record goes again from the new holder (same webhook-id).
 */
const FEED_MARGIN_MS = 5_000
/** Recording a result again after a failed write, from this, doubling; then the lease takes it back. */
const RECORD_RETRY_MS = 50
const RECORD_TRIES = 6
/** A Retry-After is honoured up to the longest step of the schedule. */
const MAX_RETRY_AFTER_MS = 10 * 3600_000
/**
 * The worker's writes (claims, results, the feed's cursor) wait for the next batch of the write queue, or at
 * most this long (db.tx lazyMs): under a burst of callbacks they share the callbacks' COMMIT instead of adding
 * fsyncs of their own (measured: twice the batches without it); when quiet, one COMMIT carries every result
 * of the last few ms.
 */
const LAZY = { lazyMs: 10 }
/** The endpoints are read again at least this often (changes are noticed at once: see endpointsNow). */
const ENDPOINTS_MAX_AGE_MS = 1000
/** An endpoint's due retries are looked for at least this often (see dueCheckAt). */
const DUE_RECHECK_MS = 250
/** Committed inbound rows start a pass at most this often (see feedKick). */
const FEED_GAP_MS = 5
/** Inbound rows read from the feed at a time, per endpoint (held in memory until their turn). */
const FEED_BATCH = 256

export type DeliveryOutcome = 'delivered' | 'retry' | 'failed'

/**
 * A delivery being worked on: a claimed row, or a feed event (webhook-feed.ts) whose row is written only
 * with its result (`feed` set: then `id` is the delivery id it gets, `attempts` 1).
 */
type Job = DeliveryWithEvent & { feed?: { event: FeedEvent; state: FeedState; wrote?: number } }

/**
 * One endpoint's place in the inbound feed, in memory. `open` holds the rows read and not yet recorded, in
 * id order (true once recorded, or at once for a row that makes no event for this endpoint); the cursor is
 * the id up to which every row is recorded, written with each result and at the end of a pass.
 */
interface FeedState {
  cursor: number
  persisted: number
  /** The highest cursor this state has written (or is writing): the stored cursor may be ahead of `cursor` by it. */
  wrote: number
  /** Rows up to this id may have been recorded before this state was made (by a previous run): checked when read. */
  recheckUpTo: number
  /** The highest inbound id read. */
  read: number
  open: Map<number, boolean>
  /** Read, not launched yet (their turn comes as slots free up). */
  queued: FeedEvent[]
}

export interface WebhookWorkerDeps {
  db: Db
  /**
   * This instance's id (Deps.instanceId): the owner of its leases and claims on a shared database (SPEC §8).
   * Default 'local' (tests that build the service alone).
   */
  instanceId?: string
  clock: Clock
  random: Random
  log: Logger
  events: Pick<EventsService, 'onEmitted'> & Partial<Pick<EventsService, 'onInvalidate'>>
  /**
   * Callbacks first: true while WeChat callbacks are queuing up (a burst). Deliveries then take one slot per
   * endpoint instead of PER_ENDPOINT and a failing endpoint's feed waits; the backlog goes after the burst.
   */
  busy?: () => boolean
  /** Lets the caller kick the worker when inbound rows were committed (the callbacks' events are read from them). */
  onFeed?: (kick: () => void) => void
  userAgent: string
  /** Tests may pass their own; the default is the global fetch. */
  fetch?: typeof fetch
  /** Each POST's result (seconds: the POST's duration), for metrics. */
  onResult?: (endpointId: string, outcome: DeliveryOutcome, seconds: number) => void
  /** An endpoint was disabled by the worker (410, or 5 days of failures). */
  onDisabled?: (endpointId: string, reason: '410' | 'failing') => void
  /** Drops the events service's endpoint cache (called inside the transaction that disables an endpoint). */
  invalidateEndpoints?: () => void
  timeoutMs?: number
}

/** What one POST ended in. */
export type PostResult =
  | { kind: 'delivered'; status: number }
  | { kind: 'gone'; status: number }
  | { kind: 'later'; status: number; error: string; afterMs: number }
  | { kind: 'failure'; status: number | null; error: string }

/** Retry-After: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export const parseRetryAfter = (value: string | null, now: number): number | undefined => {
  if (value === null) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

class AnswerTooLarge extends Error {}
/**
 * A result this instance may no longer record: the delivery was released and claimed by another instance
 * (its lease lapsed), or the endpoint's feed lease is no longer ours. The transaction is rolled back; the
 * other instance sends it (again, with the same webhook-id) and records its own result.
 */
class NotOurs extends Error {
  constructor(readonly what: 'delivery' | 'feed') { super(`not ours any more: ${what}`) }
}
/** Reads at most `max` bytes of the answer (lib/read-capped.ts; more cancels the stream); a short text of it for lastError. */
const readCapped = async (res: Response, max: number): Promise<{ tooLarge: boolean; text: string }> => {
  try {
    const bytes = await readBytesCapped(res, max, () => new AnswerTooLarge())
    return { tooLarge: false, text: Buffer.from(bytes.subarray(0, 300)).toString('utf8').slice(0, 200) }
  } catch (e) {
    if (e instanceof AnswerTooLarge) return { tooLarge: true, text: '' }
    throw e
  }
}

export const createWebhookWorker = (deps: WebhookWorkerDeps) => {
  const { db, clock, random } = deps
  const log = deps.log.child({ module: 'webhooks' })
  const repo = db.read.webhooks
  const doFetch = deps.fetch ?? fetch
  const timeoutMs = deps.timeoutMs ?? TIMEOUT_MS
  /** The owner of this instance's claims and feed leases. */
  const me = deps.instanceId ?? 'local'

  /** id → the delivery's endpoint and creation time, while its POST and record run. */
  const inFlight = new Map<string, { endpointId: string; createdAt: number; feed: boolean }>()
  const perEndpoint = new Map<string, number>()
  const running = new Set<Promise<void>>()
  let stopped = true
  let poll: ReturnType<typeof setInterval> | undefined
  let halt = new AbortController()
  let lastRelease = 0

  const jittered = (ms: number): number => {
    const r = random.bytes(2)
    return Math.round(ms * (0.9 + (((r[0]! << 8) | r[1]!) / 65535) * 0.2))
  }

  const post = async (d: DeliveryWithEvent, ep: EndpointRow): Promise<PostResult | 'stopped'> => {
    const now = clock.now()
    const ts = Math.floor(now / 1000)
    const secrets = [ep.secret, ...(ep.previousSecret && ep.previousSecretUntil !== null && ep.previousSecretUntil > now ? [ep.previousSecret] : [])]
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), halt.signal])
    try {
      const res = await doFetch(ep.url, {
        method: 'POST',
        body: d.body,
        redirect: 'manual',
        signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': deps.userAgent,
          'webhook-id': d.eventId,
          'webhook-timestamp': String(ts),
          'webhook-signature': signatureHeader(secrets, d.eventId, ts, d.body),
        },
      })
      const status = res.status
      const answer = await readCapped(res, MAX_ANSWER_BYTES)
      if (answer.tooLarge) return { kind: 'failure', status, error: `the answer is larger than ${MAX_ANSWER_BYTES / 1024} KiB (HTTP ${status}); at most 64 KiB is read: answer with a short body` }
      if (status >= 200 && status < 300) return { kind: 'delivered', status }
      if (status === 410) return { kind: 'gone', status }
      if ((status >= 300 && status < 400) || status === 0) {
        return { kind: 'failure', status, error: `HTTP ${status}: redirects are not followed${res.headers.get('location') ? ` (to ${res.headers.get('location')})` : ''}; set the endpoint's url to the final address` }
      }
      const error = `HTTP ${status}${answer.text ? `: ${answer.text}` : ''}`
      if (status === 429 || status === 503) {
        const afterMs = parseRetryAfter(res.headers.get('retry-after'), clock.now())
        if (afterMs !== undefined) return { kind: 'later', status, error, afterMs: Math.min(MAX_RETRY_AFTER_MS, Math.max(1000, afterMs)) }
      }
      return { kind: 'failure', status, error }
    } catch (e) {
      if (halt.signal.aborted) return 'stopped'
      const name = (e as Error)?.name
      if (name === 'TimeoutError' || name === 'AbortError') return { kind: 'failure', status: null, error: `no answer within ${timeoutMs / 1000} s` }
      return { kind: 'failure', status: null, error: `network error: ${(e as Error)?.message ?? String(e)}` }
    }
  }

  // ---- the inbound feed (webhook-feed.ts) -------------------------------------------------------------
  const inbound = db.read.inbound
  const feeds = new Map<string, FeedState>()

  // ---- the feed leases (shared database only) ------------------------------------------------------------
  const feedLease = (endpointId: string) => `feed:${endpointId}`
  /** Endpoint id → until when this instance holds its feed lease (as last written by us). */
  const feedHeld = new Map<string, number>()
  /** Endpoint id → when we last looked whether a feed another instance holds is free. */
  const feedTried = new Map<string, number>()
  /** The check in the cursor's UPDATE: we still hold the feed, with FEED_MARGIN_MS to spare (undefined on SQLite). */
  const holderAt = (endpointId: string, now: number) =>
    db.shared ? { lease: feedLease(endpointId), owner: me, validAfter: now + FEED_MARGIN_MS } : undefined
  /** The feed is no longer ours: what we had read of it is dropped (a new holding reads from the stored cursor). */
  const dropFeed = (endpointId: string) => {
    feedHeld.delete(endpointId)
    feeds.delete(endpointId)
  }
  /**
   * At the start of every pass (before anything may return early): each held feed lease that is
   * FEED_RENEW_MS old is renewed; one that could not be renewed in time, or was taken, is dropped.
   */
  const renewFeeds = async (now: number) => {
    for (const [id, until] of feedHeld) {
      if (until - now > FEED_LEASE_MS - FEED_RENEW_MS) continue
      if (until - now > FEED_MARGIN_MS && await db.read.leases.acquire(feedLease(id), me, now + FEED_LEASE_MS, now)) feedHeld.set(id, now + FEED_LEASE_MS)
      else {
        dropFeed(id)
        log.info('webhook feed lease lost; another instance reads this endpoint\'s feed', { endpoint: id })
      }
    }
  }
  /**
   * Does this instance read the endpoint's feed? On SQLite always (one process: no lease). On a shared
   * database only while it holds `feed:<id>`; a free or lapsed lease is taken (looked at once per
   * FEED_TRY_MS). Returns the endpoint row to read the feed from: read again when the lease was just taken,
   * so that the feed goes on from the stored cursor (where the last holder got to; the events it POSTed but
   * had not recorded when it died go again, with the same webhook-id); undefined when another holds it.
   */
  const feedHolder = async (ep: EndpointRow, now: number): Promise<EndpointRow | undefined> => {
    if (!db.shared || feedHeld.has(ep.id)) return ep
    if (now - (feedTried.get(ep.id) ?? -Infinity) < FEED_TRY_MS) return undefined
    feedTried.set(ep.id, now)
    const held = await db.read.leases.get(feedLease(ep.id))
    if (held && held.owner !== me && held.until > now) return undefined
    if (!(await db.read.leases.acquire(feedLease(ep.id), me, now + FEED_LEASE_MS, now))) return undefined
    feedHeld.set(ep.id, now + FEED_LEASE_MS)
    feeds.delete(ep.id)
    return (await repo.endpoint(ep.id)) ?? ep
  }
  const releaseFeed = async (endpointId: string) => {
    dropFeed(endpointId)
    await db.read.leases.release(feedLease(endpointId), me)
  }
  const feedOf = async (ep: EndpointRow): Promise<FeedState> => {
    let f = feeds.get(ep.id)
    // The stored cursor ahead of anything we wrote: the endpoint was enabled again (its feed moved to the newest row).
    if (f && ep.feedCursor > Math.max(f.cursor, f.wrote)) f = undefined
    if (!f) {
      const recheckUpTo = await inbound.newestCursor()
      f = feeds.get(ep.id) ?? { cursor: ep.feedCursor, persisted: ep.feedCursor, wrote: ep.feedCursor, recheckUpTo, read: ep.feedCursor, open: new Map(), queued: [] }
      feeds.set(ep.id, f)
    }
    return f
  }
  /** The cursor if the rows `also` (results being recorded now) were recorded too: the end of the recorded prefix. */
  const cursorWith = (f: FeedState, also: ReadonlySet<number>): number => {
    let c = f.cursor
    for (const [id, done] of f.open) {
      if (!done && !also.has(id)) return c
      c = id
    }
    return Math.max(c, f.read)
  }
  /** After the result's commit: the row is recorded, the prefix of recorded rows leaves `open`. */
  const markRecorded = (f: FeedState, id: number) => {
    if (f.open.has(id)) f.open.set(id, true)
    for (const [i, done] of f.open) {
      if (!done) break
      f.open.delete(i)
      f.cursor = i
    }
    if (f.open.size === 0) f.cursor = Math.max(f.cursor, f.read)
  }
  /**
   * Reads the endpoint's next rows into `queued` (the rows that make an event for it; the others are
   * recorded at once). A row recorded already (its result committed before a stop, the cursor not past it
   * yet) is skipped: it is not sent again.
   */
  const readFeed = async (ep: EndpointRow, f: FeedState, patterns: string[]): Promise<boolean> => {
    const rows = await inbound.feedAfter(f.read, FEED_BATCH)
    if (rows.length === 0) return false
    const evs: FeedEvent[] = []
    for (const row of rows) {
      f.read = row.cursor
      // Only rows of its channel whose possible types it wants are parsed (an endpoint for binding.* alone reads
      // the feed without parsing every message).
      const maybe = (ep.channelId === null || ep.channelId === row.channelId) &&
        callbackEventCandidates(row.msgType, row.event, row.claimed).some((t) => endpointWants(ep, patterns, t, row.channelId))
      const ev = maybe ? feedEvent(row) : undefined
      if (ev && endpointWants(ep, patterns, ev.type, ev.channelId)) {
        f.open.set(row.cursor, false)
        evs.push(ev)
      } else f.open.set(row.cursor, true)
    }
    const recorded = await repo.feedRecorded(ep.id, evs.filter((e) => e.cursor <= f.recheckUpTo).map((e) => e.id))
    for (const ev of evs) {
      if (recorded.has(ev.id)) f.open.set(ev.cursor, true)
      else f.queued.push(ev)
    }
    markRecorded(f, -1)
    return rows.length === FEED_BATCH
  }
  const deliveryId = (now: number) => `whd_${now.toString(36).padStart(9, '0')}${Buffer.from(random.bytes(10)).toString('base64url')}`
  const feedJob = (ev: FeedEvent, ep: EndpointRow, f: FeedState, now: number): Job => ({
    id: deliveryId(now), eventId: ev.id, endpointId: ep.id, status: 'delivering', attempts: 1, nextAttemptAt: now,
    leaseUntil: null, leaseOwner: null, lastStatusCode: null, lastError: null, createdAt: ev.createdAt, deliveredAt: null, finishedAt: null, seq: 0,
    body: ev.body, type: ev.type, feed: { event: ev, state: f },
  })
  /**
   * An endpoint that is failing gets its feed as pending rows, without a POST (its one slot goes to the
   * retry queue in due order): its cursor keeps up, so no inbound row it still needs is pruned.
   */
  const queueFeed = async (ep: EndpointRow, f: FeedState, patterns: string[]): Promise<boolean> => {
    const more = f.queued.length === 0 ? await readFeed(ep, f, patterns) : false
    const evs = f.queued.splice(0)
    if (evs.length === 0 && f.cursor === f.persisted) return more
    const now = clock.now()
    const ids = new Set(evs.map((e) => e.cursor))
    try {
      const cursor = await db.tx(async (s) => {
        const w = s.webhooks
        for (const ev of evs) await w.insertFeedDelivery(ev, { id: deliveryId(now), endpointId: ep.id, now, attempts: 0, status: 'pending' })
        const c = cursorWith(f, ids)
        f.wrote = Math.max(f.wrote, c)
        if (!(await w.advanceFeed(ep.id, c, holderAt(ep.id, now))) && db.shared) throw new NotOurs('feed')
        return c
      }, LAZY)
      for (const id of ids) markRecorded(f, id)
      f.persisted = Math.max(f.persisted, cursor)
      if (evs.length > 0) dueChanged(ep.id)
    } catch (e) {
      // Read again from the stored cursor at the next pass (by whoever holds the feed then).
      if (e instanceof NotOurs) { dropFeed(ep.id); return false }
      if (feeds.get(ep.id) === f) feeds.delete(ep.id)
      throw e
    }
    return more
  }

  /** The record of one result, in one transaction. Returns what to log after the commit. */
  const record = (d: Job, r: PostResult, now: number) => db.tx(async (s) => {
    const w = s.webhooks
    if (d.feed) {
      // A feed event is written now, with its result and the endpoint's cursor (webhook-feed.ts): delivered at
      // once, or `delivering` for the transitions below.
      await w.insertFeedDelivery(d.feed.event, r.kind === 'delivered'
        ? { id: d.id, endpointId: d.endpointId, now, attempts: 1, status: 'delivered', statusCode: r.status }
        : { id: d.id, endpointId: d.endpointId, now, attempts: 1, status: 'delivering' })
      const current = feeds.get(d.endpointId) === d.feed.state
      if (current) {
        d.feed.wrote = cursorWith(d.feed.state, new Set([d.feed.event.cursor]))
        d.feed.state.wrote = Math.max(d.feed.state.wrote, d.feed.wrote)
      }
      // Shared database: recorded only while we hold the feed (an older state's result too: cursor 0 moves nothing).
      const holder = holderAt(d.endpointId, now)
      if ((current || holder) && !(await w.advanceFeed(d.endpointId, current ? d.feed.wrote! : 0, holder)) && holder) throw new NotOurs('feed')
    }
    // A claimed row's result only while we still own it (feed rows were written just now, in this transaction).
    const owner = d.feed ? undefined : me
    const mine = (moved: boolean) => { if (!moved && owner !== undefined) throw new NotOurs('delivery') }
    if (r.kind === 'delivered') {
      if (!d.feed) mine(await w.delivered(d.id, now, r.status, owner))
      await w.clearFailing(d.endpointId)
      return { outcome: 'delivered' as const }
    }
    const before = await w.endpoint(d.endpointId)
    const ep = await w.markFailing(d.endpointId, now)
    const startedFailing = before?.failingSince === null
    if (r.kind === 'gone') {
      mine(await w.failed(d.id, now, r.status, 'HTTP 410 Gone: the receiver asked for no more deliveries; the endpoint is disabled', owner))
      await w.disableEndpoint(d.endpointId, '410 Gone from the receiver', now)
      await w.failPending(d.endpointId, now, 'the endpoint was disabled (410 Gone from the receiver)')
      // Inside the transaction: later jobs of the same SQLite batch (on its one connection) must not write
      // deliveries for it any more; and after the commit, when every connection (PostgreSQL's pool) sees it.
      deps.invalidateEndpoints?.()
      s.afterCommit(() => deps.invalidateEndpoints?.())
      return { outcome: 'failed' as const, disabled: '410' as const, startedFailing }
    }
    let outcome: DeliveryOutcome
    if (r.kind === 'later') {
      // Decision: a Retry-After answer does not use up a step of the schedule (the attempt is given back),
      // while the delivery is younger than the whole schedule; past that it counts, so it still ends.
      const counted = now - d.createdAt >= SCHEDULE_SPAN_MS
      if (counted && d.attempts > RETRY_SCHEDULE_MS.length) {
        mine(await w.failed(d.id, now, r.status, r.error, owner))
        outcome = 'failed'
      } else {
        mine(await w.retryLater(d.id, now + r.afterMs, r.status, `${r.error} (Retry-After: waiting ${Math.round(r.afterMs / 1000)} s)`, counted ? 0 : -1, owner))
        outcome = 'retry'
      }
    } else if (d.attempts > RETRY_SCHEDULE_MS.length) {
      mine(await w.failed(d.id, now, r.status, r.error, owner))
      outcome = 'failed'
    } else {
      mine(await w.retryLater(d.id, now + jittered(RETRY_SCHEDULE_MS[d.attempts - 1]!), r.status, r.error, 0, owner))
      outcome = 'retry'
    }
    if (ep && !ep.disabled && ep.failingSince !== null && now - ep.failingSince >= DISABLE_AFTER_MS) {
      await w.disableEndpoint(d.endpointId, `every delivery failed for 5 days (since ${new Date(ep.failingSince).toISOString()}); last: ${r.error.slice(0, 200)}`, now)
      await w.failPending(d.endpointId, now, 'the endpoint was disabled (every delivery failed for 5 days)')
      deps.invalidateEndpoints?.()
      s.afterCommit(() => deps.invalidateEndpoints?.())
      return { outcome, disabled: 'failing' as const, startedFailing, since: ep.failingSince }
    }
    return { outcome, startedFailing }
  }, LAZY)

  /** `posted` frees the endpoint's slot once the POST is answered: its record may wait for the next commit (LAZY). */
  const deliver = async (d: Job, ep: EndpointRow, posted: () => void): Promise<void> => {
    const started = performance.now()
    const r = await post(d, ep)
    posted()
    // Stopping: a claimed row stays `delivering` and goes back to pending at the next start; a feed event is
    // read again from the stored cursor. Either way it is sent again with the same webhook-id.
    if (r === 'stopped') return
    const seconds = (performance.now() - started) / 1000
    for (let tries = 0; ; tries++) {
      try {
        const done = await record(d, r, clock.now())
        // failing_since or disabled changed: the endpoints are read again at the next pass.
        if (('startedFailing' in done && done.startedFailing) || ('disabled' in done && done.disabled) || (r.kind === 'delivered' && ep.failingSince !== null)) endpointsChanged()
        if (d.feed) {
          markRecorded(d.feed.state, d.feed.event.cursor)
          if (d.feed.wrote !== undefined) d.feed.state.persisted = Math.max(d.feed.state.persisted, d.feed.wrote)
        }
        deps.onResult?.(d.endpointId, done.outcome, seconds)
        const error = r.kind === 'delivered' ? '' : r.kind === 'gone' ? 'HTTP 410' : r.error
        if (r.kind !== 'delivered') log.debug('webhook delivery failed', { endpoint: d.endpointId, delivery: d.id, event: d.eventId, attempts: d.attempts, outcome: done.outcome, status: r.status, error })
        if ('startedFailing' in done && done.startedFailing) log.warn('webhook endpoint is failing; deliveries are retried (5 s … 10 h)', { endpoint: d.endpointId, url: ep.url, error })
        if ('disabled' in done && done.disabled) {
          deps.onDisabled?.(d.endpointId, done.disabled)
          log.warn(done.disabled === '410' ? 'webhook endpoint disabled: the receiver answered 410 Gone' : 'webhook endpoint disabled: every delivery failed for 5 days', { endpoint: d.endpointId, url: ep.url })
        }
        return
      } catch (e) {
        if (e instanceof NotOurs) {
          // Not an error of ours: another instance took it over (and sends it again, with the same webhook-id).
          if (d.feed) { if (feeds.get(d.endpointId) === d.feed.state) dropFeed(d.endpointId); else feedHeld.delete(d.endpointId) }
          log.warn(e.what === 'feed'
            ? 'a webhook feed result was not recorded: the feed\'s lease is no longer ours (another instance sends the event)'
            : 'a webhook delivery result was not recorded: its lease lapsed and another instance claimed it', { endpoint: d.endpointId, delivery: d.id, event: d.eventId })
          return
        }
        if (stopped || tries + 1 >= RECORD_TRIES) {
          // A claimed row: its lease lapses and it is delivered again (same webhook-id): at least once. A feed
          // event: the endpoint's feed is read again from its stored cursor.
          if (d.feed && feeds.get(d.endpointId) === d.feed.state) feeds.delete(d.endpointId)
          log.error('could not record a webhook delivery result; it is retried after its lease', { delivery: d.id, error: e })
          return
        }
        await Bun.sleep(RECORD_RETRY_MS * 2 ** tries)
      }
    }
  }

  /** A delivery holds its endpoint's slot while its POST runs, and stays in flight until its result is recorded. */
  const launch = (d: Job, ep: EndpointRow) => {
    inFlight.set(d.id, { endpointId: d.endpointId, createdAt: d.createdAt, feed: d.feed !== undefined })
    perEndpoint.set(d.endpointId, (perEndpoint.get(d.endpointId) ?? 0) + 1)
    let slotFreed = false
    const freeSlot = () => {
      if (slotFreed) return
      slotFreed = true
      const n = (perEndpoint.get(d.endpointId) ?? 1) - 1
      if (n <= 0) perEndpoint.delete(d.endpointId)
      else perEndpoint.set(d.endpointId, n)
      kickSoon()
    }
    const p = deliver(d, ep, freeSlot).catch((e) => log.error('webhook delivery crashed', { delivery: d.id, error: e })).finally(() => {
      freeSlot()
      inFlight.delete(d.id)
      running.delete(p)
    })
    running.add(p)
  }

  let busyTokens = 0
  let busyTokensAt = 0
  let busyTimer: ReturnType<typeof setTimeout> | undefined
  /** Where the next pass starts in the endpoint list (round robin). */
  let rotation = 0
  /** The slots of each active endpoint at the last pass: a feed kick while all are taken needs no pass. */
  let slotsAtLastPass = new Map<string, number>()

  /**
   * The endpoints, read again only when they may have changed: a change through the API (the events service's
   * invalidate), another process's commit (the CLI: data_version), one of our results that changed an
   * endpoint (failing, recovered, disabled), or once a second. A pass runs per finished POST under load, so
   * it reads nothing it does not need.
   */
  let endpointsCache: { at: number; version: number; byId: Map<string, EndpointRow> } | undefined
  const endpointsNow = async (now: number): Promise<Map<string, EndpointRow>> => {
    const version = db.dataVersion()
    if (!endpointsCache || now - endpointsCache.at >= ENDPOINTS_MAX_AGE_MS || version !== endpointsCache.version) {
      const byId = new Map((await repo.allEndpoints()).map((e) => [e.id, e]))
      registerWebhookSecrets(deps.log, [...byId.values()], now)
      endpointsCache = { at: now, version, byId }
    }
    return endpointsCache.byId
  }
  const endpointsChanged = () => { endpointsCache = undefined }
  /**
   * When each endpoint's due retries are looked for next: at once after new pending rows (an emit, the feed of
   * a failing endpoint, a release) or a read that filled its slots; otherwise after DUE_RECHECK_MS (a retry
   * due later, or requeued through the API, waits at most that much longer).
   */
  const dueCheckAt = new Map<string, number>()
  const dueChanged = (endpointId?: string) => { if (endpointId === undefined) dueCheckAt.clear(); else dueCheckAt.delete(endpointId) }

  let lastPassAt = -Infinity
  const pass = async (): Promise<boolean | void> => {
    lastPassAt = performance.now()
    const now = clock.now()
    if (db.shared) await renewFeeds(now)
    if (now - lastRelease >= RELEASE_EVERY_MS) {
      lastRelease = now
      const n = await db.tx((s) => s.webhooks.release(now, [...inFlight.keys()]))
      if (n > 0) { log.warn('webhook deliveries whose lease lapsed are pending again', { count: n }); dueChanged() }
    }
    const free = GLOBAL - inFlight.size
    if (free <= 0) return
    const endpoints = await endpointsNow(now)
    for (const id of feeds.keys()) if (!endpoints.get(id) || endpoints.get(id)!.disabled) feeds.delete(id)
    for (const id of feedHeld.keys()) if (!endpoints.get(id) || endpoints.get(id)!.disabled) await releaseFeed(id)
    const busy = deps.busy?.() ?? false
    // Pacing during a burst: tokens at BUSY_RATE per second, at most a tenth of a second's worth saved up.
    busyTokens = Math.min(BUSY_RATE / 10, busyTokens + ((now - busyTokensAt) / 1000) * BUSY_RATE)
    busyTokensAt = now
    let budget = busy ? Math.floor(busyTokens) : Infinity
    const slotsOf = (e: EndpointRow) => (e.failingSince !== null ? FAILING_SLOTS : busy ? BUSY_SLOTS : PER_ENDPOINT)
    slotsAtLastPass = new Map([...endpoints.values()].filter((e) => !e.disabled).map((e) => [e.id, slotsOf(e)]))
    // Per endpoint, as many as its free slots: first its due retries (one indexed read: a dead endpoint's
    // backlog is never walked), then its feed. Each pass starts one endpoint further on, so that when the
    // global limit binds, every endpoint gets its turn (in creation order, endpoints with a backlog that fill
    // the free slots would starve the others).
    const picked: string[] = []
    const fromFeed: { job: Job; ep: EndpointRow }[] = []
    let full = false
    const list = [...endpoints.values()]
    const start = list.length > 0 ? rotation++ % list.length : 0
    for (let i = 0; i < list.length; i++) {
      const e = list[(start + i) % list.length]!
      if (picked.length + fromFeed.length >= free) { full = true; break }
      if (e.disabled) continue
      // A reply hook gets the callbacks' events before WeChat is answered (reply-hook.ts), not from the feed.
      // Shared database: only the holder of the endpoint's feed lease reads it (the others do its retries only).
      const fe = e.reply ? undefined : await feedHolder(e, now)
      const f = fe ? await feedOf(fe) : undefined
      const patterns = JSON.parse(e.events) as string[]
      if (f && e.failingSince !== null && !busy) {
        if (await queueFeed(e, f, patterns)) full = true
      }
      const slots = slotsOf(e)
      let room = Math.min(slots - (perEndpoint.get(e.id) ?? 0), free - picked.length - fromFeed.length, budget)
      if (room <= 0) continue
      const rows = (dueCheckAt.get(e.id) ?? 0) <= now ? await repo.dueFor(e.id, now, room) : []
      if ((dueCheckAt.get(e.id) ?? 0) <= now) dueCheckAt.set(e.id, rows.length === room ? 0 : now + DUE_RECHECK_MS)
      for (const d of rows) picked.push(d.id)
      room -= rows.length
      budget -= rows.length
      if (room === 0) { full = true; continue }
      if (e.failingSince !== null || !f) continue
      if (f.queued.length === 0 && await readFeed(e, f, patterns)) full = true
      while (room > 0 && f.queued.length > 0) {
        fromFeed.push({ job: feedJob(f.queued.shift()!, e, f, now), ep: e })
        room--
        budget--
      }
      if (f.queued.length > 0) full = true
    }
    if (busy) {
      busyTokens -= picked.length + fromFeed.length
      // Out of tokens with work left: look again when the next one is there (a finished POST kicks too).
      if (budget <= 0 && !busyTimer) busyTimer = setTimeout(() => { busyTimer = undefined; kick() }, Math.ceil(1000 / BUSY_RATE))
    }
    for (const { job, ep } of fromFeed) launch(job, ep)
    // The cursor moved over rows that make no event for an endpoint (no result of theirs will write it).
    const idle: [string, number][] = []
    for (const [id, f] of feeds) if (f.cursor > f.persisted && perEndpoint.get(id) === undefined) idle.push([id, f.cursor])
    if (idle.length > 0) {
      const lost = await db.tx(async (s) => {
        const out: string[] = []
        // The lease as it is now (the pass may have taken a while since `now`).
        for (const [id, c] of idle) if (!(await s.webhooks.advanceFeed(id, c, holderAt(id, clock.now()))) && db.shared) out.push(id)
        return out
      }, LAZY)
      for (const id of lost) dropFeed(id)
      for (const [id, c] of idle) { const f = feeds.get(id); if (f) f.persisted = Math.max(f.persisted, c) }
    }
    if (picked.length === 0) return fromFeed.length > 0 && full && inFlight.size < GLOBAL
    const claimed = await db.tx(async (s) => {
      const out: DeliveryWithEvent[] = []
      for (const id of picked) { const d = await s.webhooks.claim(id, now + LEASE_MS, me); if (d) out.push(d) }
      return out
    }, LAZY)
    for (const d of claimed) launch(d, endpoints.get(d.endpointId)!)
    // An endpoint that filled its slots may have more due (they go when its POSTs finish, which kick again);
    // a pass cut short by the global limit looks again.
    return claimed.length === picked.length && full && inFlight.size < GLOBAL
  }

  /** Looks for due deliveries now (after an emit, a finished POST, or the poll). */
  const pump = createPump({
    pass,
    stopped: () => stopped,
    onError: (e) => log.error('webhook worker pass failed; trying again shortly', { error: e }),
  })
  const kick = pump.kick
  /** After a finished POST: one pass per event-loop turn for all the POSTs that finished in it. */
  let soonScheduled = false
  const kickSoon = () => {
    if (soonScheduled) return
    soonScheduled = true
    setImmediate(() => { soonScheduled = false; kick() })
  }

  /**
   * Inbound rows were committed: a pass soon, but at most one per FEED_GAP_MS (under a burst the event loop
   * turns once per request or so, and a pass per turn was a fifth of the thread: measured), and none while
   * every endpoint's slots are taken (a finished POST kicks anyway).
   */
  let feedKickScheduled = false
  let feedTimer: ReturnType<typeof setTimeout> | undefined
  const feedPass = () => {
    feedTimer = undefined
    for (const [id, slots] of slotsAtLastPass) if ((perEndpoint.get(id) ?? 0) < slots) return kick()
  }
  const feedKick = () => {
    if (feedKickScheduled || feedTimer || stopped) return
    feedKickScheduled = true
    setImmediate(() => {
      feedKickScheduled = false
      const wait = lastPassAt + FEED_GAP_MS - performance.now()
      if (wait > 0) feedTimer = setTimeout(feedPass, Math.ceil(wait))
      else feedPass()
    })
  }

  let listening = false

  return {
    /** Rows a crash or stop left `delivering` go back to pending, then the worker runs. */
    start: async (): Promise<void> => {
      // On a shared database another instance's claims are its own until their lease lapses (the pass releases
      // those); this instance's own from before a restart (WXGATE_INSTANCE: the same name) come back at once.
      const n = await db.tx(async (s) => db.shared
        ? await s.webhooks.release(clock.now()) + await s.webhooks.release(Infinity, [], me)
        : s.webhooks.release(Infinity))
      if (n > 0) log.warn('webhook deliveries caught mid-POST by a stop are pending again (sent again with the same webhook-id)', { count: n })
      stopped = false
      // Feed events in flight at a stop were not recorded: every endpoint's feed is read again from its stored cursor.
      feeds.clear()
      feedHeld.clear()
      feedTried.clear()
      halt = new AbortController()
      lastRelease = clock.now()
      if (!listening) {
        listening = true
        deps.events.onEmitted(() => { dueChanged(); kick() })
        deps.events.onInvalidate?.(endpointsChanged)
        deps.onFeed?.(feedKick)
      }
      endpointsChanged()
      dueChanged()
      poll = setInterval(kick, POLL_MS)
      poll.unref?.()
      kick()
    },
    /** Aborts the POSTs in flight (their rows stay `delivering`: pending again at the next start; on a shared database released at once). */
    stop: async (): Promise<void> => {
      stopped = true
      clearInterval(poll)
      clearTimeout(busyTimer)
      busyTimer = undefined
      clearTimeout(feedTimer)
      feedTimer = undefined
      halt.abort()
      await pump.settled()
      await Promise.allSettled([...running])
      // Nothing of ours records any more: the feeds we held are free for another instance at once (a deploy
      // hands over without waiting for the leases to lapse). If this fails they lapse in FEED_LEASE_MS.
      await Promise.allSettled([...feedHeld.keys()].map(releaseFeed))
      // Shared database: so are the rows whose POSTs the stop aborted (sent again by another instance, same
      // webhook-id), instead of waiting up to 55 s for their lease. Alone (SQLite) the next start does it.
      if (db.shared) {
        await db.tx((s) => s.webhooks.release(Infinity, [], me)).catch((e: unknown) =>
          log.warn('could not release this instance\'s webhook claims at stop; they are taken over when their lease lapses', { error: e }))
      }
    },
    kick,
    /**
     * Retried deliveries in flight per endpoint with the oldest one's creation time (for the queue gauges;
     * feed events in flight are counted with the feed's backlog: the inbound rows after the endpoint's cursor).
     */
    inFlight: (): { endpointId: string; depth: number; oldestCreatedAt: number | null }[] => {
      const by = new Map<string, { depth: number; oldestCreatedAt: number }>()
      for (const f of inFlight.values()) {
        if (f.feed) continue
        const e = by.get(f.endpointId)
        if (!e) by.set(f.endpointId, { depth: 1, oldestCreatedAt: f.createdAt })
        else { e.depth++; e.oldestCreatedAt = Math.min(e.oldestCreatedAt, f.createdAt) }
      }
      return [...by].map(([endpointId, v]) => ({ endpointId, ...v }))
    },
    /** Deliveries finished (delivered or failed) 7 days ago, then events no delivery refers to, in chunks. */
    prune: async (): Promise<{ deliveries: number; events: number }> => {
      const before = clock.now() - DELIVERY_RETENTION_MS
      const deliveries = await inChunks((limit) => db.tx((s) => s.webhooks.pruneDeliveries(before, limit)))
      const events = await inChunks((limit) => db.tx((s) => s.webhooks.pruneEvents(before, limit)))
      if (deliveries + events > 0) log.info('pruned webhook deliveries and events', { deliveries, events })
      return { deliveries, events }
    },
  }
}
export type WebhookWorker = ReturnType<typeof createWebhookWorker>
