/**
 * @module The web console (SPEC §9): `/console/*`, served by the binary, signed in with an API key. Pages are
 * HTML (render.ts, pages.ts); changes are plain form POSTs carrying the session's CSRF token, answered with a
 * redirect back to the page (post/redirect/get), so a reload never repeats a change. For the team's network only:
 * the nginx recipe keeps /console off the public site, as it does /api.
 */
import { Elysia } from 'elysia'
import type { Deps } from '../../deps'
import { BindCodeInput } from '../../domain/bind.service'
import { isSignInRefusal, type ConsoleSession } from '../../domain/console-session.service'
import { parseScopes } from '../../domain/apikey.service'
import { AppError, ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../lib/errors'
import { CONSOLE_CSS, CONSOLE_JS } from './assets'
import { bindingsPage, keysPage, overviewPage, signInPage, type BindCodeShown } from './pages'
import { messagePage, messagesPage, STATUSES } from './pages-messages'
import { inboundPage, userInboundPage } from './pages-inbound'
import { webhookPage, webhooksPage } from './pages-webhooks'
import { channelsPage } from './pages-channels'
import type { MessageStatus } from '../../store/contract'
import { cookiesOf, field, fields, html, isHttps, langOf, LANG_COOKIE, redirect, safeBack, SESSION_COOKIE, sessionCookie } from './http'
import { esc, layout, tr, type Lang, type LayoutView } from './render'

/** A page of bindings; the next ones behind a link (the API's cursor). */
const BINDINGS_PER_PAGE = 100
const MESSAGES_PER_PAGE = 50

export const consoleRoutes = (deps: Deps) => {
  const { consoleSessions: sessions } = deps
  // Without WXGATE_PUBLIC_URL: the request's own origin, https when nginx says so (X-Forwarded-Proto).
  const publicBase = (request: Request) => (deps.config.WXGATE_PUBLIC_URL ?? new URL(request.url).origin.replace(/^http:/, isHttps(request) ? 'https:' : 'http:')).replace(/\/$/, '')

  /**
   * A change from another site is refused before anything else (SameSite=Strict and the CSRF token stop it too).
   * Host names are compared without their ports: behind nginx on a port other than 443 the browser's Origin carries
   * the port and nginx's `Host $host` does not; the CSRF token is what tells the console's own forms apart.
   */
  const hostname = (h: string | null) => (h ?? '').replace(/:\d+$/, '').toLowerCase()
  const sameOrigin = (request: Request) => {
    const origin = request.headers.get('origin')
    if (!origin || origin === 'null') return
    let from: string | undefined
    try { from = new URL(origin).hostname.toLowerCase() } catch { /* not a URL: refused below */ }
    if (from !== hostname(request.headers.get('x-forwarded-host') ?? request.headers.get('host'))) throw new ForbiddenError('a change from another site is refused')
  }

  const page = (request: Request, s: ConsoleSession, path: string, title: [string, string], body: string, status = 200) => {
    const q = new URL(request.url).searchParams
    const flash: LayoutView['flash'] = q.get('ok') ? { kind: 'ok', text: q.get('ok')! } : q.get('error') ? { kind: 'error', text: q.get('error')! } : undefined
    return html(layout({ lang: langOf(request), title, path, body, session: { name: s.principal.name, canChange: s.canChange, csrf: s.csrf }, ...(flash ? { flash } : {}) }), status)
  }

  /** A page for signed-in sessions; anyone else goes to the sign-in form (and comes back here after it). */
  const guarded = (handler: (ctx: { request: Request; session: ConsoleSession; lang: Lang; params: Record<string, string> }) => Promise<Response>) =>
    async ({ request, params }: { request: Request; params: Record<string, string> }) => {
      const session = await sessions.resolve(cookiesOf(request)[SESSION_COOKIE])
      if (!session) {
        const u = new URL(request.url)
        return redirect(`/console/login?next=${encodeURIComponent(u.pathname + u.search)}`, { 'set-cookie': sessionCookie(request, '', 0) })
      }
      try {
        return await handler({ request, session, lang: langOf(request), params })
      } catch (e) {
        // A bad cursor, an unknown channel or id: said in the page, not as the API's JSON.
        if (!(e instanceof AppError)) throw e
        const lang = langOf(request)
        return page(request, session, new URL(request.url).pathname, [tr(lang)('出错了', 'Something is wrong'), 'Something is wrong'], `<p class="flash error" role="alert">${esc(e.message)}</p><p><a href="/console">${tr(lang)('返回概览', 'Back to the overview')}</a></p>`, e.status)
      }
    }

  /**
   * A change: a signed-in session, the same origin, its CSRF token, and an admin key. Then the action, and back to
   * `back` with what happened (`ok` / `error` in the query: post/redirect/get). 403 for a missing or wrong CSRF token
   * or a read key, as SPEC §9 says.
   */
  const change = (back: string | ((p: Record<string, string>) => string), action: (ctx: { request: Request; session: ConsoleSession; body: unknown; lang: Lang; params: Record<string, string> }) => Promise<string | Response>) =>
    async ({ request, params, body }: { request: Request; params: Record<string, string>; body: unknown }) => {
      const lang = langOf(request)
      const session = await sessions.resolve(cookiesOf(request)[SESSION_COOKIE])
      if (!session) return redirect('/console/login')
      const to = typeof back === 'string' ? back : back(params)
      try {
        sameOrigin(request)
        sessions.checkChange(session, field(body, '_csrf') ?? request.headers.get('x-csrf-token') ?? undefined)
      } catch (e) {
        const t = tr(lang)
        return page(request, session, to, [t('不允许', 'Not allowed'), 'Not allowed'], `<p class="flash error" role="alert">${esc((e as Error).message)}</p><p><a href="${esc(to)}">${t('返回', 'Back')}</a></p>`, 403)
      }
      try {
        const r = await action({ request, session, body, lang, params })
        if (r instanceof Response) return r
        return redirect(`${to}${to.includes('?') ? '&' : '?'}ok=${encodeURIComponent(r)}`)
      } catch (e) {
        if (!(e instanceof AppError)) throw e
        return redirect(`${to}${to.includes('?') ? '&' : '?'}error=${encodeURIComponent(e.message)}`)
      }
    }

  const webhookView = async (request: Request, session: ConsoleSession, lang: Lang, id: string, secret?: { secret: string; previousSecretExpiresAt: string }) => {
    const w = await deps.webhooks.get(id).catch((e: unknown) => { if (e instanceof AppError && e.status === 404) return undefined; throw e })
    if (!w) return page(request, session, '/console/webhooks', ['Webhooks', 'Webhooks'], `<p class="flash error" role="alert">${tr(lang)('没有这个端点。', 'No such endpoint.')}</p>`, 404)
    const depth = (await deps.webhookDepth()).find((r) => r.endpointId === id)?.depth ?? 0
    const deliveries = (await deps.webhooks.deliveries(id, { limit: 30 })).items
    return page(request, session, '/console/webhooks', ['Webhooks', 'Webhooks'], webhookPage(lang, { w, depth, deliveries, canChange: session.canChange, csrf: session.csrf, ...(secret ? { secret } : {}) }))
  }

  // Every route of the console is a page or a form's target, not API: none is in the OpenAPI document.
  return new Elysia({ name: 'routes/console', detail: { hide: true } })
    .get('/console/assets/console.css', () => new Response(CONSOLE_CSS, { headers: { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' } }))
    .get('/console/assets/console.js', () => new Response(CONSOLE_JS, { headers: { 'content-type': 'application/javascript; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' } }))
    .get('/console/lang', ({ request }) => {
      const q = new URL(request.url).searchParams
      const to = q.get('to') === 'en' ? 'en' : 'zh'
      return redirect(safeBack(q.get('back')), { 'set-cookie': `${LANG_COOKIE}=${to}; Path=/console; Max-Age=31536000; SameSite=Strict` })
    })
    .get('/console/login', ({ request }) => {
      const lang = langOf(request)
      const next = new URL(request.url).searchParams.get('next') ?? undefined
      return html(layout({ lang, title: ['登录', 'Sign in'], path: '/console/login', body: signInPage(lang, { next: safeBack(next) }) }), 200)
    })
    // A sign-in link (`wxgate demo`): works once, then the sign-in form as usual.
    .get('/console/login/once/:once', ({ request, params }) => {
      const token = sessions.redeemLink(params.once)
      return token ? redirect('/console', { 'set-cookie': sessionCookie(request, token) }) : redirect('/console/login')
    })
    .post('/console/login', async ({ request, body }) => {
      const lang = langOf(request)
      const next = safeBack(field(body, 'next'))
      const t = tr(lang)
      // An opaque origin (a sandboxed frame, a data: page) could sign a browser into someone else's session.
      try { if (request.headers.get('origin') === 'null') throw new ForbiddenError('opaque origin'); sameOrigin(request) } catch {
        return html(layout({ lang, title: ['登录', 'Sign in'], path: '/console/login', body: signInPage(lang, { error: t('来自其他网站的登录请求被拒绝。', 'A sign-in posted from another site is refused.'), next }) }), 403)
      }
      try {
        const { token } = await sessions.signIn(field(body, 'key') ?? '')
        return redirect(next, { 'set-cookie': sessionCookie(request, token) })
      } catch (e) {
        if (!isSignInRefusal(e)) throw e
        const why = e.status === 401 ? t('密钥无效或已被吊销。', 'The key is wrong or revoked.') : t('这个密钥没有 read 或 admin 权限，不能登录控制台。', 'This key has neither the read nor the admin scope: it cannot open the console.')
        return html(layout({ lang, title: ['登录', 'Sign in'], path: '/console/login', body: signInPage(lang, { error: why, next }) }), e.status)
      }
    })
    .post('/console/logout', async ({ request, body }) => {
      const session = await sessions.resolve(cookiesOf(request)[SESSION_COOKIE])
      if (session) {
        try {
          sessions.checkChange({ ...session, canChange: true }, field(body, '_csrf'))
        } catch { return redirect('/console') }
        await sessions.signOut(session)
      }
      return redirect('/console/login', { 'set-cookie': sessionCookie(request, '', 0) })
    })

    .get('/console', guarded(async ({ request, session, lang }) => {
      const now = deps.clock.now()
      const depth = new Map((await deps.db.read.messages.outboxDepth()).map((r) => [r.channelId, r]))
      const since = now - 24 * 3600_000
      const sends = new Map<string, Record<string, number>>()
      for (const r of await deps.db.read.messages.countsSince(since)) (sends.get(r.channelId) ?? sends.set(r.channelId, {}).get(r.channelId)!)[r.status] = r.n
      const callbacks = new Map((await deps.db.read.inbound.countsSince(since)).map((r) => [r.channelId, r.n]))
      const base = publicBase(request)
      const channels = await Promise.all(deps.channels.list().map(async (c) => {
        let tokenStatus, tokenError
        try { tokenStatus = await deps.tokens.status(c.id) } catch (e) { tokenError = (e as Error).message }
        const d = depth.get(c.id)
        return {
          id: c.id, ...(c.name ? { name: c.name } : {}), appId: c.appId,
          serverUrl: c.id === deps.config.WXGATE_CHANNEL ? `${base}/wechat` : `${base}/wechat/${c.id}`,
          ...(session.canChange ? { token: c.token, aesKey: c.aesKey ?? '' } : {}),
          ...(tokenStatus ? { tokenStatus } : {}), ...(tokenError ? { tokenError } : {}),
          outbox: { depth: d?.depth ?? 0, oldestCreatedAt: d?.oldestCreatedAt ?? null },
          last24h: { sends: sends.get(c.id) ?? {}, callbacks: callbacks.get(c.id) ?? 0 },
        }
      }))
      const hookDepth = new Map((await deps.webhookDepth()).map((r) => [r.endpointId, r]))
      const webhooks = (await deps.webhooks.list()).map((w) => ({ id: w.id, url: w.url, enabled: !w.disabled, depth: hookDepth.get(w.id)?.depth ?? 0, oldestCreatedAt: hookDepth.get(w.id)?.oldestCreatedAt ?? null }))
      return page(request, session, '/console', ['概览', 'Overview'], overviewPage(lang, { channels, webhooks, now, canChange: session.canChange }))
    }))

    .get('/console/messages', guarded(async ({ request, session, lang }) => {
      const sp = new URL(request.url).searchParams
      const status = STATUSES.includes(sp.get('status') as MessageStatus) ? sp.get('status') as MessageStatus : undefined
      const subject = sp.get('subject')?.trim() || undefined
      const template = sp.get('template')?.trim() || undefined
      const cursor = sp.get('before') ?? undefined
      const list = await deps.send.list({ ...(status ? { status } : {}), ...(subject ? { subject } : {}), ...(template ? { templateId: template } : {}), limit: MESSAGES_PER_PAGE, ...(cursor ? { cursor } : {}) })
      const next = list.nextCursor ? `/console/messages?${new URLSearchParams({ ...(status ? { status } : {}), ...(subject ? { subject } : {}), ...(template ? { template } : {}), before: list.nextCursor })}` : undefined
      return page(request, session, '/console/messages', ['消息', 'Messages'], messagesPage(lang, { items: list.items, filters: { ...(status ? { status } : {}), ...(subject ? { subject } : {}), ...(template ? { template } : {}) }, ...(next ? { next } : {}) }))
    }))
    .get('/console/messages/:id', guarded(async ({ request, session, lang, params }) => {
      const tl = await deps.send.timeline(params.id!).catch((e: unknown) => { if (e instanceof AppError && e.status === 404) return undefined; throw e })
      if (!tl) return page(request, session, '/console/messages', ['消息', 'Messages'], `<p class="flash error" role="alert">${tr(lang)('没有这条消息。', 'No such message.')}</p>`, 404)
      return page(request, session, '/console/messages', ['消息', 'Message'], messagePage(lang, { m: tl.message, requestId: tl.requestId, attempts: tl.attempts, canChange: session.canChange, csrf: session.csrf }))
    }))
    .post('/console/messages/:id/again', change((p) => `/console/messages/${encodeURIComponent(p.id!)}`, async ({ session, params, lang }) => {
      const made = await deps.send.sendAgain(params.id!, { apiKeyId: session.principal.keyId })
      return redirect(`/console/messages/${encodeURIComponent(made.messageId)}?ok=${encodeURIComponent(tr(lang)('已作为新消息发送。', 'Sent again as a new message.'))}`)
    }))

    .get('/console/inbound', guarded(async ({ request, session, lang }) => {
      const sp = new URL(request.url).searchParams
      const openid = sp.get('openid')?.trim() || undefined
      const channel = sp.get('channel')?.trim() || undefined
      const cursor = sp.get('before') ?? undefined
      // WeChat's delivery reports (one per template message) are the messages page's business, not a conversation.
      const list = await deps.inbound.list({ ...(openid ? { openid } : {}), ...(channel ? { channel } : {}), limit: 50, ...(cursor ? { cursor } : {}) }, { withoutDeliveryReports: true })
      const items = list.items
      const next = list.next ? `/console/inbound?${new URLSearchParams({ ...(openid ? { openid } : {}), ...(channel ? { channel } : {}), before: list.next })}` : undefined
      if (!openid) return page(request, session, '/console/inbound', ['收到的消息', 'Inbound'], inboundPage(lang, { items, ...(next ? { next } : {}) }))
      const user = await deps.users.get(openid, channel)
      return page(request, session, '/console/inbound', ['收到的消息', 'Inbound'], userInboundPage(lang, { user, items, canChange: session.canChange, csrf: session.csrf, ...(next ? { next } : {}) }))
    }))
    .post('/console/inbound/:id/reply', change((p) => `/console/inbound/${encodeURIComponent(p.id!)}/user`, async ({ session, body, params, lang }) => {
      const content = field(body, 'content')?.trim() ?? ''
      if (!content) throw new ValidationError(tr(lang)('回复不能为空。', 'The reply is empty.'))
      await deps.send.reply(params.id!, { type: 'text', text: { content } }, { apiKeyId: session.principal.keyId })
      return tr(lang)('回复已进入发件箱。', 'The reply is in the outbox.')
    }))
    // Back to the user's page of an inbound message (after a reply).
    .get('/console/inbound/:id/user', guarded(async ({ request, params }) => {
      const m = await deps.inbound.get(params.id!)
      const q = new URL(request.url).search
      return redirect(`/console/inbound?${new URLSearchParams({ openid: m.openid, channel: m.channel })}${q ? `&${q.slice(1)}` : ''}`)
    }))

    .get('/console/webhooks', guarded(async ({ request, session, lang }) => {
      const depth = new Map((await deps.webhookDepth()).map((r) => [r.endpointId, r.depth]))
      const endpoints = (await deps.webhooks.list()).map((w) => ({ ...w, depth: depth.get(w.id) ?? 0 }))
      return page(request, session, '/console/webhooks', ['Webhooks', 'Webhooks'], webhooksPage(lang, { endpoints, canChange: session.canChange }))
    }))
    .get('/console/webhooks/:id', guarded(async ({ request, session, lang, params }) => webhookView(request, session, lang, params.id!)))
    .post('/console/webhooks/:id/test', change((p) => `/console/webhooks/${encodeURIComponent(p.id!)}`, async ({ params, lang }) => {
      const { eventId } = await deps.webhooks.test(params.id!)
      return tr(lang)(`测试事件 ${eventId} 已排队。`, `Test event ${eventId} queued.`)
    }))
    .post('/console/webhooks/:id/enable', change((p) => `/console/webhooks/${encodeURIComponent(p.id!)}`, async ({ params, lang }) => {
      await deps.webhooks.update(params.id!, { disabled: false })
      return tr(lang)('端点已重新启用。', 'The endpoint is enabled again.')
    }))
    .post('/console/webhooks/:id/rotate', change((p) => `/console/webhooks/${encodeURIComponent(p.id!)}`, async ({ request, session, lang, params }) => {
      const secret = await deps.webhooks.rotateSecret(params.id!)
      // The new secret is shown once, on this answer itself (never in a URL).
      return webhookView(request, session, lang, params.id!, secret)
    }))
    .post('/console/webhooks/deliveries/:id/retry', change(() => '/console/webhooks', async ({ request, params, lang }) => {
      await deps.webhooks.retry(params.id!)
      const endpoint = new URL(request.url).searchParams.get('endpoint')
      const ok = tr(lang)('已重新排队，稍后投递。', 'Queued again: it goes out in a moment.')
      return redirect(`/console/webhooks${endpoint ? `/${encodeURIComponent(endpoint)}` : ''}?ok=${encodeURIComponent(ok)}`)
    }))

    .get('/console/channels', guarded(async ({ request, session, lang }) =>
      page(request, session, '/console/channels', ['通道', 'Channels'], channelsPage(lang, { channels: deps.channels.list(), canChange: session.canChange, csrf: session.csrf }))))
    .post('/console/channels', change('/console/channels', async ({ body, lang }) => {
      const aesKey = field(body, 'aesKey')?.trim()
      const name = field(body, 'name')?.trim()
      const id = field(body, 'id')?.trim() ?? ''
      if (deps.channels.get(id)) throw new ConflictError(tr(lang)(`通道 ${id} 已存在：在它的卡片上修改，或换一个 id。`, `channel ${id} exists already: edit it on its card, or pick another id.`))
      const { created, channel } = await deps.channels.upsert({
        id, appId: field(body, 'appId')?.trim(), appSecret: field(body, 'appSecret'), token: field(body, 'token')?.trim() ?? '',
        ...(aesKey ? { aesKey } : {}), ...(name ? { name } : {}),
      })
      return tr(lang)(`通道 ${channel.id} 已${created ? '添加' : '更新'}。`, `Channel ${channel.id} ${created ? 'added' : 'updated'}.`)
    }))
    .post('/console/channels/:id', change('/console/channels', async ({ body, params, lang }) => {
      // Read from the database, not the cache: another instance or the CLI may have changed a secret meanwhile.
      await deps.channels.load()
      const c = deps.channels.get(params.id!)
      if (!c) throw new NotFoundError(`no channel '${params.id}'`)
      const text = (k: string) => field(body, k)?.trim() || undefined
      const name = text('name')
      // The secrets stay as they are: the form never carries them.
      await deps.channels.upsert({
        id: c.id, appId: c.appId, appSecret: c.appSecret, token: c.token, aesKey: c.aesKey, name: name ?? null,
        replies: { ...(text('bound') ? { bound: text('bound') } : {}), ...(text('alreadyUsed') ? { alreadyUsed: text('alreadyUsed') } : {}), ...(text('expired') ? { expired: text('expired') } : {}) },
      })
      return tr(lang)(`通道 ${c.id} 已保存。`, `Channel ${c.id} saved.`)
    }))
    .post('/console/channels/:id/doctor', change('/console/channels', async ({ request, session, lang, params }) => {
      if (!deps.channels.get(params.id!)) throw new NotFoundError(`no channel '${params.id}'`)
      // Loaded on first use: the checks are the CLI's (`wxgate doctor`), on this gateway's own deps.
      const { doctorChannel } = await import('../../doctor')
      const c = deps.channels.get(params.id!)!
      const url = `${publicBase(request)}/wechat${c.id === deps.config.WXGATE_CHANNEL ? '' : `/${c.id}`}`
      const result = await doctorChannel(deps, { channel: c.id, url, skipEnvChannel: true })
      return page(request, session, '/console/channels', ['通道', 'Channels'], channelsPage(lang, { channels: deps.channels.list(), canChange: session.canChange, csrf: session.csrf, doctor: { channel: c.id, ...result } }))
    }))

    .get('/console/keys', guarded(async ({ request, session, lang }) =>
      page(request, session, '/console/keys', ['API 密钥', 'API keys'], keysPage(lang, { keys: await deps.apiKeys.list(), csrf: session.csrf, canChange: session.canChange }))))
    .post('/console/keys', change('/console/keys', async ({ request, session, body, lang }) => {
      const created = await deps.apiKeys.create(field(body, 'name') ?? '', parseScopes(fields(body, 'scopes').length ? fields(body, 'scopes') : ['send']))
      // The key is shown once, on this answer itself (never in a URL): no redirect.
      return page(request, session, '/console/keys', ['API 密钥', 'API keys'], keysPage(lang, { keys: await deps.apiKeys.list(), csrf: session.csrf, canChange: true, created: { key: created.key, name: created.info.name } }))
    }))
    .post('/console/keys/:id/revoke', change('/console/keys', async ({ params, lang }) => {
      await deps.apiKeys.revoke(params.id!)
      return tr(lang)('密钥已吊销。', 'The key is revoked.')
    }))

    .get('/console/bindings', guarded(async ({ request, session, lang }) => {
      const sp = new URL(request.url).searchParams
      const q = sp.get('q')?.trim() || undefined
      const cursor = sp.get('after') ?? undefined
      let list = await deps.bind.listBindings({ ...(q ? { subject: q } : {}), limit: BINDINGS_PER_PAGE, ...(cursor ? { cursor } : {}) })
      if (q && list.items.length === 0 && !cursor) list = await deps.bind.listBindings({ openid: q, limit: BINDINGS_PER_PAGE })
      return page(request, session, '/console/bindings', ['绑定', 'Bindings'], bindingsPage(lang, {
        bindings: list.items, csrf: session.csrf, canChange: session.canChange, ...(q ? { q } : {}), channels: deps.channels.list().map((c) => c.id),
        ...(list.nextCursor ? { next: `/console/bindings?${new URLSearchParams({ ...(q ? { q } : {}), after: list.nextCursor })}` } : {}),
      }))
    }))
    .post('/console/bindcode', change('/console/bindings', async ({ request, session, body, lang }) => {
      const parsed = BindCodeInput.safeParse({ subject: field(body, 'subject'), ...(field(body, 'label') ? { label: field(body, 'label') } : {}), ...(field(body, 'channel') ? { channel: field(body, 'channel') } : {}) })
      if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`).join('; '))
      const input = parsed.data
      const c = await deps.bind.create(input, { bindUrlBase: publicBase(request) })
      const shown: BindCodeShown = { code: c.code, subject: c.subject, ...(c.label ? { label: c.label } : {}), qrContent: c.qr.url, statusUrl: `/bind/${encodeURIComponent(c.code)}/status`, bindUrl: c.bindUrl }
      const bindings = (await deps.bind.listBindings({ limit: BINDINGS_PER_PAGE })).items
      // The live code is on this answer itself (its QR code and status), as a created key is.
      return page(request, session, '/console/bindings', ['绑定', 'Bindings'], bindingsPage(lang, { bindings, csrf: session.csrf, canChange: true, created: shown, channels: deps.channels.list().map((x) => x.id) }))
    }))
    .post('/console/bindings/:id/delete', change('/console/bindings', async ({ params, lang }) => {
      await deps.bind.deleteBinding(params.id!)
      return tr(lang)('绑定已删除。', 'The binding is deleted.')
    }))
}
