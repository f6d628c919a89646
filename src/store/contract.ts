/**
 * @module The store contract (issue 14, STYLE §11): what the domain may ask of the database, and nothing of
 * how. Two implementations: src/store/sqlite/ (bun:sqlite, group commit, the single binary's default) and
 * src/store/postgres/ (several instances on one PostgreSQL, SPEC §8). The domain imports this file only,
 * never an ORM, a driver or SQL.
 *
 * Every repository method may answer synchronously (SQLite) or with a Promise (PostgreSQL): callers always
 * `await` it (Awaitable). Rows are plain objects; times are milliseconds since the epoch (numbers), flags
 * booleans, as both schemas store them (the parity test keeps the schemas equal).
 */

export type Awaitable<T> = T | Promise<T>

// ---- rows ------------------------------------------------------------------------------------------------

export interface ChannelRow {
  id: string
  appId: string
  appSecret: string
  token: string
  aesKey: string | null
  /** JSON object of reply texts, null: the Chinese defaults. */
  replies: string | null
  name: string | null
  createdAt: number
  updatedAt: number
}

export interface ChannelInput {
  id: string
  appId: string
  appSecret: string
  token: string
  aesKey?: string | null
  replies?: Record<string, string> | null
  /** Display name; undefined leaves the stored one as it is, null clears it. */
  name?: string | null
}

export interface ApiKeyRow {
  id: string
  name: string
  keyHash: string
  prefix: string
  scopes: string
  createdAt: number
  revokedAt: number | null
  lastUsedAt: number | null
}

export interface TokenRow {
  channelId: string
  accessToken: string | null
  expiresAt: number | null
  refreshedAt: number | null
  day: string
  refreshesToday: number
  forceRefreshesToday: number
  lastForceAt: number | null
  quotaUntil: number | null
  apiQuotas: string | null
  lastError: string | null
}

export interface BindCodeRow {
  code: string
  channelId: string
  subject: string
  label: string | null
  status: string
  qrTicket: string
  qrUrl: string
  createdAt: number
  expiresAt: number
  openid: string | null
  boundAt: number | null
}

export type BindingStatus = 'active' | 'unsubscribed'

export interface BindingRow {
  seq: number
  id: string
  channelId: string
  openid: string
  subject: string
  status: string
  code: string | null
  boundAt: number
  updatedAt: number
}

export interface BindingFilter {
  channelId?: string
  subject?: string
  openid?: string
  /** Only rows after this seq (pagination cursor). */
  afterSeq?: number
  limit: number
}

export interface SendRequestRow {
  id: string
  apiKeyId: string
  idempotencyKey: string | null
  bodyHash: string
  answer: string
  createdAt: number
}

export type MessageStatus = 'queued' | 'sending' | 'sent' | 'delivered' | 'failed'

export interface MessageRow {
  seq: number
  id: string
  requestId: string
  channelId: string
  openid: string
  subject: string | null
  templateId: string
  /** 'template', or a customer-service message type. */
  type: string
  payload: string
  fallback: string | null
  sentAs: string | null
  status: string
  attempts: number
  errcode: number | null
  error: string | null
  wechatMsgId: string | null
  nextAttemptAt: number
  createdAt: number
  sentAt: number | null
  finishedAt: number | null
  lastCallAt: number | null
  uncertainSince: number | null
}

/** A new outbox row: every column given but the call-tracking ones (type defaults to 'template'). */
export type NewMessage = Omit<MessageRow, 'seq' | 'lastCallAt' | 'uncertainSince' | 'type' | 'fallback' | 'sentAs'> &
  Partial<Pick<MessageRow, 'type' | 'fallback' | 'sentAs'>>

export interface MessageFilter {
  channelId?: string
  subject?: string
  status?: MessageStatus
  /** A template message's template id (the console's filter). */
  templateId?: string
  /** createdAt >= since (ms) */
  since?: number
  /** Newest first: only rows with seq below this (pagination cursor). */
  beforeSeq?: number
  limit: number
}

export interface AttemptRow {
  id: number
  messageId: string
  at: number
  durationMs: number
  outcome: string
  errcode: number | null
  error: string | null
}

export interface InboundInsert {
  channelId: string
  dedupKey: string
  msgType: string
  event: string | null
  fromUser: string
  createTime: number
  body: string
  reply: string
  handledBy: string
  receivedAt: number
}

