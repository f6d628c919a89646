/** @module The store contract (../contract.ts) on one bun:sqlite connection: each repository bound to it. */
import type { Store } from '../contract'
import { apiKeysRepo } from './apikeys.repo'
import { bindCodesRepo } from './bindcodes.repo'
import { bindingsRepo } from './bindings.repo'
import { channelsRepo } from './channels.repo'
import { consoleSessionsRepo } from './console-sessions.repo'
import type { Database } from 'bun:sqlite'
import type { Drizzle } from './db'
import { inboundHistory, inboundRepo } from './inbound.repo'
import { leasesRepo, rateBucketsRepo } from './leases.repo'
import { mediaRepo } from './media.repo'
import { messagesRepo } from './messages.repo'
import { tokensRepo } from './tokens.repo'
import { webhooksRepo } from './webhooks.repo'
import { windowRepo } from './window.repo'

export const sqliteStore = (sqlite: Database, orm: Drizzle): Store => {
  const conn = { sqlite }
  const history = inboundHistory(conn)
  return {
    channels: channelsRepo(orm),
    apiKeys: apiKeysRepo(orm),
    tokens: tokensRepo(orm),
    bindCodes: bindCodesRepo(orm),
    bindings: bindingsRepo(orm),
    inbound: { ...inboundRepo(conn), history: history.list, historyRow: history.get },
    window: windowRepo(conn),
    messages: messagesRepo(orm),
    webhooks: webhooksRepo(orm),
    media: mediaRepo(orm),
    leases: leasesRepo(orm),
    rates: rateBucketsRepo(orm),
    consoleSessions: consoleSessionsRepo(orm),
    // On the connection itself (no transaction): each statement is committed when it returns.
    afterCommit: (fn) => { setImmediate(fn) },
  }
}
