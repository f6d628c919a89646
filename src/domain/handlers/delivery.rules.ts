/**
 * @module Delivery status from WeChat's `TEMPLATESENDJOBFINISH` event, inside the callback transaction:
 * a `sent` message with that MsgID becomes `delivered`, or `failed` with a readable error
 * (PROTOCOL.md §3.2; unknown statuses such as "failed:freq limit" count as failures, kept verbatim).
 * That is message.delivered / message.failed (SPEC §6: the message as GET /api/messages/:id shows it), in
 * the same transaction; a report that matches no sent message of ours stays event.received.
 */
import { on, type Rule } from '../dispatch'
import { messageView } from '../send.service'

/** WeChat's Status → our status and error. */
export const deliveryOf = (status: string): { status: 'delivered' | 'failed'; error: string | null } => {
  const s = status.trim()
  if (s === 'success') return { status: 'delivered', error: null }
  if (s === 'failed:user block') return { status: 'failed', error: 'user_blocked' }
  if (s === 'failed: system failed') return { status: 'failed', error: 'wechat_system_failed' }
  return { status: 'failed', error: s === '' ? 'unknown' : s }
}

export const deliveryRules = (): Rule[] => [{
  name: 'delivery-status',
  match: on.event('TEMPLATESENDJOBFINISH'),
  handle: async ({ channel, message, store, now, log, emit, claim }) => {
    if (message.kind !== 'TEMPLATESENDJOBFINISH') return
    const d = deliveryOf(message.status)
    const row = await store.messages.finishByWechatMsgId({ channelId: channel.id, wechatMsgId: message.msgId, status: d.status, error: d.error, now })
    // Not ours (sent by another system on the same account), or already finished: nothing to do.
    if (!row) {
      log.debug('TEMPLATESENDJOBFINISH for no sent message of ours', { channel: channel.id, msgId: message.msgId })
      return
    }
    claim()
    await emit(d.status === 'delivered' ? 'message.delivered' : 'message.failed', { ...messageView(row) })
  },
}]
