/**
 * @module The bind page in a real browser (system Chromium, phone viewport): QR visible and inside the screen,
 * countdown ticking, no request leaving the origin, no console/CSP errors, and the switch to bound / expired.
 * Screenshots go to test-artifacts/ for a human to look at.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { type BindPageView, type BindStatus, bindPageHeaders, renderBindPage } from '../../src/http/bind-page'
import { launchBrowser, phonePage } from '../support/browser'

const ARTIFACTS = join(import.meta.dir, '..', '..', 'test-artifacts')
const QR_URL = 'http://weixin.qq.com/q/02abcDEFghij1zZ01xHNGf'

type Answer = BindStatus | 503 | 404

/** A tiny server for one page: `/bind/x` renders it, `/bind/x/status` answers what `answer()` says. */
const serve = (view: Omit<BindPageView, 'nonce' | 'statusUrl'>, answer: () => Answer, onSimulate?: () => void) => {
  const stats = { polls: 0, simulated: 0 }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: (req) => {
      const { pathname } = new URL(req.url)
      if (pathname === '/bind/x') {
        const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64')
        return new Response(renderBindPage({ ...view, statusUrl: '/bind/x/status', nonce }), { headers: bindPageHeaders(nonce) })
      }
      if (pathname === '/bind/x/status' && req.method === 'GET') {
        stats.polls++
        const a = answer()
        return typeof a === 'number' ? Response.json({ error: 'unavailable' }, { status: a }) : Response.json({ status: a }, { headers: { 'cache-control': 'no-store' } })
      }
      if (pathname === '/bind/x/simulate' && req.method === 'POST') {
        stats.simulated++
        onSimulate?.()
        return new Response(null, { status: 204 })
      }
      return new Response('not found', { status: 404 })
    },
  })
  const origin = `http://127.0.0.1:${server.port}`
  return { origin, url: `${origin}/bind/x`, stats, stop: () => server.stop(true) }
}

let browser: Browser
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  browser = await launchBrowser()
})
afterAll(async () => {
  await browser?.close()
})

// Page-side code reaches the DOM through globalThis: the project's tsconfig has no DOM lib. (Functions, not strings:
// Playwright evaluates string predicates with eval(), which the page's CSP rightly refuses.)
type PageGlobal = { document: { body: { dataset: Record<string, string | undefined> }; documentElement: { scrollWidth: number } } }
const text = async (p: Page, sel: string) => (await p.locator(sel).textContent())?.trim() ?? ''
const bodyStatus = (p: Page) => p.evaluate(() => (globalThis as unknown as PageGlobal).document.body.dataset.status)
const scrollWidth = (p: Page) => p.evaluate(() => (globalThis as unknown as PageGlobal).document.documentElement.scrollWidth)
const waitForStatus = (p: Page, s: BindStatus, timeout: number) =>
  p.waitForFunction((want) => (globalThis as unknown as PageGlobal).document.body.dataset.status === want, s, { timeout })

