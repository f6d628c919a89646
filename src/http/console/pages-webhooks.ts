/**
 * @module The console's webhooks pages: the endpoints (events out and reply hooks, SPEC §6–§7) with their state and
 * queue; one endpoint's recent deliveries with their attempts and last answer; retry a failed one, send a test event,
 * rotate the secret (the new one shown once), enable a disabled endpoint again.
 */
import type { DeliveryView, WebhookView } from '../../domain/webhooks.service'
import { changeForm, esc, facts, shownUrl, table, time, tr, type Lang } from './render'

const DELIVERY_TEXT: Record<DeliveryView['status'], [string, string, string]> = {
  pending: ['待投递', 'pending', 'warn'], delivered: ['已投递', 'delivered', 'ok'], failed: ['失败', 'failed', 'bad'],
}

const state = (w: WebhookView, lang: Lang) => {
  const t = tr(lang)
  if (!w.disabled) return `<span class="ok">${t('启用', 'enabled')}</span>${w.failingSince ? ` <span class="warn">${t('自', 'failing since')} ${time(w.failingSince, lang)} ${t('起一直失败', '')}</span>` : ''}`
  return `<span class="bad">${t('已停用', 'disabled')}</span>${w.disabledReason ? `：${esc(w.disabledReason)}` : ''}`
}

export const webhooksPage = (lang: Lang, o: { endpoints: (WebhookView & { depth: number })[]; canChange: boolean }): string => {
  const t = tr(lang)
  const rows = o.endpoints.map((w) => [
    `<a href="/console/webhooks/${encodeURIComponent(w.id)}">${esc(shownUrl(w.url, o.canChange))}</a>${w.description ? `<br><span class="empty">${esc(w.description)}</span>` : ''}`,
    w.reply ? `<span class="badge">${t('回复钩子', 'reply hook')}</span>` : esc(w.events.join(', ')),
    esc(w.channel ?? t('全部', 'all')),
    state(w, lang),
    `${w.depth}`,
  ])
  return `<section class="card">${table([t('地址', 'URL'), t('事件', 'Events'), t('通道', 'Channel'), t('状态', 'State'), t('积压', 'Queue')], rows,
    t('没有 webhook 端点：用 POST /api/webhooks 或 wxgate webhook add 添加一个，团队的系统就能收到每条消息和事件。', 'No webhook endpoint: add one with POST /api/webhooks or wxgate webhook add, and the team’s systems get every message and event.'))}</section>`
}

export const webhookPage = (lang: Lang, o: { w: WebhookView; depth: number; deliveries: DeliveryView[]; canChange: boolean; csrf: string; secret?: { secret: string; previousSecretExpiresAt: string } }): string => {
  const t = tr(lang)
  const w = o.w
  const id = encodeURIComponent(w.id)
  const shown = o.secret
    ? `<section class="card"><h2>${t('新的签名密钥', 'New signing secret')}</h2><p>${t('只显示这一次，请更新接收方。旧密钥在此之前仍然有效：', 'Shown this once: update the receiver. The old one is still valid until')} ${time(o.secret.previousSecretExpiresAt, lang)}</p>
<p class="secret" id="new-secret">${esc(o.secret.secret)}</p><button type="button" data-copy="new-secret" data-copied="${t('已复制', 'Copied')}">${t('复制', 'Copy')}</button></section>`
    : ''
  const actions = o.canChange
    ? `<div class="row">${w.disabled
      ? changeForm(`/console/webhooks/${id}/enable`, o.csrf, `<button class="primary" type="submit">${t('重新启用', 'Enable again')}</button>`)
      : changeForm(`/console/webhooks/${id}/test`, o.csrf, `<button type="submit">${t('发送测试事件', 'Send a test event')}</button>`)}
${changeForm(`/console/webhooks/${id}/rotate`, o.csrf, `<button type="submit">${t('更换签名密钥', 'Rotate the secret')}</button>`, { confirm: t('生成新的签名密钥？旧密钥再有效 24 小时。', 'Make a new signing secret? The old one stays valid for 24 hours.') })}</div>`
    : ''
  const rows = o.deliveries.map((d) => {
    const [zh, en, cls] = DELIVERY_TEXT[d.status]
    return [
      time(d.createdAt, lang), esc(d.type), `<span class="${cls}">${t(zh, en)}</span>`, `${d.attempts}`,
      // The stored error names the status itself when there was one ("HTTP 410 Gone: …"): said once.
      (d.lastError ? esc(d.lastError) : d.lastStatusCode !== undefined ? `HTTP ${d.lastStatusCode}` : '') || (d.deliveredAt ? time(d.deliveredAt, lang) : ''),
      d.status === 'pending' && d.nextAttemptAt ? `${t('下次', 'next')} ${time(d.nextAttemptAt, lang)}` : '',
      d.status === 'failed' && o.canChange && !w.disabled ? changeForm(`/console/webhooks/deliveries/${encodeURIComponent(d.id)}/retry?endpoint=${id}`, o.csrf, `<button type="submit">${t('重试', 'Retry')}</button>`) : '',
    ]
  })
  return `${shown}<section class="card"><h2>${esc(shownUrl(w.url, o.canChange))}</h2>${facts([
    ['id', `<code>${esc(w.id)}</code>`],
    [t('事件', 'Events'), w.reply ? t('回复钩子（回答用户）', 'reply hook (answers users)') : esc(w.events.join(', '))],
    [t('通道', 'Channel'), esc(w.channel ?? t('全部', 'all'))],
    [t('状态', 'State'), state(w, lang)],
    [t('积压', 'Queue'), `${o.depth}`],
  ])}${actions}</section>
<section class="card"><h2>${t('最近的投递', 'Recent deliveries')}</h2>${table([t('时间', 'Time'), t('事件', 'Event'), t('状态', 'Status'), t('尝试', 'Attempts'), t('最后结果', 'Last answer'), '', ''], rows, t('还没有投递。', 'No delivery yet.'))}
<p><a href="/console/webhooks">${t('所有端点', 'All endpoints')}</a></p></section>`
}
