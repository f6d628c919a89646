/**
 * Swagger UI at /docs in a real browser (Debian's Chromium, desktop viewport) against the real server:
 * it renders the operations from /docs/json with nothing but the server's own assets (a closed network
 * has no CDN), offers "Authorize" for the bearer scheme, and shows the request body of POST /api/send.
 * Screenshot: test-artifacts/docs.png.
 *
 * The page is opened under a host name (http://wxgate.internal) mapped onto the test server by request
 * interception, not at 127.0.0.1, because a deployment is reached by a name and Swagger UI treats
 * loopback specially in places (its online validator badge is skipped for localhost/127.0.0.1). Every
 * request to another origin is recorded and aborted: nothing leaves the machine, and a page that needs
 * a CDN fails the test.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { launchBrowser } from '../support/browser'
import { startTestServer, type TestServer } from '../support/server'

const ARTIFACTS = join(import.meta.dir, '..', '..', 'test-artifacts')
const ORIGIN = 'http://wxgate.internal'

let browser: Browser
let s: TestServer
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  s = await startTestServer()
  browser = await launchBrowser()
}, 30_000)
afterAll(async () => {
  await browser?.close()
  await s?.stop()
})

interface DocsPage {
  page: Page
  context: BrowserContext
  /** Every URL the page requested, in order (as the page saw it: under ORIGIN). */
  requests: string[]
  /** Requests to any other origin (aborted). */
  foreign: string[]
  /** Console errors and warnings, uncaught page errors, failed requests, answers >= 400. */
  problems: string[]
}

/** A 1280×900 page whose requests to ORIGIN are answered by the test server; any other origin is refused. */
const desktopPage = async (): Promise<DocsPage> => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })
  const page = await context.newPage()
  const requests: string[] = []
  const foreign: string[] = []
  const problems: string[] = []
  await context.route('**/*', async (route) => {
    const url = route.request().url()
    if (!url.startsWith(`${ORIGIN}/`)) {
      foreign.push(url)
      return route.abort('blockedbyclient')
    }
    const response = await route.fetch({ url: s.url + url.slice(ORIGIN.length) })
    return route.fulfill({ response })
  })
  page.on('request', (r) => { requests.push(r.url()) })
  page.on('requestfailed', (r) => { if (r.url().startsWith(`${ORIGIN}/`)) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`) })
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`) })
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`) })
  page.on('pageerror', (e) => { problems.push(`pageerror: ${e.message}`) })
  return { page, context, requests, foreign, problems }
}

/** The operation block of METHOD PATH in Swagger UI. */
const operation = (page: Page, method: string, path: string) =>
  page.locator(`.opblock.opblock-${method.toLowerCase()}`).filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) })

describe('/docs in Chromium (desktop viewport)', () => {
  test('Swagger UI renders every operation offline, offers Authorize, and shows the body of POST /api/send', async () => {
    const { page, context, requests, foreign, problems } = await desktopPage()
    try {
      const res = await page.goto(`${ORIGIN}/docs`)
      expect(res?.status()).toBe(200)
      // Rendered: the operations from /docs/json are on the page.
      await page.locator('.opblock').first().waitFor({ state: 'visible', timeout: 10_000 })
      await page.waitForLoadState('networkidle')

      const spec = (await (await fetch(`${s.url}/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> }
      const documented = Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      const shown = await page.locator('.opblock').evaluateAll((els) => els.map((el) => {
        const e = el as unknown as { querySelector(s: string): { textContent: string | null; getAttribute(a: string): string | null } | null }
        return `${e.querySelector('.opblock-summary-method')?.textContent?.trim()} ${e.querySelector('.opblock-summary-path')?.getAttribute('data-path')}`
      }))
      expect(shown.sort()).toEqual(documented.sort())
      for (const [method, path] of [['POST', '/api/send'], ['POST', '/api/bindcode'], ['GET', '/api/messages/{messageId}']] as const) {
        expect(await operation(page, method, path).count()).toBe(1)
      }

      // Swagger UI could read the spec (otherwise it shows an error box instead of operations).
      expect(await page.locator('.errors-wrapper').count()).toBe(0)
      expect(await page.locator('.info .title').textContent()).toContain('wxgate')

      // "Authorize" for the bearer scheme: the button, and the scheme in its dialog.
      const authorize = page.locator('.auth-wrapper button.authorize')
      await authorize.waitFor({ state: 'visible' })
      await authorize.click()
      const dialog = page.locator('.modal-ux')
      await dialog.waitFor({ state: 'visible' })
      expect(await dialog.textContent()).toMatch(/bearer\s*\(http, Bearer\)/)
      expect(await dialog.locator('input[type="text"], input[type="password"]').count()).toBeGreaterThan(0)
      await dialog.locator('button.close-modal').click()
      await dialog.waitFor({ state: 'detached' })

      // Expand POST /api/send: the request body (application/json) with its example and its schema.
      // (A schema Swagger UI cannot resolve, such as zod's `#/$defs/…` references, shows as just "string".)
      const send = operation(page, 'POST', '/api/send')
      await send.locator('.opblock-summary-control').click()
      const body = send.locator('.opblock-section-request-body')
      await body.waitFor({ state: 'visible' })
      expect(await body.textContent()).toContain('application/json')
      const example = await body.locator('.highlight-code, .microlight').first().textContent()
      for (const field of ['"to"', '"templateId"', '"data"']) expect(example).toContain(field)
      expect(example).toContain('充值资金入账审核拒绝')
      await body.getByText('Schema', { exact: true }).click()
      const schema = body.locator('.model-box')
      await schema.first().waitFor({ state: 'visible' })
      // A union (a template or a customer-service message): expanded, its options by name, each with its fields.
      const expand = body.getByText('Expand all', { exact: true }).first()
      if (await expand.count()) await expand.click()
      const text = await schema.first().textContent()
      expect(text).toContain('Template message')
      expect(text).toContain('templateId')
      expect(text).toContain('Customer-service text')
      await body.getByText('Example Value', { exact: true }).click()
      await send.scrollIntoViewIfNeeded()
      await page.screenshot({ path: join(ARTIFACTS, 'docs.png') })

      // Offline: the page, its assets and the spec all came from the server; nothing from a CDN.
      expect(foreign).toEqual([])
      expect(requests.every((u) => u.startsWith(`${ORIGIN}/`))).toBe(true)
      expect(requests).toContain(`${ORIGIN}/docs/assets/swagger-ui-bundle.js`)
      expect(requests).toContain(`${ORIGIN}/docs/assets/swagger-ui.css`)
      expect(requests).toContain(`${ORIGIN}/docs/json`)
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  }, 30_000)
})
