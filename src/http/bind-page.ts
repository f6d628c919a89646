/**
 * @module The bind page (`/bind/:code`): a self-contained HTML document with the QR code, a countdown and a
 * status poller. Pure: the caller passes the status, the seconds left (from the server clock) and the CSP nonce.
 */
import { PNG } from 'pngjs'
import { create as createQr } from 'qrcode'
import { DESIGN as D } from './design'
import { esc } from './html'

export type BindStatus = 'pending' | 'bound' | 'expired'

export interface BindPageView {
  status: BindStatus
  /** The subject's display label, e.g. '张三 (CRM)'; user-provided, so it is escaped. */
  label?: string
  /**
   * The Official Account's display name (the channel's `name`), e.g. '某某科技服务号': the colleague sees
   * which account the code will make them follow. Operator-provided, escaped all the same.
   */
  accountName?: string
  /** The text to encode in the QR code (WeChat's `qr.url`). */
  qrContent: string
  /** Seconds until expiry, computed by the caller from the server clock. */
  secondsLeft: number
  /** Same-origin relative URL answering JSON `{"status":"pending"|"bound"|"expired"}`. */
  statusUrl: string
  /** CSP nonce for the inline `<script>` and `<style>`. */
  nonce: string
  /** Poll interval in milliseconds; default 2000. */
  pollMs?: number
  /** Sandbox demo only: a same-origin URL the "simulate scan" button POSTs to. No button when absent. */
  simulateScanUrl?: string
  /** Opened in WeChat's own browser on a phone: the hint says to long-press the code. */
  inWeChat?: boolean
}

const DEFAULT_POLL_MS = 2000
/** Four modules of white around the symbol, as ISO/IEC 18004 asks. */
const QUIET_ZONE = 4

/** JSON that is safe inside `<script>`: no `<`, `>` or `&` (so no `</script>` or `<!--`), no JS-only line breaks. */
const jsonForScript = (v: unknown): string =>
  JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

/** Nonces go into an attribute and into the CSP header, so only base64/base64url characters are accepted. */
const checkNonce = (nonce: string): string => {
  if (!/^[A-Za-z0-9+/_=-]{8,}$/.test(nonce)) throw new Error('bind page: the CSP nonce must be 8+ base64 characters')
  return nonce
}

/**
 * The QR code's module matrix, from the `qrcode` library because Reed-Solomon, masking and version
 * selection are easy to get subtly wrong by hand, and a wrong QR code fails only on someone's phone.
 */
const qrModules = (text: string) => createQr(text, { errorCorrectionLevel: 'M' }).modules

/** The QR code as inline SVG: one path of horizontal runs of dark modules. */
export const qrSvg = (text: string): string => {
  const modules = qrModules(text)
  const n = modules.size
  const dim = n + 2 * QUIET_ZONE
  let d = ''
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n;) {
      if (!modules.data[y * n + x]) { x++; continue }
      let w = 1
      while (x + w < n && modules.data[y * n + x + w]) w++
      d += `M${x + QUIET_ZONE} ${y + QUIET_ZONE}h${w}v1h-${w}z`
      x += w
    }
  }
  return `<svg id="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${dim} ${dim}" data-modules="${n}" role="img" aria-label="微信绑定二维码 / WeChat bind QR code" shape-rendering="crispEdges">`
    + `<rect width="${dim}" height="${dim}" fill="#fff"/><path fill="#000" d="${d}"/></svg>`
}

/** Pixels per module of the PNG twin: ~360 px for a WeChat ticket URL, crisp on a phone at 2-3x. */
const PNG_SCALE = 8

/**
 * The same QR code as a PNG data: URI, laid transparently over the SVG. WeChat's in-app browser offers
 * "识别图中二维码" on a long press only for images (<img>), not for inline SVG, and a colleague who got
 * the bind link in a chat opens it there, on the phone they would otherwise scan with. pngjs (also what
 * the qrcode library renders PNGs with) encodes it synchronously; the modules are the SVG's.
 */
export const qrPngDataUri = (text: string): string => {
  const modules = qrModules(text)
  const n = modules.size
  const dim = (n + 2 * QUIET_ZONE) * PNG_SCALE
  const png = new PNG({ width: dim, height: dim, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 })
  png.data = Buffer.alloc(dim * dim, 0xff)
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (!modules.data[y * n + x]) continue
      for (let dy = 0; dy < PNG_SCALE; dy++) {
        const row = ((y + QUIET_ZONE) * PNG_SCALE + dy) * dim + (x + QUIET_ZONE) * PNG_SCALE
        png.data.fill(0, row, row + PNG_SCALE)
      }
    }
  }
  return `data:image/png;base64,${PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }).toString('base64')}`
}

