/** @module Unit tests for the bind page renderer: QR SVG, escaping, self-containment, CSP and nonces, states. */
import { describe, expect, test } from 'bun:test'
import { PNG } from 'pngjs'
import QRCode from 'qrcode'
import { type BindPageView, bindPageHeaders, qrPngDataUri, qrSvg, renderBindMessagePage, renderBindPage } from '../../src/http/bind-page'

const NONCE = 'r4nd0mN0nce+/AB=='
const QR_URL = 'http://weixin.qq.com/q/02abcDEFghij1zZ01xHNGf'
const view = (over: Partial<BindPageView> = {}): BindPageView =>
  ({ status: 'pending', label: '张三 (CRM)', qrContent: QR_URL, secondsLeft: 599, statusUrl: '/bind/abc/status', nonce: NONCE, ...over })

/** Rebuilds the module matrix from the path qrSvg draws (one `M x y h w v1 h-w z` rectangle per run of dark modules). */
const matrixOf = (svg: string) => {
  const dim = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)![1])
  const size = dim - 8
  const grid = new Uint8Array(size * size)
  for (const [, x, y, w, back] of svg.matchAll(/M(\d+) (\d+)h(\d+)v1h-(\d+)z/g)) {
    expect(back).toBe(w!)
    for (let i = 0; i < Number(w); i++) grid[(Number(y) - 4) * size + Number(x) - 4 + i] = 1
  }
  return { size, grid }
}

describe('qrSvg', () => {
  const short = 'hi'
  test.each([short, QR_URL, `${QR_URL}?${'x'.repeat(120)}`])('draws exactly the module matrix of QRCode.create(%p, M)', (text) => {
    const svg = qrSvg(text)
    const expected = QRCode.create(text, { errorCorrectionLevel: 'M' }).modules
    const { size, grid } = matrixOf(svg)
    expect(size).toBe(expected.size)
    expect(svg).toContain(`data-modules="${expected.size}"`)
    expect(Array.from(grid)).toEqual(Array.from(expected.data, (b) => (b ? 1 : 0)))
  })

  test('sizes differ with the input length; output is deterministic and accessible', () => {
    expect(QRCode.create(short, { errorCorrectionLevel: 'M' }).modules.size).toBe(21)
    expect(matrixOf(qrSvg(short)).size).toBe(21)
    expect(matrixOf(qrSvg(QR_URL)).size).toBe(QRCode.create(QR_URL, { errorCorrectionLevel: 'M' }).modules.size)
    expect(matrixOf(qrSvg(QR_URL)).size).toBeGreaterThan(21)
    expect(qrSvg(QR_URL)).toBe(qrSvg(QR_URL))
    const svg = qrSvg(QR_URL)
    expect(svg).toStartWith('<svg id="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ')
    expect(svg).toContain('role="img"')
    expect(svg).toMatch(/aria-label="[^"]+"/)
    expect(svg).not.toMatch(/\s(width|height)="\d+(px)?"[^>]*><rect/) // the root scales (only the background rect has a size)
  })
})

describe('qrPngDataUri (the long-press twin for WeChat\'s browser)', () => {
  test.each(['hi', QR_URL])('a grey PNG of exactly the same modules, 8 px each, with the 4-module quiet zone: %p', (text) => {
    const uri = qrPngDataUri(text)
    expect(uri).toStartWith('data:image/png;base64,')
    const png = PNG.sync.read(Buffer.from(uri.slice('data:image/png;base64,'.length), 'base64'))
    const { size, data } = QRCode.create(text, { errorCorrectionLevel: 'M' }).modules
    const dim = (size + 8) * 8
    expect([png.width, png.height]).toEqual([dim, dim])
    // Every pixel (pngjs reads into RGBA): black inside a dark module, white everywhere else.
    const wrong: string[] = []
    for (let py = 0; py < dim; py++) {
      for (let px = 0; px < dim; px++) {
        const mx = Math.floor(px / 8) - 4
        const my = Math.floor(py / 8) - 4
        const dark = mx >= 0 && my >= 0 && mx < size && my < size && !!data[my * size + mx]
        const v = png.data[(py * dim + px) * 4]!
        if (v !== (dark ? 0 : 255)) wrong.push(`${px},${py}=${v}`)
      }
    }
    expect(wrong.slice(0, 5)).toEqual([])
    expect(qrPngDataUri(text)).toBe(uri) // deterministic
  })
})

