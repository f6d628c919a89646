/**
 * The console in real Chromium (Debian's, playwright-core) against the real server and the sandbox WeChat: sign in,
 * each built page's main flow (create a bind code and watch it turn 已绑定 after a sandbox scan; create and revoke a
 * key), a read key without any form, a revoked key's session ending, a phone viewport without horizontal scrolling,
 * and no request to another origin nor any CSP violation on any page. Screenshots go to test-artifacts/console-*.png.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { DEMO_ACCOUNT, startSandbox, type Sandbox } from '../../src/sandbox'
import { desktopPage, launchBrowser, phonePage } from '../support/browser'
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server'

const ARTIFACTS = join(import.meta.dir, '..', '..', 'test-artifacts')
const PAGES = ['/console', '/console/bindings', '/console/messages', '/console/inbound', '/console/webhooks', '/console/channels', '/console/keys']

let browser: Browser
let sb: Sandbox
let s: TestServer
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  sb = await startSandbox()
  s = await startTestServer({ env: { WXGATE_WECHAT_API: sb.url } })
  await s.deps.channels.upsert({ id: 'demo', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken', name: '某某科技服务号' })
  sb.setCallback(DEMO_ACCOUNT.appId, { url: `${s.url}/wechat/demo`, token: 'demotoken' })
  browser = await launchBrowser()
}, 30_000)
afterAll(async () => {
  await browser?.close()
  await s?.stop()
  await sb?.stop()
})

const signIn = async (page: Page, key: string) => {
  await page.goto(`${s.url}/console`)
  expect(page.url()).toContain('/console/login')
  await page.fill('input[name=key]', key)
  await page.click('button[type=submit]')
  await page.waitForURL(`${s.url}/console`)
}

/** Nothing wider than the viewport: the page never scrolls sideways (tables scroll inside their own box). */
const noSidewaysScroll = async (page: Page) => {
  const [scroll, client] = await page.evaluate('[document.documentElement.scrollWidth, document.documentElement.clientWidth]') as [number, number]
  expect(scroll).toBeLessThanOrEqual(client)
}