const MARKS = {
  bound: '<svg viewBox="0 0 96 96" aria-hidden="true"><circle cx="48" cy="48" r="46" fill="#07c160"/><path d="M27 49l14 14 28-30" fill="none" stroke="#fff" stroke-width="8" stroke-linecap="round" stroke-linejoin="round"/></svg>',
  expired: '<svg viewBox="0 0 96 96" aria-hidden="true"><circle cx="48" cy="48" r="46" fill="#e5e6eb"/><circle cx="48" cy="48" r="26" fill="none" stroke="#86909c" stroke-width="7"/><path d="M48 33v16l10 7" fill="none" stroke="#86909c" stroke-width="7" stroke-linecap="round" stroke-linejoin="round"/></svg>',
}

/** [Chinese, English] for the status line and the hint under it. */
const TEXT: Record<BindStatus, { status: [string, string]; hint: [string, string] }> = {
  pending: { status: ['等待扫码', 'waiting for scan'], hint: ['请用微信扫描二维码', 'Scan with WeChat'] },
  bound: { status: ['已绑定', 'bound'], hint: ['绑定成功，可以关闭此页面', 'Done, you can close this page'] },
  expired: { status: ['已过期', 'expired'], hint: ['已过期，请重新获取二维码', 'Expired, please ask for a new code'] },
}

/** Pending, in WeChat's browser on a phone: the code is on this very screen, so it is long-pressed, not scanned. */
const WECHAT_HINT: [string, string] = ['长按二维码，选择“识别图中二维码”', 'Long-press the code, then “Recognise QR code”']

/** "中文 / English", wrapping only between the two halves on narrow screens. */
const pair = ([zh, en]: [string, string]) => `<span class="nw">${zh}</span> / <span class="nw">${en}</span>`

const CSS = `*{box-sizing:border-box}[hidden]{display:none!important}
html{color-scheme:light;-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;min-height:100vh;min-height:100dvh;display:flex;align-items:center;justify-content:center;padding:16px;background:${D.bg};color:${D.text};font:17px/1.5 ${D.font}}
.card{width:100%;max-width:380px;background:${D.card};border-radius:${D.radius};padding:28px 20px 24px;box-shadow:${D.shadow};text-align:center}
h1{margin:0;font-size:24px;line-height:1.3;font-weight:600}
.en{display:block;font-size:14px;font-weight:400;color:#4e5969}
#account{margin:12px 0 0;font-size:17px;font-weight:600;overflow-wrap:anywhere}#account .en{font-weight:400;overflow-wrap:anywhere}
#label{margin:14px 0 0;padding:8px 12px;border-radius:8px;background:#f2f3f5;font-size:17px;overflow-wrap:anywhere}
.qr{position:relative;width:100%;max-width:300px;margin:16px auto 4px}
.qr svg{display:block;width:100%;height:auto}
.qr .press{position:absolute;inset:0;width:100%;height:100%;opacity:0;-webkit-touch-callout:default}
.mark{width:96px;height:96px;margin:28px auto 8px}.mark svg{display:block;width:100%;height:100%}
#status{margin:8px 0 2px;font-size:21px;font-weight:600}
body[data-status=bound] #status{color:${D.greenText}}body[data-status=expired] #status{color:${D.red}}
.nw{display:inline-block}.hint{margin:0;color:#4e5969;font-size:16px}.msg{margin-top:12px}
#countdown{margin:10px 0 0;color:#4e5969;font-size:16px;font-variant-numeric:tabular-nums}
#countdown b{color:#1d2129;font-size:19px}#countdown .en{display:inline;font-size:inherit}#countdown.low b{color:#b42318}
#simulate{margin-top:20px;width:100%;min-height:48px;padding:10px 16px;border:1px dashed #86909c;border-radius:10px;background:#fff;color:#1d2129;font:inherit;font-size:16px;cursor:pointer}
#simulate:active{background:#f2f3f5}#simulate:disabled{opacity:.6}#simulate .en{font-size:13px}`