describe('renderBindPage', () => {
  test('pending: the PNG twin lies in the QR box after the SVG (alt="" : the SVG is the accessible one); final states have neither', () => {
    const html = renderBindPage(view())
    expect(html).toContain(`<div id="qrbox" class="qr">${qrSvg(QR_URL)}<img id="qr-press" class="press" src="${qrPngDataUri(QR_URL)}" alt=""></div>`)
    expect(html).toContain('.qr .press{position:absolute;inset:0;width:100%;height:100%;opacity:0')
    for (const status of ['bound', 'expired'] as const) expect(renderBindPage(view({ status }))).not.toContain('<img')
  })

  test('in WeChat\'s browser the pending hint says to long-press the code; elsewhere to scan it', () => {
    const hint = (v: Partial<BindPageView>) => /<p id="hint"[^>]*>(.*?)<\/p>/.exec(renderBindPage(view(v)))![1]!.replace(/<[^>]+>/g, '')
    expect(hint({ inWeChat: true })).toBe('长按二维码，选择“识别图中二维码” / Long-press the code, then “Recognise QR code”')
    expect(hint({ inWeChat: false })).toBe('请用微信扫描二维码 / Scan with WeChat')
    expect(hint({})).toBe('请用微信扫描二维码 / Scan with WeChat')
    expect(hint({ status: 'bound', inWeChat: true })).toBe('绑定成功，可以关闭此页面 / Done, you can close this page')
  })

  test('a whole Chinese-first document with the phone viewport, QR, label, status and countdown', () => {
    const html = renderBindPage(view())
    expect(html).toStartWith('<!doctype html>\n<html lang="zh-CN">')
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">')
    expect(html).toContain('<meta charset="utf-8">')
    expect(html).toContain('绑定微信')
    expect(html).toContain('Bind WeChat')
    expect(html).toContain(qrSvg(QR_URL))
    expect(html).toContain('<p id="label">绑定到：张三 (CRM)</p>')
    expect(html).toMatch(/<p id="status"[^>]*>.*等待扫码.* \/ .*waiting for scan/)
    expect(html).toContain('请用微信扫描二维码')
    expect(html).toMatch(/<p id="countdown">剩余 <b>9:59<\/b>/)
    expect(html).toContain('<body data-status="pending">')
    expect(html).toContain('"PingFang SC"')
    expect(html).toContain('"Noto Sans CJK SC"')
    expect(html).toContain('"Microsoft YaHei"')
    expect(html).toContain('cache: \'no-store\'')
    expect(html).toContain('performance.now()') // monotonic countdown
    expect(html).not.toContain('Date.now')
  })

  test('countdown formatting: under a minute is flagged, negative and fractional seconds are clamped', () => {
    expect(renderBindPage(view({ secondsLeft: 45 }))).toContain('<p id="countdown" class="low">剩余 <b>0:45</b>')
    expect(renderBindPage(view({ secondsLeft: -3 }))).toContain('剩余 <b>0:00</b>')
    expect(renderBindPage(view({ secondsLeft: 61.9 }))).toContain('剩余 <b>1:01</b>')
    expect(renderBindPage(view({ secondsLeft: 3600 }))).toContain('剩余 <b>60:00</b>')
  })

  test('the label and everything user-provided is escaped', () => {
    const html = renderBindPage(view({ label: `<script>alert(1)</script> "O'Brien" & co` }))
    expect(html).not.toContain('<script>alert(1)')
    expect(html).toContain('<p id="label">绑定到：&lt;script&gt;alert(1)&lt;/script&gt; &quot;O&#39;Brien&quot; &amp; co</p>')
    const msg = renderBindMessagePage({ title: '<b>t</b>', message: `<img src=x onerror="alert(1)">`, nonce: NONCE })
    expect(msg).not.toContain('<img')
    expect(msg).not.toContain('<b>t</b>')
    expect(msg).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;')
  })

  test('the account to follow is named, Chinese first, escaped; only while pending; hidden with the QR code once final', () => {
    const html = renderBindPage(view({ accountName: '某某科技服务号' }))
    expect(html).toContain('<p id="account">关注「某某科技服务号」并完成绑定<span class="en">Follow “某某科技服务号” to finish binding</span></p>')
    expect(html.indexOf('id="account"')).toBeLessThan(html.indexOf('id="qrbox"'))
    expect(html).toContain("for (const id of ['account', 'qrbox', 'countdown', 'simulate'])")
    const evil = renderBindPage(view({ accountName: '<img src=x onerror="alert(1)">' }))
    expect(evil).not.toContain('<img src=x')
    expect(evil).toContain('关注「&lt;img src=x onerror=&quot;alert(1)&quot;&gt;」并完成绑定')
    expect(renderBindPage(view())).not.toContain('id="account"')
    for (const status of ['bound', 'expired'] as const) expect(renderBindPage(view({ status, accountName: '某某科技服务号' }))).not.toContain('某某科技服务号')
  })

  test('URLs go into the script as JSON that cannot close the script element', () => {
    const evil = '/bind/x/status?</script><script>alert(1)</script><!--\u2028'
    const html = renderBindPage(view({ statusUrl: evil, simulateScanUrl: '/sim?a=1&b=</SCRIPT>' }))
    expect(html.match(/<script/gi)).toHaveLength(1)
    expect(html.match(/<\/script/gi)).toHaveLength(1)
    expect(html).not.toContain('<!--')
    const config = JSON.parse(/const C = (\{.*?\});\n/.exec(html)![1]!)
    expect(config.statusUrl).toBe(evil)
    expect(config.simulateScanUrl).toBe('/sim?a=1&b=</SCRIPT>')
    expect(config.pollMs).toBe(2000)
    expect(config.secondsLeft).toBe(599)
    expect(JSON.parse(/const C = (\{.*?\});\n/.exec(renderBindPage(view({ pollMs: 500 })))![1]!).pollMs).toBe(500)
  })

  test('self-contained: no external URL, no src/href except data:/same-origin, no @import or url()', () => {
    for (const html of [renderBindPage(view({ simulateScanUrl: '/sim' })), renderBindPage(view({ status: 'bound' })), renderBindMessagePage({ title: 'x', message: 'y', nonce: NONCE })]) {
      const withoutXmlns = html.replaceAll('xmlns="http://www.w3.org/2000/svg"', '')
      expect(withoutXmlns).not.toMatch(/https?:\/\//i)
      expect(withoutXmlns).not.toMatch(/\/\/[a-z0-9.-]+\.[a-z]{2,}/i) // no protocol-relative URLs either
      for (const [, value] of html.matchAll(/\s(?:src|href|action|srcset|poster)\s*=\s*["']?([^"'\s>]*)/gi)) {
        expect(value!.startsWith('data:') || (value!.startsWith('/') && !value!.startsWith('//'))).toBe(true)
      }
      expect(html).not.toMatch(/@import|url\(|<link|<iframe|<object|<embed|@font-face/i)
      expect(html).not.toContain(QR_URL) // the WeChat URL is only inside the QR modules, never a link
    }
  })

  test('CSP: the header carries the nonce and every script and style tag carries it too', () => {
    const html = renderBindPage(view())
    const csp = bindPageHeaders(NONCE)['content-security-policy']!
    expect(csp).toBe(`default-src 'none'; img-src data:; style-src 'nonce-${NONCE}'; script-src 'nonce-${NONCE}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`)
    const tags = [...html.matchAll(/<(script|style)\b[^>]*>/gi)].map((m) => m[0])
    expect(tags).toEqual([`<style nonce="${NONCE}">`, `<script nonce="${NONCE}">`])
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/i) // no inline style or handler attributes (CSP would block them)
    expect(renderBindMessagePage({ title: 't', message: 'm', nonce: NONCE })).toContain(`<style nonce="${NONCE}">`)
  })

  test('headers: html, no caching, no referrer, nosniff', () => {
    const h = bindPageHeaders(NONCE)
    expect(h['content-type']).toBe('text/html; charset=utf-8')
    expect(h['cache-control']).toBe('no-store')
    expect(h['referrer-policy']).toBe('no-referrer')
    expect(h['x-content-type-options']).toBe('nosniff')
  })

  test('a nonce that could break out of the attribute or the CSP header is refused', () => {
    for (const bad of ['', 'short', `abcdefgh'; script-src *`, 'abcdefgh" onload="x']) {
      expect(() => bindPageHeaders(bad)).toThrow(/nonce/)
      expect(() => renderBindPage(view({ nonce: bad }))).toThrow(/nonce/)
    }
  })

  test('the simulate button appears only with simulateScanUrl', () => {
    expect(renderBindPage(view())).not.toContain('id="simulate"')
    expect(renderBindPage(view())).not.toContain('模拟扫码')
    const demo = renderBindPage(view({ simulateScanUrl: '/bind/abc/simulate' }))
    expect(demo).toContain('<button id="simulate" type="button">模拟扫码（沙盒演示）')
    expect(demo).toContain('"simulateScanUrl":"/bind/abc/simulate"')
  })

  test('no label → no #label', () => {
    expect(renderBindPage(view({ label: undefined }))).not.toContain('id="label"')
    expect(renderBindPage(view({ label: '' }))).not.toContain('id="label"')
  })

  test.each([
    ['bound', '已绑定', 'bound'],
    ['expired', '已过期', 'expired'],
  ] as const)('an initial %s state renders directly: no QR, no countdown, no script', (status, zh, en) => {
    const html = renderBindPage(view({ status, simulateScanUrl: '/sim' }))
    expect(html).toContain(`<body data-status="${status}">`)
    expect(html).toContain(`<span class="nw">${zh}</span> / <span class="nw">${en}</span>`)
    expect(html).toContain(`<div id="mark-${status}" class="mark">`)
    expect(html).not.toContain('id="qr"')
    expect(html).not.toContain('<path fill="#000"')
    expect(html).not.toContain('id="countdown"')
    expect(html).not.toContain('id="simulate"')
    expect(html).not.toContain('<script')
    expect(html).toContain('<p id="label">绑定到：张三 (CRM)</p>')
  })
})

describe('renderBindMessagePage', () => {
  test('same look, title split into its Chinese and English halves', () => {
    const html = renderBindMessagePage({ title: '二维码不存在 / unknown code', message: '链接无效 / invalid link', nonce: NONCE })
    expect(html).toStartWith('<!doctype html>\n<html lang="zh-CN">')
    expect(html).toContain('<title>二维码不存在 / unknown code</title>')
    expect(html).toContain('<h1><span class="nw">二维码不存在</span> / <span class="nw">unknown code</span></h1>')
    expect(html).toContain('链接无效 / invalid link')
    expect(html).not.toContain('<script')
  })
})
