/**
 * @module The console's pages as HTML fragments (the layout wraps them): sign-in, overview, API keys, bindings.
 * Pure: the routes read the services and pass plain values.
 */
import type { ApiKeyInfo, Scope } from '../../domain/apikey.service'
import type { BindingView } from '../../domain/bind.service'
import type { TokenStatus } from '../../domain/token.service'
import { FORCE_MAX_PER_DAY } from '../../domain/token.service'
import { qrSvg } from '../bind-page'
import { errcodeLine } from './pages-messages'
import { changeForm, esc, facts, shownUrl, table, time, tr, type Lang } from './render'

export const signInPage = (lang: Lang, o: { error?: string; next?: string }): string => {
  const t = tr(lang)
  return `<section class="card login">
<p>${t('用一个有 read（只看）或 admin（可修改）权限的 API 密钥登录。密钥由 <code>wxgate apikey create</code> 生成，或使用 WXGATE_ADMIN_TOKEN。', 'Sign in with an API key that has the read (look) or admin (change) scope: one made by <code>wxgate apikey create</code>, or WXGATE_ADMIN_TOKEN.')}</p>
${o.error ? `<p class="flash error" role="alert">${esc(o.error)}</p>` : ''}
<form method="post" action="/console/login">
<input type="hidden" name="next" value="${esc(o.next ?? '/console')}">
<label>${t('API 密钥', 'API key')}<input type="password" name="key" autocomplete="current-password" required autofocus spellcheck="false"></label>
<button class="primary" type="submit">${t('登录', 'Sign in')}</button>
</form>
<p class="empty">${t('会话在 12 小时无操作、退出登录或密钥被吊销时结束。', 'A session ends after 12 h idle, at sign-out, or when its key is revoked.')}</p>
</section>`
}

export interface ChannelOverview {
  id: string
  name?: string
  appId: string
  /** The URL to paste into the WeChat admin (服务器地址). */
  serverUrl: string
  /** Only for a session that may change things (an admin key): the secrets to paste. */
  token?: string
  aesKey?: string
  tokenStatus?: TokenStatus
  tokenError?: string
  outbox: { depth: number; oldestCreatedAt: number | null }
  /** The last 24 h: messages accepted, by status, and callbacks received. */
  last24h: { sends: Record<string, number>; callbacks: number }
}

export interface OverviewView {
  channels: ChannelOverview[]
  webhooks: { id: string; url: string; enabled: boolean; depth: number; oldestCreatedAt: number | null }[]
  now: number
  canChange: boolean
}

const age = (since: number | null, now: number, t: ReturnType<typeof tr>): string => {
  if (since === null) return '—'
  const s = Math.max(0, Math.round((now - since) / 1000))
  return s < 60 ? t(`${s} 秒`, `${s} s`) : s < 3600 ? t(`${Math.round(s / 60)} 分钟`, `${Math.round(s / 60)} min`) : t(`${Math.round(s / 3600)} 小时`, `${Math.round(s / 3600)} h`)
}

const tokenState = (st: TokenStatus | undefined, err: string | undefined, lang: Lang): string => {
  const t = tr(lang)
  if (!st) return `<span class="bad">${esc(err ?? t('未知', 'unknown'))}</span>`
  const label: Record<TokenStatus['state'], [string, string, string]> = {
    ok: ['正常', 'ok', 'ok'], refreshing: ['刷新中', 'refreshing', 'warn'], failing: ['获取失败', 'failing', 'bad'], quota_exhausted: ['配额用尽', 'quota used up', 'bad'],
  }
  // Never fetched yet (the first call that needs it fetches it): nothing is wrong.
  const [zh, en, cls] = st.state === 'ok' && !st.expiresAt ? ['尚未获取（首次调用时获取）', 'not fetched yet (the first call fetches it)', ''] as const : label[st.state]
  const rows: [string, string][] = [
    [t('状态', 'State'), `<span class="${cls}">${t(zh, en)}</span>`],
    [t('过期时间', 'Expires'), time(st.expiresAt, lang)],
    [t('今日刷新', 'Refreshes today'), `${st.refreshesToday}`],
    [t('强制刷新剩余', 'Forced refreshes left'), `${Math.max(0, FORCE_MAX_PER_DAY - st.forceRefreshesToday)} / ${FORCE_MAX_PER_DAY}`],
  ]
  for (const [api, until] of Object.entries(st.quota ?? {})) rows.push([t('配额用尽', 'Quota used up'), `<code>${esc(api)}</code> ${t('恢复于', 'back at')} ${time(until, lang)}`])
  if (st.lastError) {
    const e = st.lastError
    // The errcode with its meaning and wxgate's hint; the token service's own hint names specifics (the IP to whitelist).
    rows.push([t('最近错误', 'Last error'), `${time(e.at, lang)}<br>${e.errcode !== null ? errcodeLine(e.errcode, e.errmsg, lang) : `<span class="bad">${esc(e.errmsg)}</span>`}`
      + (e.hint ? `<br>${esc(e.hint)}` : '')])
  }
  return facts(rows)
}