/** Client side: countdown on the monotonic clock (performance.now), poll with back-off, simulate button. */
const script = (config: string) => `(() => {
  const C = ${config};
  const $ = (id) => document.getElementById(id);
  const end = performance.now() + C.secondsLeft * 1000;
  let status = 'pending', timer = 0, tick = 0, busy = false, again = false, delay = C.pollMs;
  const show = (s) => {
    status = s;
    document.body.dataset.status = s;
    for (const k of ['status', 'hint']) { const [zh, en] = $(k).children; zh.textContent = C.text[s][k][0]; en.textContent = C.text[s][k][1]; }
    if (s === 'pending') return;
    clearTimeout(timer); clearInterval(tick);
    for (const id of ['account', 'qrbox', 'countdown', 'simulate']) { const e = $(id); if (e) e.hidden = true; }
    $('mark-' + s).hidden = false;
  };
  const schedule = (ms) => { clearTimeout(timer); if (status === 'pending') timer = setTimeout(poll, ms); };
  async function poll() {
    if (status !== 'pending') return;
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(C.statusUrl, { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' } });
      // 404: the code was pruned or never existed; it can no longer be used, so stop as expired.
      if (r.status === 404) { show('expired'); return; }
      if (!r.ok) throw new Error('status ' + r.status);
      const j = await r.json();
      delay = C.pollMs;
      if (j && (j.status === 'bound' || j.status === 'expired')) show(j.status);
    } catch (e) {
      delay = Math.min(delay * 2, Math.max(C.pollMs, 15000)); // keep the state, retry a little later
    } finally {
      busy = false;
      schedule(again ? 0 : delay);
      again = false;
    }
  }
  const mmss = $('countdown').querySelector('b');
  let shown = -1;
  const countdown = () => {
    const left = Math.max(0, Math.ceil((end - performance.now()) / 1000));
    if (left === shown) return;
    shown = left;
    mmss.textContent = Math.floor(left / 60) + ':' + String(left % 60).padStart(2, '0');
    $('countdown').classList.toggle('low', left <= 60);
    if (left === 0) { clearInterval(tick); schedule(0); } // the server decides; a poll confirms the expiry
  };
  tick = setInterval(countdown, 250);
  countdown();
  schedule(C.pollMs);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) { countdown(); schedule(0); } });
  const sim = $('simulate');
  if (sim && C.simulateScanUrl) sim.addEventListener('click', async () => {
    sim.disabled = true;
    try { await fetch(C.simulateScanUrl, { method: 'POST', cache: 'no-store', credentials: 'same-origin' }); } catch (e) {}
    sim.disabled = false;
    schedule(0);
  });
})();`

const shell = (title: string, nonce: string, body: string, status?: BindStatus): string => `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${esc(title)}</title>
<style nonce="${nonce}">${CSS}</style>
</head>
<body${status ? ` data-status="${status}"` : ''}>
<main class="card">
${body}
</main>
</body>
</html>
`

const fmtLeft = (s: number) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`

/** The whole bind page. A final initial status (bound/expired) renders that state directly, without QR or script. */
export const renderBindPage = (v: BindPageView): string => {
  const nonce = checkNonce(v.nonce)
  const pending = v.status === 'pending'
  const secondsLeft = Number.isFinite(v.secondsLeft) ? Math.max(0, Math.floor(v.secondsLeft)) : 0
  const pollMs = Number.isFinite(v.pollMs) ? Math.max(100, Math.floor(v.pollMs!)) : DEFAULT_POLL_MS
  const mark = (s: 'bound' | 'expired') =>
    pending || v.status === s ? `<div id="mark-${s}" class="mark"${pending ? ' hidden' : ''}>${MARKS[s]}</div>` : ''
  const parts = [
    '<h1>绑定微信 <span class="en">Bind WeChat</span></h1>',
    pending && v.accountName
      ? `<p id="account">关注「${esc(v.accountName)}」并完成绑定<span class="en">Follow “${esc(v.accountName)}” to finish binding</span></p>`
      : '',
    v.label ? `<p id="label">绑定到：${esc(v.label)}</p>` : '',
    pending ? `<div id="qrbox" class="qr">${qrSvg(v.qrContent)}<img id="qr-press" class="press" src="${qrPngDataUri(v.qrContent)}" alt=""></div>` : '',
    mark('bound'),
    mark('expired'),
    `<p id="status" role="status" aria-live="polite">${pair(TEXT[v.status].status)}</p>`,
    `<p id="hint" class="hint">${pair(pending && v.inWeChat ? WECHAT_HINT : TEXT[v.status].hint)}</p>`,
  ]
  if (pending) {
    parts.push(`<p id="countdown"${secondsLeft <= 60 ? ' class="low"' : ''}>剩余 <b>${fmtLeft(secondsLeft)}</b> <span class="en">/ time left</span></p>`)
    if (v.simulateScanUrl) parts.push('<button id="simulate" type="button">模拟扫码（沙盒演示）<span class="en">Simulate scan (sandbox demo)</span></button>')
    const config = { statusUrl: v.statusUrl, simulateScanUrl: v.simulateScanUrl ?? null, pollMs, secondsLeft, text: TEXT }
    parts.push(`<script nonce="${nonce}">${script(jsonForScript(config))}</script>`)
  }
  return shell('绑定微信 / Bind WeChat', nonce, parts.filter(Boolean).join('\n'), v.status)
}

/** A plain message page in the same style, e.g. 404 "二维码不存在 / unknown code". */
export const renderBindMessagePage = (o: { title: string; message: string; nonce: string }): string =>
  shell(o.title, checkNonce(o.nonce), `<h1>${o.title.split(' / ').map((t) => `<span class="nw">${esc(t)}</span>`).join(' / ')}</h1>\n<p class="hint msg">${esc(o.message)}</p>`)

/** Response headers for both pages: no caching, no referrer, and a CSP that allows nothing but our nonce'd inline code. */
export const bindPageHeaders = (nonce: string): Record<string, string> => {
  const n = checkNonce(nonce)
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'content-security-policy': `default-src 'none'; img-src data:; style-src 'nonce-${n}'; script-src 'nonce-${n}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  }
}
