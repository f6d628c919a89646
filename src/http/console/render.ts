/**
 * @module The console's HTML (server-rendered): the layout, escaping, the two languages, and the headers of its
 * pages. Pure: the routes pass what to show. Chinese first, English one click away (`lang` cookie).
 *
 * Why server-rendered HTML with one small script (console.js), not a client bundle: every page is a read of a few
 * rows the server has at hand; HTML strings need no build step, no framework in the binary, no JSON API of their
 * own (the forms post to the console's routes, which call the same services as /api), and a page is one request.
 */
export type Lang = 'zh' | 'en'

import { esc } from '../html'

export { esc }

/** The text in the page's language. */
export const tr = (lang: Lang) => (zh: string, en: string): string => (lang === 'en' ? en : zh)
export type T = ReturnType<typeof tr>

/** Strict: nothing inline, nothing from another origin (the console works on a closed network). */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

export const consoleHeaders = (): Record<string, string> => ({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the console's own form posts,
  // and the sign-in refuses an opaque origin (a sandboxed frame elsewhere could sign a browser into another session).
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': CONSOLE_CSP,
})

export interface NavItem { path: string; zh: string; en: string }
export const NAV: NavItem[] = [
  { path: '/console', zh: '概览', en: 'Overview' },
  { path: '/console/bindings', zh: '绑定', en: 'Bindings' },
  { path: '/console/messages', zh: '消息', en: 'Messages' },
  { path: '/console/inbound', zh: '收到的消息', en: 'Inbound' },
  { path: '/console/webhooks', zh: 'Webhooks', en: 'Webhooks' },
  { path: '/console/channels', zh: '通道', en: 'Channels' },
  { path: '/console/keys', zh: 'API 密钥', en: 'API keys' },
]

export interface LayoutView {
  lang: Lang
  title: [string, string]
  /** The page's own path (its nav item is marked, the language switch comes back to it). */
  path: string
  body: string
  /** Signed in: the nav, who, sign-out. */
  session?: { name: string; canChange: boolean; csrf: string }
  /** A message after a change (PRG: shown once from the query). */
  flash?: { kind: 'ok' | 'error'; text: string }
}

export const layout = (v: LayoutView): string => {
  const t = tr(v.lang)
  const other: Lang = v.lang === 'en' ? 'zh' : 'en'
  const nav = v.session
    ? `<nav class="nav" aria-label="${t('主菜单', 'Main')}">${NAV.map((n) => `<a href="${n.path}"${n.path === v.path ? ' aria-current="page"' : ''}>${esc(t(n.zh, n.en))}</a>`).join('')}</nav>`
    : ''
  const who = v.session
    ? `<div class="who"><span class="key">${esc(v.session.name)}${v.session.canChange ? '' : ` <span class="badge">${t('只读', 'read-only')}</span>`}</span>`
      + `<form method="post" action="/console/logout"><input type="hidden" name="_csrf" value="${esc(v.session.csrf)}"><button class="link" type="submit">${t('退出', 'Sign out')}</button></form></div>`
    : ''
  const flash = v.flash ? `<p class="flash ${v.flash.kind}" role="${v.flash.kind === 'error' ? 'alert' : 'status'}">${esc(v.flash.text)}</p>` : ''
  return `<!doctype html>
<html lang="${v.lang === 'en' ? 'en' : 'zh-CN'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(t(...v.title))} · wxgate</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/console/assets/console.css"><script src="/console/assets/console.js" defer></script></head>
<body><header class="top"><a class="brand" href="/console">wxgate <span>${t('控制台', 'console')}</span></a>${who}
<a class="lang" href="/console/lang?to=${other}&amp;back=${encodeURIComponent(v.path)}" lang="${other === 'en' ? 'en' : 'zh-CN'}">${other === 'en' ? 'English' : '中文'}</a></header>
${nav}<main id="main"><h1>${esc(t(...v.title))}</h1>${flash}${v.body}</main></body></html>`
}

/** A definition list of label → value rows (values already HTML). */
export const facts = (rows: [string, string][]): string => `<dl class="facts">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`

/** A table that scrolls inside itself on a narrow screen (the page never scrolls sideways). */
export const table = (head: string[], rows: string[][], empty: string): string => rows.length === 0
  ? `<p class="empty">${empty}</p>`
  : `<div class="scroll"><table><thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table></div>`

/** A form that changes something: POST with the session's CSRF token; `confirm` asks first (console.js). */
export const changeForm = (action: string, csrf: string, inner: string, o: { confirm?: string; cls?: string } = {}): string =>
  `<form method="post" action="${esc(action)}"${o.cls ? ` class="${o.cls}"` : ''}${o.confirm ? ` data-confirm="${esc(o.confirm)}"` : ''}><input type="hidden" name="_csrf" value="${esc(csrf)}">${inner}</form>`

/**
 * A webhook URL as a read session sees it: without its query and credentials, which often carry the receiver's
 * token (DingTalk, WeCom and Feishu robots: `?access_token=…`, `?key=…`); the API shows endpoints to admin keys only.
 */
export const shownUrl = (url: string, full: boolean): string => {
  if (full) return url
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`
  } catch {
    return '…'
  }
}

export const time = (iso: string | null | undefined, lang: Lang): string => {
  if (!iso) return '—'
  const d = new Date(iso)
  // Beijing time, as the team reads it (WeChat's day boundaries are Beijing midnight too).
  const shown = d.toLocaleString(lang === 'en' ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai', hour12: false })
  return `<time datetime="${esc(d.toISOString())}">${esc(shown)}</time>`
}
