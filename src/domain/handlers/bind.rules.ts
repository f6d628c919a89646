/**
 * @module Dispatch rules for binding (SPEC §4 "Bind codes"), run inside the callback transaction, so a
 * binding commits together with the dedup record of the event that made it, or not at all.
 *
 * - `subscribe` with EventKey `qrscene_<code>` and `SCAN` with EventKey `<code>` consume the code with one
 *   conditional UPDATE (pending and unexpired → bound) and bind the OpenID under the unique
 *   (channel, openid) index; a user bound elsewhere is moved to the new subject.
 * - A consumed, unexpired code rescanned by the user who consumed it binds them again when their binding was
 *   deleted meanwhile (INSERT … ON CONFLICT DO NOTHING: the unique index decides); otherwise nothing changes.
 * - A scene that is not one of our codes passes to later rules.
 * - `unsubscribe` marks the binding `unsubscribed`; any later `subscribe` makes it `active` again.
 * - Events (SPEC §6), in the same transaction: a consumed code is binding.created, or binding.moved when
 *   the user was bound to another subject (also when bound to the same subject: the code was consumed,
 *   the binding renewed — binding.created, decision); a rebind after a deletion is binding.created. A scene
 *   that is one of our codes is claimed (no user.scanned; a subscribe's user.subscribed has no scene),
 *   whatever its state: a used or expired code changes nothing and emits nothing more.
 */
import type { Random } from '../../lib/random'
import type { InboundMessage } from '../../wechat/messages'
import { on, PASS, type HandlerContext, type Rule } from '../dispatch'

const QRSCENE_PREFIX = 'qrscene_'
/** Our codes are 22 base64url characters; anything else cannot be one (saves a lookup for integer scenes). */
const CODE_RE = /^[A-Za-z0-9_-]{16,64}$/

/** The scene a QR scan carries, or undefined for a plain follow. */
export const sceneOf = (m: InboundMessage): string | undefined => {
  if (m.kind === 'subscribe') return m.eventKey?.startsWith(QRSCENE_PREFIX) ? m.eventKey.slice(QRSCENE_PREFIX.length) : undefined
  if (m.kind === 'SCAN') return m.eventKey
  return undefined
}

const text = (content: string) => ({ type: 'text' as const, content })

export const bindRules = (deps: { random: Random }): Rule[] => {
  const bindingId = () => `bnd_${Buffer.from(deps.random.bytes(12)).toString('base64url')}`

  const scan = async ({ channel, message, store, now, log, emit, claim }: HandlerContext) => {
    const openid = message.fromUserName
    const binds = store.bindings
    // Following again makes an unsubscribed binding active, whatever the QR code (or none) says.
    if (message.kind === 'subscribe') await binds.setStatus({ channelId: channel.id, openid, status: 'active', now })
    const code = sceneOf(message)
    if (code === undefined || !CODE_RE.test(code)) return PASS

    const codes = store.bindCodes
    const consumed = await codes.consume({ code, channelId: channel.id, openid, now })
    if (consumed) {
      claim()
      const before = await binds.byOpenid(channel.id, openid)
      await binds.bind({ id: bindingId(), channelId: channel.id, openid, subject: consumed.subject, code, now })
      const moved = before && before.subject !== consumed.subject
      log.info('bound', { channel: channel.id, subject: consumed.subject, ...(moved ? { movedFrom: before.subject } : {}) })
      await emit(moved ? 'binding.moved' : 'binding.created', { channel: channel.id, openid, subject: consumed.subject, ...(moved ? { previousSubject: before.subject } : {}), code })
      return text(channel.replies.bound)
    }
    const row = await codes.get(code)
    if (!row || row.channelId !== channel.id) return PASS
    claim()
    if (row.status === 'bound' && row.openid === openid && row.expiresAt > now) {
      // The user who consumed this code and whose binding was deleted since is bound again (SPEC §4). A user
      // who still has a binding (to this subject, or to another one a later code moved them to) is left as
      // they are: rescanning changes nothing and hears the same.
      const again = await binds.bindIfUnbound({ id: bindingId(), channelId: channel.id, openid, subject: row.subject, code, now })
      if (again) {
        log.info('bound again', { channel: channel.id, subject: row.subject })
        await emit('binding.created', { channel: channel.id, openid, subject: row.subject, code })
      }
      return text(channel.replies.bound)
    }
    if (row.status === 'bound' && row.openid === openid) {
      // Past its expiry: a user still bound hears what they heard before; one whose binding was deleted needs a new code.
      return text((await binds.byOpenid(channel.id, openid)) ? channel.replies.bound : channel.replies.expired)
    }
    // A consumed code stays "used" for everyone else, expired or not: a new code, not a wait, is what they need.
    if (row.status === 'bound') return text(channel.replies.alreadyUsed)
    return text(channel.replies.expired)
  }

  return [
    { name: 'bind-scan', match: on.event('subscribe', 'SCAN'), handle: scan },
    {
      name: 'bind-unsubscribe',
      match: on.event('unsubscribe'),
      handle: async ({ channel, message, store, now }) => {
        await store.bindings.setStatus({ channelId: channel.id, openid: message.fromUserName, status: 'unsubscribed', now })
      },
    },
  ]
}
