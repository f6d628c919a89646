/** @module The store contract (../contract.ts) on PostgreSQL: every repository bound to one drizzle handle (the pool, or one transaction). */
import type { Store } from '../contract'
import { apiKeysRepo } from './apikeys.repo'
import { bindCodesRepo } from './bindcodes.repo'
import { bindingsRepo } from './bindings.repo'
import { channelsRepo } from './channels.repo'
import { consoleSessionsRepo } from './console-sessions.repo'
import { toStoreError } from './errors'
import { inboundRepo } from './inbound.repo'
import { leasesRepo, rateBucketsRepo } from './leases.repo'
import { mediaRepo } from './media.repo'
import { messagesRepo } from './messages.repo'
import type { PgOrm } from './orm'
import { tokensRepo } from './tokens.repo'
import { webhooksRepo } from './webhooks.repo'
import { windowRepo } from './window.repo'
import { wrapMethods } from '../wrap-methods'

/**
 * Every method's answer as a real Promise that has started: drizzle's query builders are lazy thenables
 * that run only when awaited, so a caller that does not await (a `touch` fired and forgotten) would run
 * nothing. Errors go through `fail` (db.ts: connection failures as one 503, the driver's error out of
 * drizzle's wrapper, whose message lists the parameters).
 */
const guard = <R extends object>(repo: R, fail: (e: unknown) => unknown): R =>
  wrapMethods(repo, (fn) => (...args) => {
    try {
      return Promise.resolve(fn(...args)).catch((e) => { throw fail(e) })
    } catch (e) {
      return Promise.reject(fail(e))
    }
  })

/** `afterCommit`: what a transaction's store does with Store.afterCommit (the pool's runs fn at the next turn). */
export const postgresStore = (orm: PgOrm, fail: (e: unknown) => unknown = (e) => toStoreError(e, 'postgres', []), afterCommit: (fn: () => void) => void = (fn) => { setImmediate(fn) }): Store => ({
  channels: guard(channelsRepo(orm), fail),
  apiKeys: guard(apiKeysRepo(orm), fail),
  tokens: guard(tokensRepo(orm), fail),
  bindCodes: guard(bindCodesRepo(orm), fail),
  bindings: guard(bindingsRepo(orm), fail),
  inbound: guard(inboundRepo(orm), fail),
  window: guard(windowRepo(orm), fail),
  messages: guard(messagesRepo(orm), fail),
  webhooks: guard(webhooksRepo(orm), fail),
  media: guard(mediaRepo(orm), fail),
  leases: guard(leasesRepo(orm), fail),
  rates: guard(rateBucketsRepo(orm), fail),
  consoleSessions: guard(consoleSessionsRepo(orm), fail),
  afterCommit,
})
