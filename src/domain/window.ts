/**
 * @module The customer-service window (SPEC §7, PROTOCOL.md §5.5 and §9.3), as a pure rule over a user's
 * latest interactions: WeChat lets an account send customer-service messages only after the user acted.
 * https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Messages.html
 *
 * - A message from the user opens 48 hours for 5 messages.
 * - A menu click (CLICK, scancode_push, scancode_waitmsg only), a follow (subscribe) or a scan (SCAN) opens
 *   1 minute for 3 messages; during an open 48-hour window it changes nothing (it does not shorten it, and
 *   the 48-hour window's count goes on: SPEC is silent on adding the 3, and WeChat's 45047 decides anyway).
 * - An unsubscribe after the last interaction closes the window.
 *
 * Only the latest interaction of each kind matters (see `openedBy`), so the store hands over at most three.
 */
import { then } from '../lib/awaitable'
import type { Awaitable } from '../store/contract'

export const LONG_WINDOW_MS = 48 * 3600_000
export const LONG_WINDOW_QUOTA = 5
export const SHORT_WINDOW_MS = 60_000
export const SHORT_WINDOW_QUOTA = 3

/** The events (canonical Event names) that open the short window. */
export const SHORT_WINDOW_EVENTS: readonly string[] = ['CLICK', 'scancode_push', 'scancode_waitmsg', 'subscribe', 'SCAN']

export type InteractionKind = 'message' | 'short' | 'unsubscribe'

export interface Interaction {
  kind: InteractionKind
  /** When it was received (ms). */
  at: number
  /** Arrival order (the inbound row id): ties in `at` are ordered by it. */
  order: number
}

export interface OpenedWindow {
  openedAt: number
  until: number
  quota: number
}

/** What an inbound row (msg_type, event) counts as for the window, or undefined when it does not count. */
export const interactionKind = (msgType: string, event: string | null): InteractionKind | undefined => {
  if (msgType !== 'event') return 'message'
  if (event === 'unsubscribe') return 'unsubscribe'
  return event !== null && SHORT_WINDOW_EVENTS.includes(event) ? 'short' : undefined
}

/** The window the interactions leave behind (it may have ended already), or undefined when none was opened. */
export const openedBy = (interactions: readonly Interaction[]): OpenedWindow | undefined => {
  let w: (OpenedWindow & { long: boolean }) | undefined
  for (const i of [...interactions].sort((a, b) => a.order - b.order)) {
    if (i.kind === 'unsubscribe') w = undefined
    else if (i.kind === 'message') w = { openedAt: i.at, until: i.at + LONG_WINDOW_MS, quota: LONG_WINDOW_QUOTA, long: true }
    else if (!(w?.long && i.at < w.until)) w = { openedAt: i.at, until: i.at + SHORT_WINDOW_MS, quota: SHORT_WINDOW_QUOTA, long: false }
  }
  return w && { openedAt: w.openedAt, until: w.until, quota: w.quota }
}

export interface WindowState {
  /** The time window is open now (its quota may be used up: `sent` against `quota`). */
  open: boolean
  /** When it closes (only while open). */
  until?: number
  /** Customer-service messages sent since it opened (0 when closed). */
  sent: number
  /** How many it allows (only while open). */
  quota?: number
}

/**
 * The window now, given the interactions and `sentSince(openedAt)`: the messages sent since it opened (read
 * from the store: synchronous when the store is, so the rule itself stays free of I/O).
 */
export function windowAt(now: number, interactions: readonly Interaction[], sentSince: (openedAt: number) => number): WindowState
export function windowAt(now: number, interactions: readonly Interaction[], sentSince: (openedAt: number) => Awaitable<number>): Awaitable<WindowState>
export function windowAt(now: number, interactions: readonly Interaction[], sentSince: (openedAt: number) => Awaitable<number>): Awaitable<WindowState> {
  const w = openedBy(interactions)
  if (!w || now >= w.until) return { open: false, sent: 0 }
  return then(sentSince(w.openedAt), (sent) => ({ open: true, until: w.until, sent, quota: w.quota }))
}