describe('bind page in Chromium (390×844 @2x)', () => {
  test('pending: QR fits the phone, label, countdown ticks, only same-origin requests; then bound', async () => {
    let answer: Answer = 'pending'
    const srv = serve({ status: 'pending', label: '张三 (CRM)', qrContent: QR_URL, secondsLeft: 599, pollMs: 300 }, () => answer)
    const { page, requests, problems, close } = await phonePage(browser)
    try {
      await page.goto(srv.url)
      const qr = page.locator('#qr')
      await qr.waitFor({ state: 'visible' })
      expect(await qr.evaluate((e) => e.tagName.toLowerCase())).toBe('svg')
      const box = (await qr.boundingBox())!
      expect(box.x).toBeGreaterThanOrEqual(0)
      expect(box.x + box.width).toBeLessThanOrEqual(390)
      expect(box.width).toBeGreaterThanOrEqual(240) // big enough to scan from another phone
      expect(box.width).toBeLessThanOrEqual(300)
      expect(await scrollWidth(page)).toBeLessThanOrEqual(390)
      // The PNG twin for WeChat's long press: decoded under the CSP, invisible, exactly over the SVG.
      const press = page.locator('#qr-press')
      const img = await press.evaluate((e) => {
        const i = e as unknown as { complete: boolean; naturalWidth: number }
        return { complete: i.complete, naturalWidth: i.naturalWidth, opacity: (globalThis as unknown as PageGlobal & { getComputedStyle(e: unknown): { opacity: string } }).getComputedStyle(e).opacity }
      })
      expect(img).toEqual({ complete: true, naturalWidth: expect.any(Number), opacity: '0' })
      expect(img.naturalWidth).toBeGreaterThan(200)
      const pressBox = (await press.boundingBox())!
      for (const k of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(pressBox[k] - box[k])).toBeLessThan(1)
      expect(await page.evaluate(([x, y]) => (globalThis as unknown as PageGlobal & { document: { elementFromPoint(x: number, y: number): { id: string } | null } }).document.elementFromPoint(x!, y!)?.id, [box.x + box.width / 2, box.y + box.height / 2])).toBe('qr-press')
      expect(await text(page, '#label')).toBe('绑定到：张三 (CRM)')
      expect(await text(page, '#status')).toBe('等待扫码 / waiting for scan')
      expect(await bodyStatus(page)).toBe('pending')
      const before = await text(page, '#countdown')
      expect(before).toMatch(/^剩余 9:5\d/)
      await page.waitForTimeout(1500)
      const after = await text(page, '#countdown')
      expect(after).not.toBe(before)
      expect(after).toMatch(/^剩余 9:5\d/)
      expect(await page.locator('#simulate').count()).toBe(0)
      await page.screenshot({ path: join(ARTIFACTS, 'bind-page-pending.png') })
      expect(srv.stats.polls).toBeGreaterThanOrEqual(2)

      answer = 'bound'
      await waitForStatus(page, 'bound', 5000)
      expect(await text(page, '#status')).toBe('已绑定 / bound')
      expect(await qr.isHidden()).toBe(true)
      expect(await page.locator('#countdown').isHidden()).toBe(true)
      expect(await page.locator('#mark-bound').isVisible()).toBe(true)
      await page.screenshot({ path: join(ARTIFACTS, 'bind-page-bound.png') })

      // polling stopped
      const polls = srv.stats.polls
      await page.waitForTimeout(800)
      expect(srv.stats.polls).toBe(polls)
      expect(requests.length).toBeGreaterThan(0)
      expect(requests.filter((u) => new URL(u).origin !== srv.origin)).toEqual([])
      expect(problems).toEqual([])
    } finally {
      await close()
      srv.stop()
    }
  })

  test('expired: after the countdown reaches 0 and a poll says expired, the QR goes away', async () => {
    const deadline = Date.now() + 1000
    const srv = serve({ status: 'pending', label: 'Li Si', qrContent: QR_URL, secondsLeft: 1, pollMs: 300 }, () => (Date.now() >= deadline ? 'expired' : 'pending'))
    const { page, requests, problems, close } = await phonePage(browser)
    try {
      await page.goto(srv.url)
      expect(await text(page, '#countdown')).toMatch(/^剩余 0:0[01]/)
      expect(await bodyStatus(page)).toBe('pending')
      await waitForStatus(page, 'expired', 5000)
      expect(Date.now()).toBeGreaterThanOrEqual(deadline)
      expect(await text(page, '#status')).toBe('已过期 / expired')
      expect(await text(page, '#hint')).toContain('请重新获取')
      expect(await page.locator('#qr').isHidden()).toBe(true)
      expect(await page.locator('#countdown').isHidden()).toBe(true)
      await page.screenshot({ path: join(ARTIFACTS, 'bind-page-expired.png') })
      expect(requests.filter((u) => new URL(u).origin !== srv.origin)).toEqual([])
      expect(problems).toEqual([])
    } finally {
      await close()
      srv.stop()
    }
  })

  test('demo: the simulate button POSTs and the page polls at once (no waiting for the next interval)', async () => {
    let answer: Answer = 'pending'
    const srv = serve({ status: 'pending', qrContent: QR_URL, secondsLeft: 300, pollMs: 60_000, simulateScanUrl: '/bind/x/simulate' }, () => answer, () => { answer = 'bound' })
    const { page, problems, close } = await phonePage(browser)
    try {
      await page.goto(srv.url)
      expect(await page.locator('#label').count()).toBe(0)
      await page.screenshot({ path: join(ARTIFACTS, 'bind-page-demo.png') })
      await page.locator('#simulate').click()
      await waitForStatus(page, 'bound', 3000)
      expect(srv.stats.simulated).toBe(1)
      expect(await page.locator('#simulate').isHidden()).toBe(true)
      expect(problems).toEqual([])
    } finally {
      await close()
      srv.stop()
    }
  })

  test('a failing status endpoint (503) keeps the page pending and it recovers', async () => {
    let answer: Answer = 503
    const srv = serve({ status: 'pending', qrContent: QR_URL, secondsLeft: 300, pollMs: 200 }, () => answer)
    const { page, problems, close } = await phonePage(browser)
    try {
      await page.goto(srv.url)
      await page.waitForTimeout(1300)
      // 200 ms doubling on failure: 200, 400, 800 → about 3 polls in 1.3 s, not 6
      expect(srv.stats.polls).toBeGreaterThanOrEqual(2)
      expect(srv.stats.polls).toBeLessThanOrEqual(4)
      expect(await bodyStatus(page)).toBe('pending')
      expect(await page.locator('#qr').isVisible()).toBe(true)
      answer = 'bound'
      await waitForStatus(page, 'bound', 5000)
      // Chromium logs each 503 as "Failed to load resource"; nothing else may appear.
      expect(problems.filter((p) => !p.includes('status of 503'))).toEqual([])
    } finally {
      await close()
      srv.stop()
    }
  })

  test('a code that disappeared (404 from the status route) stops polling and shows expired', async () => {
    let answer: Answer = 'pending'
    const srv = serve({ status: 'pending', qrContent: QR_URL, secondsLeft: 300, pollMs: 150 }, () => answer)
    const { page, close } = await phonePage(browser)
    try {
      await page.goto(srv.url)
      answer = 404
      await waitForStatus(page, 'expired', 5000)
      expect(await page.locator('#qr').isHidden()).toBe(true)
      const polls = srv.stats.polls
      await page.waitForTimeout(600)
      expect(srv.stats.polls).toBe(polls)
    } finally {
      await close()
      srv.stop()
    }
  })
})
