/**
 * @module Browser tests: Debian's system Chromium driven by playwright-core (never a downloaded browser), plus a
 * phone-sized page that records every request, console error, page error and CSP violation.
 */
import { existsSync } from 'node:fs'
import { type Browser, type Page, chromium } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'

export const launchBrowser = async (): Promise<Browser> => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`browser tests need ${CHROMIUM} and CJK fonts: install Debian's chromium and fonts-noto-cjk (apt-get install -y chromium fonts-noto-cjk)`)
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

export interface PhonePage {
  page: Page
  /** Every URL the page requested, in order. */
  requests: string[]
  /** Console errors, uncaught page errors and CSP violation reports. */
  problems: string[]
  close(): Promise<void>
}

/** An iPhone-12-sized page (390×844 CSS px, 2× pixels, touch) in a fresh context. */
export const phonePage = (browser: Browser): Promise<PhonePage> =>
  recordedPage(browser, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'zh-CN' })

/** A desktop page (1280×900) in a fresh context, recorded as phonePage's is. */
export const desktopPage = (browser: Browser): Promise<PhonePage> =>
  recordedPage(browser, { viewport: { width: 1280, height: 900 }, locale: 'zh-CN' })

const recordedPage = async (browser: Browser, options: Parameters<Browser['newContext']>[0]): Promise<PhonePage> => {
  const context = await browser.newContext(options)
  const page = await context.newPage()
  const requests: string[] = []
  const problems: string[] = []
  page.on('request', (r) => { requests.push(r.url()) })
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`) })
  page.on('pageerror', (e) => { problems.push(`pageerror: ${e.message}`) })
  // CSP violations also reach the console, but this catches ones Chromium reports only as events.
  // (A string, because the project's tsconfig has no DOM lib.)
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))`)
  return { page, requests, problems, close: () => context.close() }
}