describe('console in Chromium', () => {
  test('sign in, then every page on a phone: no sideways scroll, nothing from another origin, no CSP violation; screenshots', async () => {
    const { page, requests, problems, close } = await phonePage(browser)
    try {
      await signIn(page, ADMIN_TOKEN)
      expect(await page.locator('h1').textContent()).toBe('概览')
      for (const path of PAGES) {
        await page.goto(`${s.url}${path}`)
        await noSidewaysScroll(page)
        await page.screenshot({ path: join(ARTIFACTS, `console-phone${path.replaceAll('/', '-')}.png`), fullPage: true })
      }
      // English one click away, and back.
      await page.click('a.lang')
      expect(await page.locator('h1').textContent()).toBe('API keys')
      await page.screenshot({ path: join(ARTIFACTS, 'console-phone-keys-en.png'), fullPage: true })
      await page.click('a.lang')
      expect(await page.locator('h1').textContent()).toBe('API 密钥')
      const origin = new URL(s.url).origin
      expect(requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:'))).toEqual([])
      expect(problems).toEqual([])
    } finally {
      await close()
    }
  }, 60_000)

  test('bindings: create a bind code, watch it turn 已绑定 after the sandbox scan; the binding is listed', async () => {
    const { page, problems, close } = await desktopPage(browser)
    try {
      await signIn(page, ADMIN_TOKEN)
      await page.goto(`${s.url}/console/bindings`)
      expect(await page.locator('main').textContent()).toContain('还没有绑定')
      await page.fill('input[name=subject]', 'u-console-1')
      await page.fill('input[name=label]', '李四 (ERP)')
      await page.selectOption('select[name=channel]', 'demo')
      await page.click('form[action="/console/bindcode"] button[type=submit]')
      await page.locator('#bind-qr svg').waitFor({ state: 'visible' })
      expect(await page.locator('#bind-status').textContent()).toBe('等待扫码')
      await page.screenshot({ path: join(ARTIFACTS, 'console-desktop-bindcode-pending.png'), fullPage: true })
      const code = new URL((await page.locator('#bind-url').getAttribute('href'))!).pathname.split('/').pop()!
      await sb.scan({ scene: code, appId: DEMO_ACCOUNT.appId, openid: 'o_console_scan' })
      await page.locator('#bind-status[data-state=bound]').waitFor({ timeout: 10_000 })
      expect(await page.locator('#bind-status').textContent()).toBe('已绑定')
      expect(await page.locator('#bind-qr').isHidden()).toBe(true)
      await page.screenshot({ path: join(ARTIFACTS, 'console-desktop-bindcode-bound.png'), fullPage: true })
      await page.goto(`${s.url}/console/bindings?q=u-console-1`)
      expect(await page.locator('table').textContent()).toContain('o_console_scan')
      expect(problems).toEqual([])
    } finally {
      await close()
    }
  }, 60_000)

  test('messages: find a failed message, read its timeline (the errcode and what it means), send it again', async () => {
    // A template message to a user WeChat does not know: errcode 40003, a permanent failure.
    const sent = await fetch(`${s.url}/api/send?wait=true`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'demo', openids: ['o_nobody_here'], templateId: 'TPL_DEMO_ORDER_PAID', data: { thing1: '巧克力', amount2: '¥39.80', time3: '2026年11月24日 15:01' } }),
    })
    expect(sent.status).toBe(200)
    const { page, problems, close } = await phonePage(browser)
    try {
      await signIn(page, ADMIN_TOKEN)
      await page.goto(`${s.url}/console/messages`)
      await page.selectOption('select[name=status]', 'failed')
      await page.click('form[action="/console/messages"] button[type=submit]')
      await page.waitForURL(/status=failed/)
      const row = page.locator('tbody tr', { hasText: 'o_nobody_here' })
      expect(await row.textContent()).toContain('40003')
      await row.locator('a').click()
      await page.waitForURL(/\/console\/messages\/msg_/)
      const timeline = (await page.locator('.timeline').textContent())!
      expect(timeline).toContain('API 请求被接受')
      expect(timeline).toContain('第1 次调用微信')
      expect(timeline).toContain('errcode 40003')
      // Said in Chinese, what it means.
      expect(timeline).toContain('openid 无效')
      await noSidewaysScroll(page)
      await page.screenshot({ path: join(ARTIFACTS, 'console-phone-message-timeline.png'), fullPage: true })
      page.once('dialog', (d) => void d.accept())
      await page.click('form[action$="/again"] button')
      await page.waitForURL(/ok=/)
      expect(await page.locator('.flash.ok').textContent()).toContain('已作为新消息发送')
      expect(await page.locator('.timeline').textContent()).toContain('o_nobody_here')
      // The same failed message a second time (a second tab, a double click): refused, nothing sent twice.
      await page.goBack()
      page.once('dialog', (d) => void d.accept())
      await page.click('form[action$="/again"] button')
      await page.waitForURL(/error=/)
      expect(await page.locator('.flash.error').textContent()).toContain('sent again already')
      expect(problems).toEqual([])
    } finally {
      await close()
    }
  }, 60_000)

  test('inbound: a user\'s message, their window, and a reply from the box that reaches them', async () => {
    const openid = 'o_demo_user_0001'
    const r = await sb.userSends({ appId: DEMO_ACCOUNT.appId, openid, text: '你好，订单什么时候到？' })
    expect(r.status).toBe(200)
    const { page, problems, close } = await phonePage(browser)
    try {
      await signIn(page, ADMIN_TOKEN)
      await page.goto(`${s.url}/console/inbound`)
      const row = page.locator('tbody tr', { hasText: '你好，订单什么时候到？' })
      await row.locator('a').click()
      await page.waitForURL(/openid=/)
      expect(await page.locator('main').textContent()).toContain('开启')
      await page.fill('input[name=content]', '您好，今天发货')
      await page.click('form[action$="/reply"] button[type=submit]')
      await page.waitForURL(/ok=/)
      expect(await page.locator('.flash.ok').textContent()).toContain('回复已进入发件箱')
      await noSidewaysScroll(page)
      await page.screenshot({ path: join(ARTIFACTS, 'console-phone-inbound-user.png'), fullPage: true })
      // The outbox sends it to the sandbox user as a customer-service message.
      const got = async () => sb.customMessages(DEMO_ACCOUNT.appId).some((m) => JSON.stringify(m).includes('您好，今天发货'))
      for (let i = 0; i < 100 && !(await got()); i++) await Bun.sleep(50)
      expect(await got()).toBe(true)
      expect(problems).toEqual([])
    } finally {
      await close()
    }
  }, 60_000)

  test('webhooks: a test event answered 410 fails and disables the endpoint; enabled again, the failed delivery is retried and delivered', async () => {
    let answer = 410
    const got: string[] = []
    const rx = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: async (r) => { got.push(r.headers.get('webhook-id') ?? ''); await r.text(); return new Response(null, { status: answer }) } })
    const hook = await s.deps.webhooks.create({ url: `http://127.0.0.1:${rx.port}/hook`, events: ['*'], description: 'console test receiver' })
    const { page, problems, close } = await phonePage(browser)
    try {
      await signIn(page, ADMIN_TOKEN)
      await page.goto(`${s.url}/console/webhooks`)
      await page.click(`a[href="/console/webhooks/${hook.id}"]`)
      await page.click('form[action$="/test"] button')
      await page.waitForURL(/ok=/)
      for (let i = 0; i < 100 && got.length === 0; i++) await Bun.sleep(50)
      for (let i = 0; i < 100 && !(await s.deps.webhooks.get(hook.id)).disabled; i++) await Bun.sleep(50)
      await page.goto(`${s.url}/console/webhooks/${hook.id}`)
      expect(await page.locator('main').textContent()).toContain('已停用')
      expect(await page.locator('tbody').textContent()).toContain('HTTP 410')
      await page.screenshot({ path: join(ARTIFACTS, 'console-phone-webhook-failed.png'), fullPage: true })
      answer = 204
      await page.click('form[action$="/enable"] button')
      await page.waitForURL(/ok=/)
      await page.click('form[action*="/retry"] button')
      await page.waitForURL(/ok=/)
      for (let i = 0; i < 100 && got.length < 2; i++) await Bun.sleep(50)
      expect(got.length).toBe(2)
      // Sent again with the same webhook-id.
      expect(got[1]).toBe(got[0])
      for (let i = 0; i < 50; i++) {
        await page.goto(`${s.url}/console/webhooks/${hook.id}`)
        if ((await page.locator('tbody').textContent())!.includes('已投递')) break
        await Bun.sleep(100)
      }
      expect(await page.locator('tbody').textContent()).toContain('已投递')
      await noSidewaysScroll(page)
      // Rotate: the new secret is shown once.
      page.once('dialog', (d) => void d.accept())
      await page.click('form[action$="/rotate"] button')
      expect((await page.locator('#new-secret').textContent())!.trim()).toStartWith('whsec_')
      expect(problems).toEqual([])
    } finally {
      await close()
      await s.deps.webhooks.remove(hook.id)
      await rx.stop(true)
    }
  }, 60_000)

  test('channels: edit the bind reply, run doctor on the sandbox account (its lines), add a channel', async () => {
    const { page, problems, close } = await phonePage(browser)
    try {
      await signIn(page, ADMIN_TOKEN)
      await page.goto(`${s.url}/console/channels`)
      const demo = page.locator('section.card', { hasText: '某某科技服务号' })
      await demo.locator('input[name=bound]').fill('绑定成功！欢迎使用 CRM 通知')
      await demo.locator('form[action="/console/channels/demo"] button[type=submit]').click()
      await page.waitForURL(/ok=/)
      expect(s.deps.channels.get('demo')!.replies.bound).toBe('绑定成功！欢迎使用 CRM 通知')
      // The secrets were kept as they were.
      expect(s.deps.channels.get('demo')!.token).toBe('demotoken')
      await page.locator('section.card', { hasText: '某某科技服务号' }).locator('form[action$="/doctor"] button').click()
      const lines = (await page.locator('#doctor pre').textContent())!
      expect(lines).toContain('ok   appid/appsecret')
      expect(lines).toContain('ok   callback url')
      expect(lines).not.toContain('demotoken')
      await noSidewaysScroll(page)
      await page.screenshot({ path: join(ARTIFACTS, 'console-phone-channels-doctor.png'), fullPage: true })
      await page.goto(`${s.url}/console/channels`)
      await page.fill('form[action="/console/channels"] input[name=id]', 'shop')
      await page.fill('form[action="/console/channels"] input[name=appId]', 'wx1234567890abcdef')
      await page.fill('form[action="/console/channels"] input[name=appSecret]', 'shop-secret-value')
      await page.fill('form[action="/console/channels"] input[name=token]', 'shoptoken')
      await page.click('form[action="/console/channels"] button[type=submit]')
      await page.waitForURL(/ok=/)
      expect(await page.locator('.flash.ok').textContent()).toContain('通道 shop 已添加')
      expect(s.deps.channels.get('shop')?.appId).toBe('wx1234567890abcdef')
      expect(problems).toEqual([])
    } finally {
      await close()
    }
  }, 60_000)

  test('the keyboard alone: sign in, move through the menu and open a page (Tab, Enter); focus is visible', async () => {
    const { page, problems, close } = await desktopPage(browser)
    try {
      await page.goto(`${s.url}/console/login`)
      // The key field has the focus from the start (autofocus); Enter submits.
      await page.keyboard.type(ADMIN_TOKEN)
      await page.keyboard.press('Enter')
      await page.waitForURL(`${s.url}/console`)
      // Tab through the header into the menu until the messages link has the focus, then open it.
      let focused = ''
      for (let i = 0; i < 12 && focused !== '/console/messages'; i++) {
        await page.keyboard.press('Tab')
        focused = await page.evaluate('document.activeElement && document.activeElement.getAttribute("href") || ""') as string
      }
      expect(focused).toBe('/console/messages')
      const outline = await page.evaluate('getComputedStyle(document.activeElement).outlineStyle') as string
      expect(outline).not.toBe('none')
      await page.keyboard.press('Enter')
      await page.waitForURL(`${s.url}/console/messages`)
      expect(await page.locator('h1').textContent()).toBe('消息')
      expect(problems).toEqual([])
    } finally {
      await close()
    }
  }, 60_000)

  test('keys: create one (shown once) and revoke it; a read key sees no form; its session ends when revoked', async () => {
    const admin = await phonePage(browser)
    const viewer = await phonePage(browser)
    try {
      await signIn(admin.page, ADMIN_TOKEN)
      await admin.page.goto(`${s.url}/console/keys`)
      await admin.page.fill('input[name=name]', 'viewer-for-test')
      await admin.page.uncheck('input[name=scopes][value=send]')
      await admin.page.check('input[name=scopes][value=read]')
      await admin.page.click('form[action="/console/keys"] button[type=submit]')
      const key = (await admin.page.locator('#new-key').textContent())!.trim()
      expect(key).toStartWith('wxg_')
      await admin.page.screenshot({ path: join(ARTIFACTS, 'console-phone-key-created.png'), fullPage: true })

      await signIn(viewer.page, key)
      await viewer.page.goto(`${s.url}/console/keys`)
      expect(await viewer.page.locator('.badge').first().textContent()).toBe('只读')
      expect(await viewer.page.locator('form[action="/console/keys"]').count()).toBe(0)
      expect(await viewer.page.locator('form[action$="/revoke"]').count()).toBe(0)
      await viewer.page.goto(`${s.url}/console/bindings`)
      expect(await viewer.page.locator('form[action="/console/bindcode"]').count()).toBe(0)
      // On every page: no form that changes anything (only sign-out, and the GET filters).
      for (const path of PAGES) {
        await viewer.page.goto(`${s.url}${path}`)
        const changing = await viewer.page.locator('form[method=post]:not([action="/console/logout"])').count()
        expect({ path, changing }).toEqual({ path, changing: 0 })
      }

      // The admin revokes it (the confirmation is accepted); the viewer's next page is the sign-in form.
      await admin.page.goto(`${s.url}/console/keys`)
      admin.page.once('dialog', (d) => void d.accept())
      const row = admin.page.locator('tr', { hasText: 'viewer-for-test' })
      await row.locator('button.danger').click()
      await admin.page.waitForURL(/ok=/)
      expect(await admin.page.locator('tr', { hasText: 'viewer-for-test' }).textContent()).toContain('已吊销')
      await viewer.page.goto(`${s.url}/console/keys`)
      expect(viewer.page.url()).toContain('/console/login')
      expect(admin.problems).toEqual([])
      expect(viewer.problems).toEqual([])
    } finally {
      await admin.close()
      await viewer.close()
    }
  }, 60_000)
})
