/**
 * @module The console's messages pages: the list with its filters, and one message as a timeline — the API request,
 * every WeChat attempt with its errcode and hint, sent, then delivered or failed — with "send again" for a failed one.
 */
import type { MessageView } from '../../domain/send.service'
import type { AttemptRow, MessageStatus } from '../../store/contract'
import { errcodeInfo } from '../../wechat/errcodes'
import { changeForm, esc, table, time, tr, type Lang, type T } from './render'

export const STATUSES: MessageStatus[] = ['queued', 'sending', 'sent', 'delivered', 'failed']
const STATUS_TEXT: Record<MessageStatus, [string, string, string]> = {
  queued: ['排队中', 'queued', 'warn'], sending: ['发送中', 'sending', 'warn'], sent: ['已发送', 'sent', 'ok'], delivered: ['已送达', 'delivered', 'ok'], failed: ['失败', 'failed', 'bad'],
}
/** The errcode hints wxgate has (src/wechat/errcodes.ts), in Chinese for the console. */
const HINTS_ZH: Record<number, string> = {
  40164: '把这个 IP 加入公众平台的 IP 白名单',
  40125: '检查 AppID 和 AppSecret',
  40013: '检查 AppID 和 AppSecret',
  48001: '公众号没有这个接口的权限',
  45015: '用户 48 小时内没有互动（或已取消关注）：改发模板消息（fallback）',
  45047: '这个窗口内的客服消息已用完：等用户下一次发消息',
  89503: '需要管理员在公众平台批准这个 IP',
}
/** The errcode meanings of src/wechat/errcodes.ts in Chinese, for the console (an unknown code shows the English one). */
const MEANINGS_ZH: Record<number, string> = {
  [-1]: '微信系统繁忙', 40001: 'AppSecret 错误，或 access_token 无效、已被替换', 40002: 'grant_type 无效', 40003: 'openid 无效：写错了、属于其他公众号，或用户没有关注',
  40007: 'media_id 无效', 40013: 'AppID 无效', 40014: 'access_token 无效', 40036: 'template_id 长度无效', 40037: 'template_id 无效', 40125: 'AppSecret 无效',
  40164: '调用方 IP 不在 IP 白名单中', 40243: 'AppSecret 已被冻结', 41001: '缺少 access_token', 42001: 'access_token 已过期', 43004: '用户没有关注公众号',
  43019: '用户被公众号拉黑', 43101: '用户拒收这条消息', 45002: '内容太长（客服文字消息最多 2048 字节）', 45008: '图文太多（客服图文消息只能有一条）',
  45009: '接口今日调用次数已用完', 45011: '接口每分钟调用次数已用完，下一分钟重试', 45015: '超出回复时限，或用户已取消关注', 45047: '客服消息条数已用完',
  47001: '数据格式错误', 47003: '参数无效', 48001: '公众号没有这个接口的权限', 48006: '本月清零配额的次数已用完', 50001: '用户未授权', 50002: '用户受限',
  50007: '公众号已被冻结', 89503: '这个 IP 的调用需要管理员确认',
}

/** What wxgate's own error words mean (the message's `error` when WeChat gave no errcode). */
const ERRORS_ZH: Record<string, string> = {
  not_subscribed: '用户已取消关注', delivery_unknown: '调用结果未知（9 分钟规则）：没有再发，以免重复', outside_window: '不在 48 小时窗口内',
  user_blocked: '用户拒收了这条消息', wechat_system_failed: '微信系统失败',
}

export const statusBadge = (status: MessageStatus, t: T) => {
  const [zh, en, cls] = STATUS_TEXT[status]
  return `<span class="${cls}">${t(zh, en)}</span>`
}

/** An errcode with its meaning and hint, as the operator needs it. */
export const errcodeLine = (code: number | null | undefined, error: string | null | undefined, lang: Lang): string => {
  const t = tr(lang)
  if (code === null || code === undefined) {
    if (!error) return ''
    return `<span class="bad">${esc(t(ERRORS_ZH[error] ?? error, error))}</span>`
  }
  const info = errcodeInfo(code)
  const hint = lang === 'zh' ? HINTS_ZH[code] ?? info.hint : info.hint
  const meaning = lang === 'zh' ? MEANINGS_ZH[code] ?? info.meaning : info.meaning
  // The stored error often starts with the meaning itself, then WeChat's own errmsg: that part only, once.
  const rest = error ? (error.startsWith(info.meaning) ? error.slice(info.meaning.length).trim() : error) : ''
  return `<span class="bad">errcode ${code}</span> ${esc(meaning)}${rest ? ` <span class="empty">${esc(rest)}</span>` : ''}${hint ? `<br><b>${t('怎么办', 'What to do')}：</b>${esc(hint)}` : ''}`
}

export interface MessageFilters { status?: MessageStatus; subject?: string; template?: string }

