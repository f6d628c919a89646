/**
 * The whole bind flow in a real browser against the real server and the sandbox WeChat: the bind page
 * shows the QR code of WeChat's qr.url as inline SVG, and turns to 已绑定 by itself when the sandbox
 * delivers the scan event, as a phone would cause it. Screenshots go to test-artifacts/.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { qrSvg } from '../../src/http/bind-page'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { launchBrowser, phonePage } from '../support/browser'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

const ARTIFACTS = join(import.meta.dir, '..', '..', 'test-artifacts')
type PageGlobal = { document: { body: { dataset: Record<string, string | undefined> } } }
const waitForStatus = (p: Page, s: string) =>
  p.waitForFunction((want) => (globalThis as unknown as PageGlobal).document.body.dataset.status === want, s, { timeout: 8000 })

let browser: Browser
let sb: Sandbox
let s: TestServer
let demo: TestServer
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  sb = await startSandbox()
  s = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url } })
  // The same gateway set-up as `wxgate demo`: the page gets a button that makes the sandbox scan.
  demo = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url }, simulateScan: (code) => sb.scan({ scene: code, appId: DEMO_ACCOUNT.appId, openid: 'o_demo_button' }) })
  for (const server of [s, demo]) await server.deps.channels.upsert({ id: 'demo', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken', name: '某某科技服务号' })
  browser = await launchBrowser()
}, 30_000)
afterAll(async () => {
  await browser?.close()
  await Promise.all([s?.stop(), demo?.stop()])
  await sb?.stop()
})

const createCode = async (server: TestServer, body: Record<string, unknown>) => {
  const res = await fetch(`${server.url}/api/bindcode`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'demo', ...body }) })
  expect(res.status).toBe(201)
  return res.json() as Promise<{ code: string; bindUrl: string; qr: { ticket: string; url: string } }>
}

describe('bind page on the real server (Chromium, phone viewport)', () => {
  test('shows the SVG QR code of qr.url, then flips to 已绑定 after the sandbox delivers the scan', async () => {
    sb.setCallback(DEMO_ACCOUNT.appId, { url: `${s.url}/wechat/demo`, token: 'demotoken' })
    const c = await createCode(s, { subject: 'u-42', label: '张三 (CRM)' })
    const { page, requests, problems, close } = await phonePage(browser)
    try {
      await page.goto(c.bindUrl)
      const qr = page.locator('svg#qr')
      await qr.waitFor({ state: 'visible' })
      // The modules drawn are those of WeChat's qr.url (the path our renderer makes of it).
      const drawn = await qr.locator('path').getAttribute('d')
      expect(drawn).toBe(/ d="([^"]+)"/.exec(qrSvg(c.qr.url))![1]!)
      expect(await page.locator('#label').textContent()).toContain('张三 (CRM)')
      expect(await page.locator('body').textContent()).toContain('关注「某某科技服务号」并完成绑定')
      expect(await page.locator('#countdown').textContent()).toMatch(/剩余 (30:00|29:5\d)/)
      await page.screenshot({ path: join(ARTIFACTS, 'bind-flow-pending.png') })

      const scan = await sb.scan({ ticket: c.qr.ticket, openid: 'o_browser_user' })
      expect(scan).toMatchObject({ sent: true, event: 'subscribe', status: 200, replyText: '绑定成功' })
      await waitForStatus(page, 'bound')
      expect((await page.locator('#status').textContent())?.trim()).toBe('已绑定 / bound')
      expect(await qr.isHidden()).toBe(true)
      await page.screenshot({ path: join(ARTIFACTS, 'bind-flow-bound.png') })

      const api = (await (await fetch(`${s.url}/api/bindcode/${c.code}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { status: string; openid: string }
      expect(api).toMatchObject({ status: 'bound', openid: 'o_browser_user' })
      expect(requests.every((u) => u.startsWith(`${s.url}/`))).toBe(true)
      expect(problems).toEqual([])
    } finally {
      await close()
    }
  }, 20_000)

  test('demo mode: the 模拟扫码 button makes the sandbox scan, and the page flips to bound', async () => {
    sb.setCallback(DEMO_ACCOUNT.appId, { url: `${demo.url}/wechat/demo`, token: 'demotoken' })
    const c = await createCode(demo, { subject: 'demo-user' })
    const { page, problems, close } = await phonePage(browser)
    try {
      await page.goto(c.bindUrl)
      await page.locator('#simulate').click()
      await waitForStatus(page, 'bound')
      await page.screenshot({ path: join(ARTIFACTS, 'bind-flow-demo-bound.png') })
      const list = (await (await fetch(`${demo.url}/api/bindings?subject=demo-user`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { items: { openid: string }[] }
      expect(list.items.map((b) => b.openid)).toEqual(['o_demo_button'])
      expect(problems).toEqual([])
    } finally {
      await close()
    }
  }, 20_000)
})

describe('bind page routes', () => {
  test('an unknown code is a 404 page in the same style; its status route is a 404 JSON error', async () => {
    const res = await fetch(`${s.url}/bind/no-such-code`)
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(await res.text()).toContain('二维码不存在')
    const st = await fetch(`${s.url}/bind/no-such-code/status`)
    expect(st.status).toBe(404)
    expect(((await st.json()) as { error: { code: string } }).error.code).toBe('not_found')
  })

  test('the status route reveals the status and nothing else; the page carries a nonce CSP and no-store', async () => {
    const c = await createCode(s, { subject: 'secret-subject', label: 'Secret Label' })
    const st = await fetch(`${s.url}/bind/${c.code}/status`)
    expect(st.headers.get('cache-control')).toBe('no-store')
    expect(await st.json()).toEqual({ status: 'pending' })
    const page = await fetch(c.bindUrl)
    const csp = page.headers.get('content-security-policy')!
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!
    expect(await page.text()).toContain(`<script nonce="${nonce}">`)
    // A new nonce on every load.
    expect((await fetch(c.bindUrl)).headers.get('content-security-policy')).not.toBe(csp)
    // Not in demo mode: no simulate route, no button.
    expect((await fetch(`${s.url}/bind/${c.code}/simulate-scan`, { method: 'POST' })).status).toBe(404)
    expect(await (await fetch(c.bindUrl)).text()).not.toContain('id="simulate"')
  })
})