/** The stored row of a message: its id, arrival, claim and rule. */
export interface InboundRowRef { id: number; receivedAt: number; claimed: boolean; handledBy: string }

/** A row of the webhook feed: what the event of one callback is built from (webhook-feed.ts). */
export interface FeedRow {
  id: number
  /**
   * The row's place in the feed, increasing in the order rows become visible: a cursor past it never misses
   * a row committed later. SQLite (one writer, in order): the id. PostgreSQL (ids are taken before commit,
   * so a smaller id can commit after a larger one): the inserting transaction's id, read only below the
   * oldest transaction still running (every row with a smaller one is settled).
   */
  cursor: number
  channelId: string
  msgType: string
  /** The Event of an event (its canonical name), null for a message. */
  event: string | null
  /** The plaintext XML as received. */
  body: string
  claimed: boolean
  receivedAt: number
  /** The subject of the sender's binding when the row is read. */
  subject: string | null
}

/** A row of the inbound history, with the subject of the sender's binding (if any) joined in. */
export interface InboundHistoryRow {
  id: number
  channelId: string
  msgType: string
  event: string | null
  fromUser: string
  createTime: number
  body: string
  receivedAt: number
  subject: string | null
}

export interface InboundFilter {
  channelId?: string
  openid?: string
  subject?: string
  /** A MsgType (text, image, event …) or an Event (subscribe, CLICK …). */
  type?: string
  /** received_at at or after (ms). */
  since?: number
  /** Newest first: only rows with id below this (pagination cursor). */
  beforeId?: number
  /** Leave out WeChat's delivery reports (TEMPLATESENDJOBFINISH): the console's conversations. */
  withoutDeliveryReports?: boolean
  limit: number
}

/** An inbound row that may decide the customer-service window. */
export interface InteractionRow { id: number; msgType: string; event: string | null; receivedAt: number }

export interface EndpointRow {
  id: string
  url: string
  /** JSON array of event types ("*" for all). */
  events: string
  channelId: string | null
  description: string | null
  secret: string
  previousSecret: string | null
  previousSecretUntil: number | null
  disabled: boolean
  disabledReason: string | null
  failingSince: number | null
  reply: boolean
  lateReply: string
  feedCursor: number
  createdAt: number
  updatedAt: number
}

export type NewEndpoint = Omit<EndpointRow, 'disabled' | 'disabledReason' | 'failingSince' | 'previousSecret' | 'previousSecretUntil' | 'feedCursor' | 'reply' | 'lateReply'> &
  Partial<Pick<EndpointRow, 'reply' | 'lateReply'>>
export type EndpointPatch = Partial<Pick<EndpointRow, 'url' | 'events' | 'channelId' | 'description' | 'secret' | 'previousSecret' | 'previousSecretUntil' | 'disabled' | 'disabledReason' | 'failingSince' | 'lateReply'>>

export type DeliveryStatus = 'pending' | 'delivering' | 'delivered' | 'failed'

export interface DeliveryRow {
  seq: number
  id: string
  eventId: string
  endpointId: string
  status: string
  attempts: number
  nextAttemptAt: number
  leaseUntil: number | null
  /** While `delivering`: the instance that claimed it (its result is recorded only while it still owns the row). */
  leaseOwner: string | null
  lastStatusCode: number | null
  lastError: string | null
  createdAt: number
  deliveredAt: number | null
  finishedAt: number | null
}

/** A delivery with what its POST needs: the event's body and type. */
export type DeliveryWithEvent = DeliveryRow & { body: string; type: string }

export interface DeliveryFilter {
  endpointId: string
  status?: 'pending' | 'delivered' | 'failed'
  /** Newest first: only rows with seq below this (pagination cursor). */
  beforeSeq?: number
  limit: number
}

export interface NewEvent { id: string; type: string; channelId: string | null; body: string; createdAt: number }

export interface MediaUploadRow {
  channelId: string
  type: string
  sha256: string
  mediaId: string
  bytes: number
  createdAt: number
  expiresAt: number
}

// ---- repositories ----------------------------------------------------------------------------------------

export interface ChannelsRepo {
  get(id: string): Awaitable<ChannelRow | undefined>
  list(): Awaitable<ChannelRow[]>
  /** Inserts or updates by id; tells which. Inside a transaction. */
  upsert(c: ChannelInput, now: number): Awaitable<{ created: boolean; row: ChannelRow }>
}

