/**
 * @module The console's inbound page: what users sent, newest first; one user's messages with their window state,
 * and a reply box while the window is open (a customer-service message through the outbox, SPEC §7).
 */
import type { InboundView } from '../../domain/inbound.service'
import type { UserView } from '../../domain/users.service'
import { changeForm, esc, facts, table, time, tr, type Lang, type T } from './render'

const KIND: Record<string, [string, string]> = {
  image: ['[图片]', '[image]'], voice: ['[语音]', '[voice]'], video: ['[视频]', '[video]'], shortvideo: ['[小视频]', '[short video]'],
  location: ['[位置]', '[location]'], link: ['[链接]', '[link]'], file: ['[文件]', '[file]'],
}

/** One line of what the user sent or did. */
const said = (m: InboundView, t: T): string => {
  const d = m.data
  if (m.msgType === 'text') return esc(String(d.content ?? ''))
  if (m.msgType === 'event') return `<span class="badge">${t('事件', 'event')}</span> ${esc(m.event ?? '')}${d.eventKey ? ` <code>${esc(String(d.eventKey))}</code>` : ''}`
  const k = KIND[m.msgType]
  return k ? esc(t(...k)) : esc(m.msgType)
}

export const inboundPage = (lang: Lang, o: { items: InboundView[]; next?: string }): string => {
  const t = tr(lang)
  const rows = o.items.map((m) => [
    time(m.receivedAt, lang),
    `<a href="/console/inbound?${new URLSearchParams({ openid: m.openid, channel: m.channel })}">${esc(m.subject ?? m.openid)}</a>`,
    said(m, t),
  ])
  const more = o.next ? `<p><a href="${esc(o.next)}" rel="next">${t('更早的', 'Older')}</a></p>` : ''
  return `<section class="card">${table([t('收到', 'Received'), t('用户', 'User'), t('内容', 'Content')], rows, t('还没有收到消息：用户给公众号发的消息和事件会出现在这里。', 'Nothing received yet: what users send to the account shows here.'))}${more}</section>`
}

export const userInboundPage = (lang: Lang, o: { user: UserView; items: InboundView[]; canChange: boolean; csrf: string; next?: string }): string => {
  const t = tr(lang)
  const u = o.user
  const w = u.window
  const windowText = w.open
    ? `<span class="ok">${t('开启', 'open')}</span> ${t('至', 'until')} ${time(w.until, lang)} · ${t(`已发 ${w.sent} 条客服消息`, `${w.sent} customer-service messages sent`)}`
    : `<span class="warn">${t('已关闭：用户 48 小时内没有互动，只能发模板消息', 'closed: no interaction in 48 h, only template messages can go')}</span>`
  const latest = o.items.find((m) => m.msgType !== 'event') ?? o.items[0]
  const box = w.open && o.canChange && latest
    ? `<section class="card"><h2>${t('回复', 'Reply')}</h2>${changeForm(`/console/inbound/${encodeURIComponent(latest.id)}/reply`, o.csrf, `<label>${t('文字（客服消息）', 'Text (customer-service message)')}<input type="text" name="content" required maxlength="600" placeholder="${t('您好，已收到', 'Hello, we got it')}"></label><button class="primary" type="submit">${t('发送', 'Send')}</button>`, { cls: 'row' })}</section>`
    : ''
  const rows = o.items.map((m) => [time(m.receivedAt, lang), said(m, t)])
  const more = o.next ? `<p><a href="${esc(o.next)}" rel="next">${t('更早的', 'Older')}</a></p>` : ''
  return `<section class="card"><h2>${esc(u.subject ?? u.openid)}</h2>${facts([
    ['openid', `<code>${esc(u.openid)}</code>`],
    [t('通道', 'Channel'), esc(u.channel)],
    [t('关注', 'Following'), u.subscribed ? `<span class="ok">${t('是', 'yes')}</span>` : `<span class="bad">${t('已取消关注', 'unsubscribed')}</span>`],
    [t('客服消息窗口', 'Customer-service window'), windowText],
  ])}</section>${box}<section class="card"><h2>${t('收到的消息', 'Received')}</h2>${table([t('收到', 'Received'), t('内容', 'Content')], rows, t('没有消息。', 'Nothing.'))}${more}
<p><a href="/console/inbound">${t('所有用户', 'All users')}</a></p></section>`
}
