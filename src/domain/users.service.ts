/**
 * @module A WeChat user as the gateway knows them (SPEC §7 "The window"): `GET /api/users/:openid?channel=`,
 * and the customer-service window the outbox checks before sending a message that has a fallback.
 *
 * Decisions where SPEC is silent: a user the gateway has never heard of is `subscribed: true` with a closed
 * window (nothing says they left); `subscribed` is false when the binding is unsubscribed or the latest
 * follow event kept in the inbound log (WXGATE_INBOUND_RETENTION_DAYS) is an unsubscribe.
 */
import type { Clock } from '../lib/clock'
import { ValidationError } from '../lib/errors'
import type { Db } from '../store/contract'
import type { ChannelService } from './channel.service'
import { interactionKind, LONG_WINDOW_MS, SHORT_WINDOW_EVENTS, windowAt, type Interaction, type WindowState } from './window'

export interface UserView {
  openid: string
  channel: string
  subject?: string
  subscribed: boolean
  window: { open: boolean; until?: string; sent: number }
}

export interface UsersServiceDeps {
  db: Db
  clock: Clock
  channels: Pick<ChannelService, 'get'>
  defaultChannel: string
}

export const createUsersService = (deps: UsersServiceDeps) => {
  const { db, clock } = deps
  const windows = db.read.window

  /** The user's customer-service window now. */
  const windowOf = async (channelId: string, openid: string): Promise<WindowState> => {
    const now = clock.now()
    const interactions: Interaction[] = (await windows.latestInteractions({ channelId, openid, since: now - LONG_WINDOW_MS, shortEvents: SHORT_WINDOW_EVENTS }))
      .flatMap((r) => {
        const kind = interactionKind(r.msgType, r.event)
        return kind ? [{ kind, at: r.receivedAt, order: r.id }] : []
      })
    return windowAt(now, interactions, (since) => windows.sentSince(channelId, openid, since))
  }

  const get = async (openid: string, channel?: string): Promise<UserView> => {
    const channelId = channel ?? deps.defaultChannel
    if (!deps.channels.get(channelId)) throw new ValidationError(`channel: no channel '${channelId}'`)
    const binding = await db.read.bindings.byOpenid(channelId, openid)
    const subscribed = binding?.status !== 'unsubscribed' && (await windows.lastFollowEvent(channelId, openid)) !== 'unsubscribe'
    const w = await windowOf(channelId, openid)
    return {
      openid,
      channel: channelId,
      ...(binding ? { subject: binding.subject } : {}),
      subscribed,
      window: { open: w.open, ...(w.until !== undefined ? { until: new Date(w.until).toISOString() } : {}), sent: w.sent },
    }
  }

  return { get, windowOf }
}
export type UsersService = ReturnType<typeof createUsersService>