export const messagesPage = (lang: Lang, o: { items: MessageView[]; filters: MessageFilters; next?: string }): string => {
  const t = tr(lang)
  const f = o.filters
  const form = `<form class="row" method="get" action="/console/messages">
<label>${t('状态', 'Status')}<select name="status"><option value="">${t('全部', 'all')}</option>${STATUSES.map((s) => `<option value="${s}"${f.status === s ? ' selected' : ''}>${t(STATUS_TEXT[s][0], STATUS_TEXT[s][1])}</option>`).join('')}</select></label>
<label>subject<input type="search" name="subject" value="${esc(f.subject ?? '')}"></label>
<label>${t('模板', 'Template')}<input type="search" name="template" value="${esc(f.template ?? '')}"></label>
<button type="submit">${t('筛选', 'Filter')}</button></form>`
  const rows = o.items.map((m) => [
    `<a href="/console/messages/${encodeURIComponent(m.messageId)}">${time(m.createdAt, lang)}</a>`,
    statusBadge(m.status, t),
    esc(m.subject ?? m.openid),
    esc(m.type === 'template' ? m.templateId ?? '' : m.type),
    m.errcode !== undefined ? `<span class="bad">${m.errcode}</span>` : m.error ? `<span class="bad">${esc(m.error)}</span>` : '',
  ])
  const empty = f.status || f.subject || f.template ? t('没有符合条件的消息。', 'No message matches.') : t('还没有消息：用 POST /api/send 发送第一条。', 'No message yet: send the first with POST /api/send.')
  const more = o.next ? `<p><a href="${esc(o.next)}" rel="next">${t('更早的', 'Older')}</a></p>` : ''
  return `<section class="card">${form}${table([t('时间', 'Time'), t('状态', 'Status'), t('接收者', 'To'), t('模板 / 类型', 'Template / type'), t('错误', 'Error')], rows, empty)}${more}</section>`
}

const OUTCOME_TEXT: Record<string, [string, string]> = {
  ok: ['微信已接收', 'accepted by WeChat'], transient: ['暂时失败，稍后重试', 'failed for now, retried later'], permanent: ['失败', 'failed'],
  quota: ['配额用尽，暂停到恢复', 'quota used up: paused until it is back'], token: ['access_token 无效，换新后重试', 'access token refused: retried with a new one'],
}

export const messagePage = (lang: Lang, o: { m: MessageView; requestId: string; attempts: AttemptRow[]; canChange: boolean; csrf: string }): string => {
  const t = tr(lang)
  const m = o.m
  const step = (when: string | number | null | undefined, title: string, detail = '', cls = '') =>
    `<li class="step ${cls}"><div class="when">${typeof when === 'number' ? time(new Date(when).toISOString(), lang) : time(when ?? null, lang)}</div><div><b>${title}</b>${detail ? `<div>${detail}</div>` : ''}</div></li>`
  const steps = [
    step(m.createdAt, t('API 请求被接受', 'Accepted by the API'), `${t('请求', 'Request')} <code>${esc(o.requestId)}</code> · ${t('接收者', 'to')} ${esc(m.subject ? `${m.subject} (${m.openid})` : m.openid)} · ${esc(m.type === 'template' ? `${t('模板', 'template')} ${m.templateId}` : m.type)}`),
    ...o.attempts.map((a, i) => step(a.at, `${t('第', 'Attempt ')}${i + 1}${t(' 次调用微信', '')}：${t(...(OUTCOME_TEXT[a.outcome] ?? [a.outcome, a.outcome]))}`,
      `${a.durationMs} ms${a.errcode !== null || a.error ? ` · ${errcodeLine(a.errcode, a.error, lang)}` : ''}`, a.outcome === 'ok' ? 'ok' : a.outcome === 'permanent' ? 'bad' : 'warn')),
    ...(m.sentAt ? [step(m.sentAt, t('已发送', 'Sent'), m.wechatMsgId ? `msgid <code>${esc(m.wechatMsgId)}</code>` : '', 'ok')] : []),
    ...(m.status === 'delivered' ? [step(m.finishedAt, t('已送达（微信的 TEMPLATESENDJOBFINISH）', 'Delivered (WeChat’s TEMPLATESENDJOBFINISH)'), '', 'ok')] : []),
    ...(m.status === 'failed' ? [step(m.finishedAt, t('失败', 'Failed'), errcodeLine(m.errcode, m.error, lang), 'bad')] : []),
    ...(m.status === 'queued' || m.status === 'sending' ? [step(null, t('等待中', 'Waiting'), t('发件箱会按速率发送它。', 'The outbox sends it at its rate.'), 'warn')] : []),
  ]
  const again = m.status === 'failed' && o.canChange
    ? changeForm(`/console/messages/${encodeURIComponent(m.messageId)}/again`, o.csrf, `<button class="primary" type="submit">${t('作为新消息再发一次', 'Send again as a new message')}</button>`, { confirm: t('用同样的内容给同一个人再发一条新消息？', 'Send the same content to the same person as a new message?') })
    : ''
  return `<section class="card"><h2>${esc(m.messageId)} ${statusBadge(m.status, t)}</h2><ol class="timeline">${steps.join('')}</ol>${again}
<p><a href="/console/messages">${t('返回消息列表', 'Back to the messages')}</a></p></section>`
}