const last24 = (l: ChannelOverview['last24h'], t: ReturnType<typeof tr>): string => {
  const total = Object.values(l.sends).reduce((a, b) => a + b, 0)
  const part = (k: string, zh: string, en: string, cls: string) => (l.sends[k] ? ` · <span class="${cls}">${t(zh, en)} ${l.sends[k]}</span>` : '')
  return `${t(`发送 ${total} 条`, `${total} sent`)}${part('delivered', '已送达', 'delivered', 'ok')}${part('failed', '失败', 'failed', 'bad')}<br>${t(`收到回调 ${l.callbacks} 条`, `${l.callbacks} callbacks received`)}`
}

export const overviewPage = (lang: Lang, v: OverviewView): string => {
  const t = tr(lang)
  if (v.channels.length === 0) {
    return `<section class="card"><h2>${t('还没有通道', 'No channel yet')}</h2><ol class="steps">
<li>${t('在微信公众平台「设置与开发 → 基本配置」找到 AppID 和 AppSecret，把本服务器的出口 IP 加入 IP 白名单。', 'In the WeChat admin, “设置与开发 → 基本配置”: find the AppID and AppSecret, and add this server’s outgoing IP to the IP whitelist.')}</li>
<li>${t('设置 WXGATE_APPID、WXGATE_APPSECRET、WXGATE_TOKEN（以及安全模式的 WXGATE_AES_KEY）后重启，或运行', 'Set WXGATE_APPID, WXGATE_APPSECRET, WXGATE_TOKEN (and WXGATE_AES_KEY for safe mode) and restart, or run')} <code>wxgate channel add --id … --appid … --secret - --token -</code>.</li>
<li>${t('回到这里：页面会给出要填进「服务器配置」的服务器地址、Token 和 EncodingAESKey。', 'Come back here: this page gives the server URL, Token and EncodingAESKey to enter under “服务器配置”.')}</li>
</ol></section>`
  }
  const cards = v.channels.map((c) => {
    const secret = (id: string, value: string | undefined, label: string) => value === undefined
      ? `<span class="empty">${t('仅 admin 密钥可见', 'admin keys only')}</span>`
      : value === '' ? '—' : `<details><summary>${t('显示', 'Show')} ${esc(label)}</summary><span class="mono" id="${id}">${esc(value)}</span> <button type="button" data-copy="${id}" data-copied="${t('已复制', 'Copied')}">${t('复制', 'Copy')}</button></details>`
    return `<section class="card" data-channel="${esc(c.id)}"><h2>${esc(c.name ?? c.id)} <span class="badge">${esc(c.id)}</span></h2>
${facts([
  ['AppID', `<code>${esc(c.appId)}</code>`],
  [t('服务器地址', 'Server URL'), `<span class="mono" id="url-${esc(c.id)}">${esc(c.serverUrl)}</span> <button type="button" data-copy="url-${esc(c.id)}" data-copied="${t('已复制', 'Copied')}">${t('复制', 'Copy')}</button>`],
  ['Token', secret(`token-${esc(c.id)}`, c.token, 'Token')],
  ['EncodingAESKey', secret(`aes-${esc(c.id)}`, c.aesKey, 'EncodingAESKey')],
  [t('发件箱', 'Outbox'), `${c.outbox.depth} ${t('条待发', 'queued')}${c.outbox.depth ? ` · ${t('最早', 'oldest')} ${age(c.outbox.oldestCreatedAt, v.now, t)}` : ''}`],
  [t('最近 24 小时', 'Last 24 h'), last24(c.last24h, t)],
])}
<h2>access_token</h2>${tokenState(c.tokenStatus, c.tokenError, lang)}</section>`
  })
  const hooks = v.webhooks.length === 0
    ? `<p class="empty">${t('没有 webhook 端点。', 'No webhook endpoint.')}</p>`
    : table([t('端点', 'Endpoint'), t('状态', 'State'), t('积压', 'Queue'), t('最早', 'Oldest')], v.webhooks.map((w) => [
      `<span class="mono">${esc(shownUrl(w.url, v.canChange))}</span>`,
      w.enabled ? `<span class="ok">${t('启用', 'enabled')}</span>` : `<span class="bad">${t('已停用', 'disabled')}</span>`,
      `${w.depth}`, age(w.oldestCreatedAt, v.now, t),
    ]), '')
  return `<div class="grid">${cards.join('')}</div><section class="card"><h2>Webhooks</h2>${hooks}</section>`
}