export interface ApiKeysRepo {
  insert(row: Omit<ApiKeyRow, 'revokedAt' | 'lastUsedAt'> & Partial<Pick<ApiKeyRow, 'revokedAt' | 'lastUsedAt'>>): Awaitable<void>
  list(): Awaitable<ApiKeyRow[]>
  /** An active (not revoked) key by its hash. */
  findActiveByHash(keyHash: string): Awaitable<ApiKeyRow | undefined>
  revoke(id: string, now: number): Awaitable<boolean>
  touch(id: string, now: number): Awaitable<void>
  exists(id: string): Awaitable<boolean>
}

export interface TokensRepo {
  get(channelId: string): Awaitable<TokenRow | undefined>
  /** Every channel's token expiry (ms; null without a token), for /metrics. */
  expiries(): Awaitable<{ channelId: string; expiresAt: number | null }[]>
  /** Creates the row if missing and resets the counters when the Asia/Shanghai day changed. */
  ensureDay(channelId: string, day: string): Awaitable<void>
  storeToken(channelId: string, p: { accessToken: string; expiresAt: number; now: number; forced: boolean }): Awaitable<void>
  /** Counts a forced refresh that was attempted but failed: the limits count attempts. */
  countForceAttempt(channelId: string, now: number): Awaitable<void>
  /** Compare-and-set: forget the token only if it is still the failing one. */
  invalidateIf(channelId: string, failing: string): Awaitable<boolean>
  setError(channelId: string, lastError: string | null): Awaitable<void>
  setQuotaUntil(channelId: string, until: number | null): Awaitable<void>
  /** The per-API quotas (api → until ms) as JSON text; null clears them all. */
  setApiQuotas(channelId: string, apiQuotas: string | null): Awaitable<void>
}

export interface BindCodesRepo {
  insert(row: BindCodeRow): Awaitable<void>
  get(code: string): Awaitable<BindCodeRow | undefined>
  /** pending and unexpired → bound to this OpenID in one statement: of many scans exactly one gets the row. */
  consume(p: { code: string; channelId: string; openid: string; now: number }): Awaitable<BindCodeRow | undefined>
  /** pending → cancelled; false when the code is not pending. */
  cancel(code: string): Awaitable<boolean>
  /** Deletes at most `limit` codes that expired before `before` (ms). */
  pruneExpiredBefore(before: number, limit: number): Awaitable<number>
}

export interface BindingsRepo {
  /** Binds the OpenID to the subject (a new row, or this (channel, openid)'s row moved and made active): the unique index decides. */
  bind(p: { id: string; channelId: string; openid: string; subject: string; code: string; now: number }): Awaitable<BindingRow>
  /** Binds only if this (channel, openid) has no binding at all; undefined when it has. */
  bindIfUnbound(p: { id: string; channelId: string; openid: string; subject: string; code: string; now: number }): Awaitable<BindingRow | undefined>
  /** true when a row changed. */
  setStatus(p: { channelId: string; openid: string; status: BindingStatus; now: number }): Awaitable<boolean>
  get(id: string): Awaitable<BindingRow | undefined>
  byOpenid(channelId: string, openid: string): Awaitable<BindingRow | undefined>
  list(f: BindingFilter): Awaitable<BindingRow[]>
  delete(id: string): Awaitable<boolean>
}

