/**
 * @module Dispatch is data (after WxJava's WxMpMessageRouter): an ordered list of rules, the specific
 * before the general, first match wins. A handler runs inside the callback transaction, so whatever it
 * writes commits together with the dedup record, or not at all. It may return a passive reply, nothing
 * (answer `success`), or PASS to leave the message to the next rule.
 *
 * Handlers are synchronous: they hold the only write transaction while they run, so they write through
 * the repos on `orm` and never wait for the network or call a service (services open transactions of
 * their own, and transactions do not nest). A handler that returns a Promise fails the message (500,
 * rolled back, WeChat retries) with a clear error.
 */
import type { Store } from '../store/contract'
import type { Logger } from '../lib/log'
import type { InboundMessage } from '../wechat/messages'
import type { Reply } from '../wechat/replies'
import type { Channel } from './channel.service'
import type { EventType } from './events.service'

export const PASS = Symbol('pass')
/** The rule name recorded for a message no rule handled. */
export const UNHANDLED = 'unhandled'
export type HandlerResult = Reply | undefined | void | typeof PASS

export interface HandlerContext {
  channel: Channel
  message: InboundMessage
  /** The transaction's store: read and write through it (and nothing else that awaits). */
  store: Store
  /** Milliseconds since the epoch, from the injected clock. */
  now: number
  log: Logger
  /**
   * Emits an event (SPEC §6) of the callback's channel, written in this transaction after the callback's
   * own event: it commits with the message's effects, or not at all (a rule that throws leaves none).
   */
  emit: (type: EventType, data: Record<string, unknown>) => Promise<void>
  /**
   * The rule accounts for this message with events of its own (its QR scene was one of our bind codes,
   * the delivery report of one of our messages): the callback emits no generic event for it (no
   * user.scanned, no event.received). For a subscribe only the scene is left out: the follow is still
   * user.subscribed.
   */
  claim: () => void
}

export interface Rule {
  name: string
  match: (m: InboundMessage) => boolean
  /** Runs inside the callback's transaction: it may await the store (ctx.store), never the network. */
  handle: (ctx: HandlerContext) => HandlerResult | Promise<HandlerResult>
}

export interface DispatchResult {
  rule: string
  reply: Reply | undefined
}

/** Matchers for the common cases, so that rules read as data. */
export const on = {
  msgType: (t: string) => (m: InboundMessage) => m.msgType === t,
  event: (...names: string[]) => (m: InboundMessage) => m.msgType === 'event' && 'event' in m && names.includes(String(m.event)),
  any: () => () => true,
}

export const createDispatcher = (initial: Rule[] = []) => {
  const rules: Rule[] = [...initial]
  return {
    /** Adds a rule at the end, or before the rule named `before` (for a more specific rule). */
    add: (rule: Rule, opts: { before?: string } = {}) => {
      const i = opts.before ? rules.findIndex((r) => r.name === opts.before) : -1
      if (i >= 0) rules.splice(i, 0, rule)
      else rules.push(rule)
    },
    rules: () => rules.map((r) => r.name),
    /** Would any rule look at this message? (false: dispatch answers UNHANDLED without running a handler) */
    matches: (m: InboundMessage): boolean => rules.some((r) => r.match(m)),
    dispatch: async (ctx: HandlerContext): Promise<DispatchResult> => {
      for (const rule of rules) {
        if (!rule.match(ctx.message)) continue
        const out = await rule.handle(ctx)
        if (out === PASS) continue
        return { rule: rule.name, reply: out ?? undefined }
      }
      // Unknown or unhandled types are still stored (by the caller) and answered `success`.
      return { rule: UNHANDLED, reply: undefined }
    },
  }
}
export type Dispatcher = ReturnType<typeof createDispatcher>
