/**
 * @module The console's two assets, served from the binary (/console/assets/…): its CSS, built from the bind
 * page's design values (src/http/design.ts), and one small script — confirmations before a change, copy
 * buttons, and a bind code's live status. Files of their own rather than inline, so the CSP needs no nonce and
 * no 'unsafe-inline'. The script works without any framework and the pages work without it, except the live
 * status (a reload shows it too).
 */
import { DESIGN as D } from '../design'

export const CONSOLE_CSS = `*{box-sizing:border-box}[hidden]{display:none!important}
html{color-scheme:light;-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:${D.bg};color:${D.text};font:16px/1.55 ${D.font};overflow-wrap:anywhere}
a{color:#0b57d0}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px;padding:12px 16px;background:${D.card};border-bottom:1px solid ${D.line}}
.brand{font-weight:600;font-size:18px;color:${D.text};text-decoration:none}.brand span{font-weight:400;color:${D.muted}}
.who{display:flex;align-items:center;gap:8px;margin-left:auto;font-size:14px;color:${D.muted}}.who form{margin:0}
.lang{font-size:14px}
.badge{display:inline-block;padding:0 6px;border-radius:6px;background:${D.bg};color:${D.muted};font-size:12px}
.nav{display:flex;flex-wrap:wrap;gap:4px 6px;padding:8px 12px;background:${D.card};border-bottom:1px solid ${D.line}}
.nav a{padding:6px 10px;border-radius:8px;color:${D.text};text-decoration:none;font-size:15px}
.nav a[aria-current=page]{background:${D.bg};font-weight:600}
main{max-width:1080px;margin:0 auto;padding:16px}
h1{margin:4px 0 16px;font-size:22px;font-weight:600}h2{margin:0 0 12px;font-size:18px;font-weight:600}
.card{background:${D.card};border-radius:${D.radius};box-shadow:${D.shadow};padding:16px;margin:0 0 16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:16px}.grid .card{margin:0}
.facts+h2,.facts+section,p+h2{margin-top:18px}
.facts{display:grid;grid-template-columns:minmax(96px,max-content) 1fr;gap:6px 12px;margin:0}.facts dt{color:${D.muted}}.facts dd{margin:0;min-width:0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:14px;background:${D.bg};padding:1px 4px;border-radius:4px}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{width:100%;min-width:560px;border-collapse:collapse;font-size:14px}td{overflow-wrap:break-word}th,td{text-align:left;padding:8px;border-bottom:1px solid ${D.line};vertical-align:top}th{color:${D.muted};font-weight:500;white-space:nowrap}
.empty{color:${D.muted};margin:8px 0}
.ok{color:${D.greenText}}.bad{color:${D.red}}.warn{color:${D.amber}}
.flash{padding:10px 12px;border-radius:10px;margin:0 0 16px}.flash.ok{background:#e8f7ef}.flash.error{background:#fdecea;color:${D.red}}
form.row,div.row{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-end;margin:0}div.row{margin-top:14px}div.row form{margin:0}
label{display:flex;flex-direction:column;gap:4px;font-size:14px;color:${D.muted}}
form.stack{display:flex;flex-direction:column;gap:10px;margin-top:12px}form.stack input{width:100%}form.stack button{align-self:flex-start}
pre.secret{white-space:pre-wrap;margin:0}
label.check{flex-direction:row;align-items:center;gap:6px;color:${D.text}}label.check small{color:${D.muted}}
input[type=text],input[type=password],input[type=search],select{font:inherit;font-size:16px;padding:8px 10px;border:1px solid ${D.line};border-radius:8px;min-width:0;max-width:100%;background:#fff;color:${D.text}}
button{font:inherit;font-size:15px;min-height:40px;padding:8px 14px;border-radius:8px;border:1px solid ${D.line};background:#fff;color:${D.text};cursor:pointer}
button.primary{background:${D.green};border-color:${D.green};color:#fff}button.danger{color:${D.red}}
button.link{min-height:0;padding:0;border:0;background:none;color:#0b57d0;text-decoration:underline;font-size:14px}
fieldset{border:0;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:6px 14px}legend{font-size:14px;color:${D.muted};margin-bottom:4px}
.secret{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:15px;background:${D.bg};padding:10px;border-radius:8px;word-break:break-all}
.steps{margin:0;padding-left:20px}.steps li{margin:4px 0}
.qr{width:100%;max-width:240px}.qr svg{display:block;width:100%;height:auto}
.status-big{font-size:20px;font-weight:600}
.login{max-width:420px;margin:40px auto}.login label{margin-bottom:12px}.login input{width:100%}.login button{width:100%}
details>summary{cursor:pointer;color:#0b57d0}
.timeline{list-style:none;margin:0 0 16px;padding:0;border-left:3px solid ${D.line}}
.step{display:grid;grid-template-columns:minmax(140px,max-content) 1fr;gap:4px 12px;padding:8px 0 8px 14px;position:relative}
.step::before{content:"";position:absolute;left:-8px;top:14px;width:13px;height:13px;border-radius:50%;background:${D.subtle}}
.step.ok::before{background:${D.green}}.step.bad::before{background:${D.red}}.step.warn::before{background:${D.amber}}
.step .when{color:${D.muted};font-size:14px}
@media (max-width:520px){.step{grid-template-columns:1fr}}`

/** The console's script: a few behaviours bound by data attributes (no inline handlers: the CSP forbids them). */
export const CONSOLE_JS = `(() => {
  'use strict';
  // A change that cannot be undone asks first.
  document.addEventListener('submit', (e) => {
    const f = e.target;
    if (f instanceof HTMLFormElement && f.dataset.confirm && !window.confirm(f.dataset.confirm)) e.preventDefault();
  });
  // Copy buttons: the text of the element they name.
  document.addEventListener('click', async (e) => {
    const b = e.target instanceof Element ? e.target.closest('[data-copy]') : null;
    if (!b) return;
    const src = document.getElementById(b.dataset.copy);
    if (!src) return;
    try { await navigator.clipboard.writeText(src.textContent.trim()); b.dataset.done = '1'; b.textContent = b.dataset.copied || 'OK'; } catch (err) {}
  });
  // A bind code's live status: polls the public status route until the code is bound or expired.
  for (const el of document.querySelectorAll('[data-bind-status]')) {
    const url = el.dataset.bindStatus;
    const words = JSON.parse(el.dataset.words || '{}');
    let delay = 2000;
    const tick = async () => {
      try {
        const r = await fetch(url, { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' } });
        const j = r.status === 404 ? { status: 'expired' } : await r.json();
        delay = 2000;
        if (j.status && j.status !== el.dataset.state) {
          el.dataset.state = j.status;
          el.textContent = words[j.status] || j.status;
          el.className = 'status-big ' + (j.status === 'bound' ? 'ok' : j.status === 'expired' ? 'bad' : '');
          const qr = document.getElementById(el.dataset.qr || '');
          if (qr && j.status !== 'pending') qr.hidden = true;
          const after = document.getElementById(el.dataset.after || '');
          if (after && j.status === 'bound') after.hidden = false;
        }
        if (j.status === 'pending') setTimeout(tick, delay);
      } catch (err) {
        delay = Math.min(delay * 2, 15000);
        setTimeout(tick, delay);
      }
    };
    setTimeout(tick, 1000);
  }
})();`