export interface InboundRepo {
  /** The stored reply of an already handled message, if any. */
  findReply(channelId: string, dedupKey: string): Awaitable<string | undefined>
  /** Records the message with its reply; false when (channel, dedup key) is there already (the unique index decides). */
  insert(r: InboundInsert): Awaitable<boolean>
  /** Like insert, returning the new row's id (undefined when the row was there already). */
  insertReturningId(r: InboundInsert): Awaitable<number | undefined>
  findRow(channelId: string, dedupKey: string): Awaitable<InboundRowRef | undefined>
  /** The reply, the rule and the claim of a message inserted earlier. */
  setOutcome(channelId: string, dedupKey: string, reply: string, handledBy: string, claimed: boolean): Awaitable<void>
  /** Deletes at most `limit` rows received before `before` (ms) with a feed cursor up to `maxCursor`; how many. */
  pruneBefore(before: number, limit: number, maxCursor?: number): Awaitable<number>
  /**
   * Up to `limit` rows after the feed cursor `after`, in feed order (FeedRow.cursor): the webhook feed. Rows
   * sharing a cursor (one transaction's) come together, past `limit` if need be.
   */
  feedAfter(after: number, limit: number): Awaitable<FeedRow[]>
  /** The newest row's feed cursor (0 when none): where a new endpoint's feed starts. */
  newestCursor(): Awaitable<number>
  /** Rows after the feed cursor `after` and the oldest one's arrival (an endpoint's feed backlog, for the metrics). */
  lagAfter(after: number): Awaitable<{ depth: number; oldestReceivedAt: number | null }>
  /** Per channel: callbacks received since `since` (ms), WeChat's delivery reports (TEMPLATESENDJOBFINISH) not counted. */
  countsSince(since: number): Awaitable<{ channelId: string; n: number }[]>
  /** The inbound history (GET /api/inbound), newest first. */
  history(f: InboundFilter): Awaitable<InboundHistoryRow[]>
  historyRow(id: number): Awaitable<InboundHistoryRow | undefined>
}

export interface WindowRepo {
  /** The latest user message, the latest of `shortEvents` and the latest unsubscribe since `since` (at most three rows). */
  latestInteractions(p: { channelId: string; openid: string; since: number; shortEvents: readonly string[] }): Awaitable<InteractionRow[]>
  /** 'subscribe' or 'unsubscribe': the user's latest follow event, if any is kept. */
  lastFollowEvent(channelId: string, openid: string): Awaitable<string | undefined>
  /** Customer-service messages that went as such since `since`. */
  sentSince(channelId: string, openid: string, since: number): Awaitable<number>
}

export interface MessagesRepo {
  /** false when this API key already used this idempotency key (the unique index decides). */
  insertRequest(row: SendRequestRow): Awaitable<boolean>
  findRequest(apiKeyId: string, idempotencyKey: string): Awaitable<SendRequestRow | undefined>
  /**
   * Deletes the key's request if it was made before `before` (ms): a key older than the idempotency window is
   * free again. Never a newer one: a concurrent request's row, committed meanwhile, is a replay, not room.
   */
  forgetRequest(apiKeyId: string, idempotencyKey: string, before: number): Awaitable<void>
  insertMessages(rows: NewMessage[]): Awaitable<void>
  get(id: string): Awaitable<MessageRow | undefined>
  getMany(ids: string[]): Awaitable<MessageRow[]>
  list(f: MessageFilter): Awaitable<MessageRow[]>
  /** A channel's due queued messages, the longest due first (ties in acceptance order). */
  due(channelId: string, now: number, limit: number): Awaitable<MessageRow[]>
  /** The same for customer-service messages only. */
  dueCustom(channelId: string, now: number, limit: number): Awaitable<MessageRow[]>
  /**
   * queued → sending, claimed by `owner` (an instance, Deps.instanceId) until `leaseUntil`, counting the call
   * about to be made (at `now`); undefined when someone else took it. One conditional UPDATE: of two instances
   * claiming at once, the second matches nothing (PostgreSQL: FOR UPDATE SKIP LOCKED, so it does not even wait
   * for the first's transaction).
   */
  claim(id: string, p: { owner: string; now: number; leaseUntil: number }): Awaitable<MessageRow | undefined>
  /** Every `sending` row `owner` holds gets its lease moved to `until` (one statement); how many. */
  renewLeases(owner: string, until: number): Awaitable<number>
  /** The outbox per channel (queued + sending) with its oldest message's creation time, for /metrics. */
  outboxDepth(): Awaitable<{ channelId: string; depth: number; oldestCreatedAt: number | null }[]>
  /** Per channel and status: messages accepted since `since` (ms). */
  countsSince(since: number): Awaitable<{ channelId: string; status: string; n: number }[]>
  /** Every `sending` row goes back to the queue (uncertain since its last call; one process only: SQLite's start); how many. */
  requeueSending(now: number): Awaitable<number>
  /**
   * The takeover on a shared database: `sending` rows whose lease lapsed (`lease_until <= now`, or none: claimed
   * before leases) go back to the queue as requeueSending does, except those `owner` holds (its own calls in
   * flight, renewed while they run); `includeOwn` (an instance's start: none of its calls is in flight) takes
   * `owner`'s rows too, lapsed or not. How many.
   */
  requeueLapsed(now: number, p: { owner: string; includeOwn?: boolean }): Awaitable<number>
  /**
   * The results: recorded only on a `sending` row that `owner` still holds (false: it was taken over meanwhile,
   * or is not sending; nothing written). The lease is cleared with the claim.
   */
  markSent(id: string, p: { owner: string; wechatMsgId: string | null; now: number; extraCalls: number; sentAs?: string | null }): Awaitable<boolean>
  markRetry(id: string, p: { owner: string; nextAttemptAt: number; errcode: number | null; error: string; extraCalls: number; uncertainSince?: number | null; sentAs?: string | null }): Awaitable<boolean>
  markFailed(id: string, p: { owner: string; errcode: number | null; error: string; now: number; extraCalls: number; sentAs?: string | null }): Awaitable<boolean>
  addAttempt(a: Omit<AttemptRow, 'id'>): Awaitable<void>
  attemptsOf(messageId: string): Awaitable<AttemptRow[]>
  /** TEMPLATESENDJOBFINISH: a `sent` message with this msgid becomes delivered or failed. */
  finishByWechatMsgId(p: { channelId: string; wechatMsgId: string; status: 'delivered' | 'failed'; error: string | null; now: number }): Awaitable<MessageRow | undefined>
  /** The seq range of the table (for walking it in windows), undefined when empty. */
  seqRange(): Awaitable<{ min: number; max: number } | undefined>
  /** One prune chunk: finished messages (and their attempts) among seq in [fromSeq, fromSeq + window). */
  pruneWindow(p: { finishedBefore: number; fromSeq: number; window: number }): Awaitable<number>
  /** Deletes up to `limit` send requests older than `before`; how many. */
  pruneRequests(p: { before: number; limit: number }): Awaitable<number>
}

