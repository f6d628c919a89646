/**
 * @module The bind page in a real browser (system Chromium, phone viewport): QR visible and inside the screen,
 * countdown ticking, no request leaving the origin, no console/CSP errors, and the switch to bound / expired.
 * Screenshots go to test-artifacts/ for a human to look at.
 *
 * Robust on a loaded machine: every wait has a deadline well above what it needs; poll counts are never
 * bounded by how much wall time passed; the backoff is checked on the gaps between the polls the server saw
 * (a timer never fires early, so a gap is at least its delay however slow the machine is).
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
  /** Poll count, and when each arrived (performance.now() of this process). */
  const stats = { polls: 0, simulated: 0, pollAt: [] as number[] }
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
        stats.pollAt.push(performance.now())
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

/** Generous deadlines: what takes milliseconds when idle may take seconds on a busy 2-core box. */
const WAIT_MS = 15_000
const TEST_MS = 60_000

/** Resolves once check() holds; fails after `ms`. */
const until = async (what: string, check: () => boolean, ms = WAIT_MS) => {
  const end = performance.now() + ms
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await Bun.sleep(10)
  }
}

let browser: Browser
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  browser = await launchBrowser()
}, { timeout: TEST_MS })
afterAll(async () => {
  await browser?.close()
})

// Page-side code reaches the DOM through globalThis: the project's tsconfig has no DOM lib. (Functions, not strings:
// Playwright evaluates string predicates with eval(), which the page's CSP rightly refuses.)
type PageGlobal = { document: { body: { dataset: Record<string, string | undefined> }; documentElement: { scrollWidth: number } } }
const text = async (p: Page, sel: string) => (await p.locator(sel).textContent())?.trim() ?? ''
const bodyStatus = (p: Page) => p.evaluate(() => (globalThis as unknown as PageGlobal).document.body.dataset.status)
const scrollWidth = (p: Page) => p.evaluate(() => (globalThis as unknown as PageGlobal).document.documentElement.scrollWidth)
const waitForStatus = (p: Page, s: BindStatus, timeout = WAIT_MS) =>
  p.waitForFunction((want) => (globalThis as unknown as PageGlobal).document.body.dataset.status === want, s, { timeout })
/** Waits until the countdown shows something other than `than` (it ticks once a second). */
const waitForCountdownChange = (p: Page, than: string) =>
  p.waitForFunction((old) => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null } }).document.getElementById('countdown')?.textContent?.trim() !== old, than, { timeout: WAIT_MS })

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
      await waitForCountdownChange(page, before)
      const after = await text(page, '#countdown')
      expect(after).not.toBe(before)
      // It counts down (9:4x only if the machine stalled for seconds: still a countdown).
      expect(after).toMatch(/^剩余 9:[45]\d/)
      expect(after < before).toBe(true)
      expect(await page.locator('#simulate').count()).toBe(0)
      await page.screenshot({ path: join(ARTIFACTS, 'bind-page-pending.png') })
      // It keeps polling while pending (however long that took on this machine).
      await until('two status polls', () => srv.stats.polls >= 2)
      expect(await bodyStatus(page)).toBe('pending')

      answer = 'bound'
      await waitForStatus(page, 'bound')
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
  }, TEST_MS)

  test('expired: after the countdown reaches 0 and a poll says expired, the QR goes away', async () => {
    // The server says expired only when the test says so (not after a wall-clock second, which a slow page
    // load could use up before the first look).
    let answer: Answer = 'pending'
    const srv = serve({ status: 'pending', label: 'Li Si', qrContent: QR_URL, secondsLeft: 1, pollMs: 300 }, () => answer)
    const { page, requests, problems, close } = await phonePage(browser)
    try {
      await page.goto(srv.url)
      expect(await text(page, '#countdown')).toMatch(/^剩余 0:0[01]/)
      await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document.querySelector('#countdown b')?.textContent === '0:00', undefined, { timeout: WAIT_MS })
      // At 0 the page asks the server at once, and the server decides: still pending, it stays pending.
      const polls = srv.stats.polls
      await until('a poll after the countdown reached 0', () => srv.stats.polls > polls)
      expect(await bodyStatus(page)).toBe('pending')
      answer = 'expired'
      await waitForStatus(page, 'expired')
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
  }, TEST_MS)

  test('demo: the simulate button POSTs and the page polls at once (no waiting for the next interval)', async () => {
    let answer: Answer = 'pending'
    const srv = serve({ status: 'pending', qrContent: QR_URL, secondsLeft: 300, pollMs: 60_000, simulateScanUrl: '/bind/x/simulate' }, () => answer, () => { answer = 'bound' })
    const { page, problems, close } = await phonePage(browser)
    try {
      await page.goto(srv.url)
      expect(await page.locator('#label').count()).toBe(0)
      await page.screenshot({ path: join(ARTIFACTS, 'bind-page-demo.png') })
      await page.locator('#simulate').click()
      // Well under the 60 s interval: the click made it poll at once.
      await waitForStatus(page, 'bound')
      expect(srv.stats.simulated).toBe(1)
      expect(await page.locator('#simulate').isHidden()).toBe(true)
      expect(problems).toEqual([])
    } finally {
      await close()
      srv.stop()
    }
  }, TEST_MS)

  test('a failing status endpoint (503) keeps the page pending and it recovers', async () => {
    let answer: Answer = 503
    const srv = serve({ status: 'pending', qrContent: QR_URL, secondsLeft: 300, pollMs: 200 }, () => answer)
    const { page, problems, close } = await phonePage(browser)
    try {
      await page.goto(srv.url)
      await until('three failed polls', () => srv.stats.polls >= 3)
      // 200 ms doubling on failure: after the first failure the page waits 400 ms, after the second 800 ms (not
      // a steady 200). A gap between two polls the server saw is at least the page's delay, however loaded the
      // machine (timers never fire early; a little slack for clock granularity).
      const [a, b, c] = srv.stats.pollAt as [number, number, number]
      expect(b - a).toBeGreaterThanOrEqual(400 - 15)
      expect(c - b).toBeGreaterThanOrEqual(800 - 15)
      expect(await bodyStatus(page)).toBe('pending')
      expect(await page.locator('#qr').isVisible()).toBe(true)
      answer = 'bound'
      await waitForStatus(page, 'bound')
      // Chromium logs each 503 as "Failed to load resource"; nothing else may appear.
      expect(problems.filter((p) => !p.includes('status of 503'))).toEqual([])
    } finally {
      await close()
      srv.stop()
    }
  }, TEST_MS)

  test('a code that disappeared (404 from the status route) stops polling and shows expired', async () => {
    let answer: Answer = 'pending'
    const srv = serve({ status: 'pending', qrContent: QR_URL, secondsLeft: 300, pollMs: 150 }, () => answer)
    const { page, close } = await phonePage(browser)
    try {
      await page.goto(srv.url)
      answer = 404
      await waitForStatus(page, 'expired')
      expect(await page.locator('#qr').isHidden()).toBe(true)
      const polls = srv.stats.polls
      await page.waitForTimeout(600)
      expect(srv.stats.polls).toBe(polls)
    } finally {
      await close()
      srv.stop()
    }
  }, TEST_MS)
})