export const SCOPES: Scope[] = ['read', 'send', 'bindcode', 'token', 'admin']
const SCOPE_HINTS: Record<Scope, [string, string]> = {
  read: ['只看', 'look'], send: ['发消息', 'send messages'], bindcode: ['绑定码', 'bind codes'], token: ['取 access_token', 'get the access token'], admin: ['全部，含修改', 'everything, changes too'],
}

export const keysPage = (lang: Lang, o: { keys: ApiKeyInfo[]; csrf: string; canChange: boolean; created?: { key: string; name: string } }): string => {
  const t = tr(lang)
  const shown = o.created
    ? `<section class="card"><h2>${t('新密钥', 'New key')}：${esc(o.created.name)}</h2><p>${t('只显示这一次，请现在复制保存：', 'Shown this once only: copy it now.')}</p>
<p class="secret" id="new-key">${esc(o.created.key)}</p><button type="button" data-copy="new-key" data-copied="${t('已复制', 'Copied')}">${t('复制', 'Copy')}</button></section>`
    : ''
  const create = o.canChange
    ? `<section class="card"><h2>${t('创建密钥', 'Create a key')}</h2>${changeForm('/console/keys', o.csrf, `<label>${t('名称', 'Name')}<input type="text" name="name" required maxlength="64" placeholder="crm"></label>
<fieldset><legend>${t('权限', 'Scopes')}</legend>${SCOPES.map((s) => `<label class="check"><input type="checkbox" name="scopes" value="${s}"${s === 'send' ? ' checked' : ''}>${s} <small>${t(...SCOPE_HINTS[s])}</small></label>`).join('')}</fieldset>
<button class="primary" type="submit">${t('创建', 'Create')}</button>`, { cls: 'row' })}</section>`
    : ''
  const rows = o.keys.map((k) => [
    esc(k.name), `<code>${esc(k.prefix)}…</code>`, esc(k.scopes.join(', ')), time(k.createdAt, lang), time(k.lastUsedAt, lang),
    k.revokedAt ? `<span class="bad">${t('已吊销', 'revoked')}</span> ${time(k.revokedAt, lang)}`
      : o.canChange ? changeForm(`/console/keys/${encodeURIComponent(k.id)}/revoke`, o.csrf, `<button class="danger" type="submit">${t('吊销', 'Revoke')}</button>`, { confirm: t(`吊销密钥「${k.name}」？用它的服务和控制台会话会立即失效。`, `Revoke the key “${k.name}”? Services using it and its console sessions stop at once.`) })
        : `<span class="ok">${t('有效', 'active')}</span>`,
  ])
  return shown + create + `<section class="card"><h2>${t('密钥', 'Keys')}</h2>${table([t('名称', 'Name'), t('前缀', 'Prefix'), t('权限', 'Scopes'), t('创建', 'Created'), t('最近使用', 'Last used'), ''], rows, t('还没有密钥。', 'No key yet.'))}</section>`
}