/** Who may move an endpoint's feed cursor on a shared database: the holder of its lease (`feed:<endpointId>`). */
export interface FeedHolder {
  lease: string
  owner: string
  /** The lease must last beyond this (ms): a holder about to lapse records nothing (another may be taking over). */
  validAfter: number
}

export interface WebhooksRepo {
  /** Every endpoint that is not disabled. */
  activeEndpoints(): Awaitable<EndpointRow[]>
  insertEvent(e: NewEvent): Awaitable<void>
  /** The event's deliveries, one per matching endpoint, due at once. */
  insertDeliveries(rows: { id: string; eventId: string; endpointId: string; nextAttemptAt: number; createdAt: number }[]): Awaitable<void>
  allEndpoints(): Awaitable<EndpointRow[]>
  endpoint(id: string): Awaitable<EndpointRow | undefined>
  /** A new endpoint; its feed starts at the newest inbound row's cursor. */
  insertEndpoint(row: NewEndpoint): Awaitable<EndpointRow>
  /** The environment's endpoint: inserted, or its url, secret and events replaced. */
  upsertEndpoint(row: NewEndpoint): Awaitable<EndpointRow>
  /** `disabled: false` on a disabled endpoint also moves its feed to the newest inbound row. */
  updateEndpoint(id: string, patch: EndpointPatch, now: number): Awaitable<EndpointRow | undefined>
  /**
   * The endpoint's feed is dealt with up to this feed cursor (never moved back). With `holder` (a shared
   * database): only while `holder.owner` holds the lease `holder.lease` past `holder.validAfter`, in the same
   * statement. true when the endpoint's row was written (it exists, and the holder holds the lease).
   */
  advanceFeed(id: string, cursor: number, holder?: FeedHolder): Awaitable<boolean>
  /** The lowest feed cursor of the active (non-reply) endpoints; undefined: none. */
  feedFloor(): Awaitable<number | undefined>
  /** Of these feed events, those that have a delivery for the endpoint already. */
  feedRecorded(endpointId: string, eventIds: string[]): Awaitable<Set<string>>
  /** A feed event's row (once) and this endpoint's delivery with its result. */
  insertFeedDelivery(e: { id: string; type: string; channelId: string; body: string; createdAt: number },
    d: { id: string; endpointId: string; now: number; attempts: number } & ({ status: 'delivering' | 'pending' } | { status: 'delivered'; statusCode: number })): Awaitable<void>
  deleteEndpoint(id: string): Awaitable<boolean>
  /** The first failure of a run starts the clock of the 5-day rule. */
  markFailing(id: string, now: number): Awaitable<EndpointRow | undefined>
  clearFailing(id: string): Awaitable<void>
  disableEndpoint(id: string, reason: string, now: number): Awaitable<void>
  /** The endpoint's pending deliveries fail at once; how many. */
  failPending(endpointId: string, now: number, error: string): Awaitable<number>
  /** One endpoint's due pending deliveries, the longest due first. */
  dueFor(endpointId: string, now: number, limit: number): Awaitable<DeliveryRow[]>
  /**
   * pending → delivering with a lease held by `owner` (an instance id), counting the attempt; undefined when it
   * was not pending, or another instance is claiming it now (PostgreSQL: FOR UPDATE SKIP LOCKED, not waited for).
   */
  claim(id: string, leaseUntil: number, owner: string): Awaitable<DeliveryWithEvent | undefined>
  /**
   * `delivering` rows whose lease lapsed before `before` (all: Infinity) back to pending (no owner), but
   * `except`; with `owner` only that instance's (its own claims at a stop).
   */
  release(before: number, except?: string[], owner?: string): Awaitable<number>
  /**
   * The results below move a `delivering` row only, and with `owner` only while that instance still owns it
   * (a result that comes after the row was released and claimed by another is not recorded: false).
   */
  delivered(id: string, now: number, statusCode: number, owner?: string): Awaitable<boolean>
  /** delivering → pending at `nextAttemptAt`; `attemptsDelta` -1 gives the attempt back. */
  retryLater(id: string, nextAttemptAt: number, statusCode: number | null, error: string, attemptsDelta?: number, owner?: string): Awaitable<boolean>
  failed(id: string, now: number, statusCode: number | null, error: string, owner?: string): Awaitable<boolean>
  /** failed → pending at once, attempts at the end of the schedule; undefined when not failed. */
  requeue(id: string, now: number, lastStep: number): Awaitable<DeliveryRow | undefined>
  delivery(id: string): Awaitable<DeliveryWithEvent | undefined>
  /** An endpoint's deliveries, newest first, with their event's type (`delivering` listed as pending). */
  deliveries(f: DeliveryFilter): Awaitable<(DeliveryRow & { type: string })[]>
  /** Pending deliveries per endpoint with the oldest one's creation time, for /metrics. */
  pendingDepth(): Awaitable<{ endpointId: string; depth: number; oldestCreatedAt: number | null }[]>
  /** Up to `limit` deliveries finished before `before`. */
  pruneDeliveries(before: number, limit: number): Awaitable<number>
  /** Up to `limit` events created before `before` that no delivery refers to. */
  pruneEvents(before: number, limit: number): Awaitable<number>
}

export interface MediaRepo {
  /** The stored upload of this content whose media id is valid past `validAfter` (ms). */
  reusable(p: { channelId: string; type: string; sha256: string; validAfter: number }): Awaitable<MediaUploadRow | undefined>
  /** One row per content: a new upload replaces the older media id. */
  put(row: MediaUploadRow): Awaitable<void>
  pruneExpiredBefore(before: number, limit: number): Awaitable<number>
}

/** A named lease's holder (leases table): `owner` holds it until `until` (ms). */
export interface LeaseRow { name: string; owner: string; until: number }

/**
 * Named leases shared by the instances of one database (SPEC §8): one holder at a time, a lapsed lease free
 * for anyone. Each method is one statement, atomic on its own (no transaction needed around it).
 */
export interface LeasesRepo {
  /** Takes the lease until `until` when it is free, lapsed (until <= now) or already `owner`'s; true when `owner` holds it now. */
  acquire(name: string, owner: string, until: number, now: number): Awaitable<boolean>
  /** Lets go of the lease if `owner` holds it (a later acquire by anyone succeeds at once). */
  release(name: string, owner: string): Awaitable<void>
  get(name: string): Awaitable<LeaseRow | undefined>
}

/** Token buckets shared by the instances (SPEC §8): the per-channel send rate held for all of them together. */
export interface RateBucketsRepo {
  /**
   * Inside a transaction: refills the bucket `name` at `ratePerSecond` up to `burst` since it was last
   * refilled (a new bucket starts full), takes up to `want` whole tokens, and returns how many it took (0…want).
   * Concurrent takers (instances) are serialized on the bucket's row.
   */
  take(name: string, want: number, p: { ratePerSecond: number; burst: number; now: number }): Awaitable<number>
  /** Gives back `n` tokens taken but not used (the rows they were for were claimed by another instance). */
  giveBack(name: string, n: number): Awaitable<void>
}