export interface BindCodeShown { code: string; subject: string; label?: string; qrContent: string; statusUrl: string; bindUrl: string }

export const bindingsPage = (lang: Lang, o: { bindings: BindingView[]; csrf: string; canChange: boolean; q?: string; created?: BindCodeShown; channels: string[]; next?: string }): string => {
  const t = tr(lang)
  const words = JSON.stringify({ pending: t('等待扫码', 'waiting for scan'), bound: t('已绑定', 'bound'), expired: t('已过期', 'expired') })
  const shown = o.created
    ? `<section class="card" id="bindcode"><h2>${t('绑定码', 'Bind code')}：${esc(o.created.label ?? o.created.subject)}</h2>
<div class="qr" id="bind-qr">${qrSvg(o.created.qrContent)}</div>
<p class="status-big" id="bind-status" role="status" aria-live="polite" data-state="pending" data-qr="bind-qr" data-after="bind-after" data-bind-status="${esc(o.created.statusUrl)}" data-words="${esc(words)}">${t('等待扫码', 'waiting for scan')}</p>
<p>${t('把绑定链接发给同事，或让他用微信扫码：', 'Send the bind link to the colleague, or let them scan:')} <a href="${esc(o.created.bindUrl)}" id="bind-url">${esc(o.created.bindUrl)}</a></p>
<p id="bind-after" hidden><a href="/console/bindings?q=${encodeURIComponent(o.created.subject)}">${t('查看这条绑定', 'See this binding')}</a></p></section>`
    : ''
  const create = o.canChange
    ? `<section class="card"><h2>${t('创建绑定码', 'Create a bind code')}</h2>${changeForm('/console/bindcode', o.csrf, `<label>${t('你的用户 ID（subject）', 'Your user id (subject)')}<input type="text" name="subject" required maxlength="128" placeholder="u-42"></label>
<label>${t('显示名称', 'Label')}<input type="text" name="label" maxlength="64" placeholder="张三 (CRM)"></label>
${o.channels.length > 1 ? `<label>${t('通道', 'Channel')}<select name="channel">${o.channels.map((c) => `<option>${esc(c)}</option>`).join('')}</select></label>` : ''}
<button class="primary" type="submit">${t('创建', 'Create')}</button>`, { cls: 'row' })}</section>`
    : ''
  const search = `<form class="row" method="get" action="/console/bindings"><label>${t('按 subject 或 openid 查找', 'Find by subject or openid')}<input type="search" name="q" value="${esc(o.q ?? '')}"></label><button type="submit">${t('查找', 'Find')}</button></form>`
  const rows = o.bindings.map((b) => [
    esc(b.subject), `<code>${esc(b.openid)}</code>`, esc(b.channel),
    b.status === 'active' ? `<span class="ok">${t('已绑定', 'bound')}</span>` : `<span class="warn">${t('已取消关注', 'unsubscribed')}</span>`,
    time(b.boundAt, lang),
    o.canChange ? changeForm(`/console/bindings/${encodeURIComponent(b.id)}/delete`, o.csrf, `<button class="danger" type="submit">${t('删除', 'Delete')}</button>`, { confirm: t(`删除「${b.subject}」的绑定？`, `Delete the binding of “${b.subject}”?`) }) : '',
  ])
  const empty = o.q ? t('没有匹配的绑定。', 'No binding matches.') : t('还没有绑定：创建一个绑定码，让同事用微信扫码。', 'No binding yet: create a bind code and let a colleague scan it with WeChat.')
  const more = o.next ? `<p><a href="${esc(o.next)}" rel="next">${t('下一页', 'Next page')}</a></p>` : ''
  return shown + create + `<section class="card"><h2>${t('绑定', 'Bindings')}</h2>${search}${table(['subject', 'openid', t('通道', 'Channel'), t('状态', 'State'), t('绑定时间', 'Bound'), ''], rows, empty)}${more}</section>`
}