/** A console session (console_sessions): the cookie carries the token, the row its sha256. */
export interface ConsoleSessionRow { id: string; keyId: string; csrf: string; createdAt: number; lastSeenAt: number }

/**
 * Console sessions (SPEC §9), in the database so that every instance sees a sign-in, a sign-out and a
 * revocation at once (SPEC §8). `id` is the SHA-256 (hex) of the cookie's token, never the token. Each method
 * is one statement. The 12 h idle rule is the caller's (it compares lastSeenAt on get; pruneIdle tidies up).
 */
export interface ConsoleSessionsRepo {
  insert(row: ConsoleSessionRow): Awaitable<void>
  get(id: string): Awaitable<ConsoleSessionRow | undefined>
  /** A session used again: lastSeenAt = at (only ever moves forward). */
  touch(id: string, at: number): Awaitable<void>
  /** Sign-out: true when there was such a session. */
  delete(id: string): Awaitable<boolean>
  /** Ends every session opened with this key (its revocation); the count. */
  deleteByKey(keyId: string): Awaitable<number>
  /** Deletes the sessions idle since before `before` (ms); the count. */
  pruneIdle(before: number): Awaitable<number>
}

/** Every repository, on one connection or inside one transaction. */
export interface Store {
  channels: ChannelsRepo
  apiKeys: ApiKeysRepo
  tokens: TokensRepo
  bindCodes: BindCodesRepo
  bindings: BindingsRepo
  inbound: InboundRepo
  window: WindowRepo
  messages: MessagesRepo
  webhooks: WebhooksRepo
  media: MediaRepo
  leases: LeasesRepo
  rates: RateBucketsRepo
  consoleSessions: ConsoleSessionsRepo
  /**
   * Runs `fn` once what this store wrote is committed: for a transaction's store after its COMMIT (never after
   * a rollback; on SQLite after the group commit's batch, on PostgreSQL after the transaction's own), for
   * db.read at the next turn of the event loop. For work that must see the writes from elsewhere (a worker's
   * kick): on PostgreSQL the commit comes after the transaction function returns, not in the same turn.
   */
  afterCommit(fn: () => void): void
}

// ---- the database ----------------------------------------------------------------------------------------

export interface TxOptions {
  /**
   * false: fn makes at most one write statement, so its own atomicity is enough (SQLite skips the
   * per-transaction SAVEPOINT). For the hottest path only; anything that may write twice keeps the default.
   */
  savepoint?: boolean
  /**
   * Background work nobody waits for: the transaction may wait up to this many ms to share another's commit
   * (SQLite's group commit); PostgreSQL commits it at once.
   */
  lazyMs?: number
}

export interface DbStats {
  /** Commits made (SQLite: BEGIN … COMMIT batches, each one fsync). */
  batches: number
  /** Transactions run. */
  jobs: number
  /** Waits for another connection's lock (SQLite: BEGIN IMMEDIATE retries). */
  busyRetries: number
}

export interface Db {
  readonly kind: 'sqlite' | 'postgres'
  /**
   * Several instances may serve this database at once (PostgreSQL): what one instance does may be under way
   * on another. false: this process is the only one that serves it (SQLite; the CLI only administers).
   */
  readonly shared: boolean
  /** Reads (and single-statement writes nobody needs atomic with another) outside a transaction. */
  readonly read: Store
  /**
   * Runs fn in one write transaction: its writes commit together or not at all. fn awaits only the store it
   * is given — never the network, a timer or another tx (transactions never nest): do WeChat calls and hooks
   * before or after.
   */
  tx<T>(fn: (s: Store) => Awaitable<T>, opts?: TxOptions): Promise<T>
  /**
   * Changes when another connection (the CLI, another instance) changed channels, API keys or webhook
   * endpoints; lets in-memory caches notice. Cheap: read on every request.
   */
  dataVersion(): number
  /** Is the database answering? (for /readyz) */
  ping(): Promise<boolean>
  stats(): DbStats
  close(): Promise<void>
}
