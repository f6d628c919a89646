/**
 * @module startSandbox: a real HTTP server on loopback that imitates api.weixin.qq.com for tests and
 * `wxgate demo`. Each call is read, recorded, then put through injections and latency, then answered by
 * its endpoint module; `/_sandbox/` is the control API and is neither recorded nor delayed.
 */
import { systemClock } from '../lib/clock'
import { CONTROL_PREFIX, handleControl } from './control'
import { customMessages, handleCustomSend, handleCustomTyping, receivedBy } from './custom'
import { activeRule, takeRule, wait } from './injections'
import { addMedia, handleMediaGet, handleMediaUpload, mediaOf, resetMedia } from './media'
import { handleQrCreate, handleShowQrcode, qrScene } from './qrcode'
import { handleClearQuota, handleClearQuotaV2 } from './quota'
import { accountOrThrow, createSandboxState, type FormFile, resetState, type SandboxRequest, type SandboxState } from './sandbox.state'
import { scan, setCallback } from './scan'
import { DEMO_ACCOUNT, DEMO_TEMPLATE_LIST, type Sandbox, type SandboxOptions } from './sandbox.types'
import { finishSettings, scheduleTemplateFinish } from './template-finish'
import { addTemplate, deliveredMessages, handleTemplateList, handleTemplateSend } from './templates'
import { currentStableToken, expireTokens, forceRefreshesToday, handleStableToken, handleToken, revokeTokens } from './tokens'
import { userSends } from './user-send'
import { addUser, handleUserInfo, setSubscribed } from './users'
import { httpText, jsonText, wxError } from './wx-reply'

type Handler = (state: SandboxState, req: SandboxRequest) => Response

/** Paths exactly as WeChat's. Each handler checks its own method, as WeChat answers 43002 in-band. */
const ROUTES: ReadonlyMap<string, Handler> = new Map([
  ['/cgi-bin/stable_token', handleStableToken],
  ['/cgi-bin/token', handleToken],
  ['/cgi-bin/clear_quota', handleClearQuota],
  ['/cgi-bin/clear_quota/v2', handleClearQuotaV2],
  ['/cgi-bin/message/template/send', handleTemplateSend],
  ['/cgi-bin/message/custom/send', handleCustomSend],
  ['/cgi-bin/message/custom/typing', handleCustomTyping],
  ['/cgi-bin/template/get_all_private_template', handleTemplateList],
  ['/cgi-bin/qrcode/create', handleQrCreate],
  ['/cgi-bin/showqrcode', handleShowQrcode],
  ['/cgi-bin/user/info', handleUserInfo],
  ['/cgi-bin/media/upload', handleMediaUpload],
  ['/cgi-bin/media/get', handleMediaGet],
])

const readRequest = async (request: Request): Promise<SandboxRequest> => {
  const url = new URL(request.url)
  if (request.method === 'POST' && request.headers.get('content-type')?.startsWith('multipart/form-data')) {
    // Binary parts must not go through text(); the form is read whole (the sandbox is not size-hardened).
    const read = await request.formData().catch(() => undefined)
    const form = new Map<string, string | FormFile>()
    for (const [k, v] of read?.entries() ?? []) {
      form.set(k, typeof v === 'string' ? v : { filename: v.name, contentType: v.type, bytes: new Uint8Array(await v.arrayBuffer()) })
    }
    return { method: request.method, path: url.pathname, query: Object.fromEntries(url.searchParams), rawBody: '', json: undefined, jsonOk: false, ...(read ? { form } : {}) }
  }
  const rawBody = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text()
  let json: unknown
  let jsonOk = false
  if (rawBody.trim() !== '') {
    try {
      json = JSON.parse(rawBody)
      jsonOk = true
    } catch {
      // Not JSON: endpoints that need JSON answer 47001, as WeChat does.
    }
  }
  return { method: request.method, path: url.pathname, query: Object.fromEntries(url.searchParams), rawBody, json, jsonOk }
}

/** How a multipart call is recorded: text fields as they are, files by name, type and size. */
const formSummary = (req: SandboxRequest): Record<string, unknown> =>
  Object.fromEntries([...req.form!.entries()].map(([k, v]) => [k, typeof v === 'string' ? v : { filename: v.filename, contentType: v.contentType, bytes: v.bytes.byteLength }]))

const notFound = (): Response => new Response('404 page not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } })

export const startSandbox = async (opts: SandboxOptions = {}): Promise<Sandbox> => {
  const accounts = opts.accounts ?? [DEMO_ACCOUNT]
  if (accounts.length === 0) throw new Error('sandbox: at least one account is needed')
  const state = createSandboxState({
    clock: opts.clock ?? systemClock,
    random: opts.random ?? Math.random,
    ttlSeconds: opts.tokenTtlSeconds ?? 7200,
    accounts,
  })
  if (state.accounts.has(DEMO_ACCOUNT.appId)) for (const { templateId, ...init } of DEMO_TEMPLATE_LIST) addTemplate(state, DEMO_ACCOUNT.appId, templateId, init)
  const initialFinish = finishSettings(opts.templateFinish)
  state.templateFinish = initialFinish
  const defaultAppId = accounts[0]?.appId ?? DEMO_ACCOUNT.appId
  for (const [appId, target] of Object.entries(opts.callbacks ?? {})) setCallback(state, appId, target)
  const callbackTimeoutMs = opts.callbackTimeoutMs ?? 5000
  if (!(callbackTimeoutMs > 0)) throw new Error(`sandbox: callbackTimeoutMs must be > 0: ${callbackTimeoutMs}`)
  // Aborted on stop, so delayed and hanging answers end with the sandbox.
  const stopping = new AbortController()
  // Scheduled TEMPLATESENDJOBFINISH reports, cancelled on stop so that none outlives the sandbox.
  const pendingFinishes = new Set<() => void>()
  state.onTemplateSent = (d) => {
    const cancel = scheduleTemplateFinish(state, d, { timeoutMs: callbackTimeoutMs, stopping: stopping.signal }, () => { if (cancel) pendingFinishes.delete(cancel) })
    if (cancel) pendingFinishes.add(cancel)
  }

  const answer = async (request: Request): Promise<Response> => {
    const req = await readRequest(request)
    if (req.path === CONTROL_PREFIX.slice(0, -1) || req.path.startsWith(CONTROL_PREFIX)) return handleControl(sandbox, req, defaultAppId)

    // Recorded before any injection or latency, so a test can count attempts, failed ones included.
    state.calls.push({ method: req.method, path: req.path, query: req.query, body: req.form ? formSummary(req) : req.jsonOk ? req.json : req.rawBody || undefined, at: state.clock.now() })
    const rule = takeRule(state, req.path)
    if (rule?.hang) {
      await wait(Infinity, [stopping.signal, request.signal])
      return httpText(503)
    }
    const delay = state.latencyMs + (rule?.delayMs ?? 0)
    if (delay > 0) await wait(delay, [stopping.signal, request.signal])
    if (rule?.httpStatus !== undefined) return httpText(rule.httpStatus)
    if (rule?.errcode !== undefined) {
      if (rule.echoSecrets) {
        const token = req.query.access_token
        const secret = (req.json as { secret?: unknown } | undefined)?.secret
        const echoed = [
          ...(token ? [`access_token is ${token}`, `url ${req.path}?access_token=${token}`] : []),
          ...(typeof secret === 'string' ? [`secret ${secret}`] : []),
        ]
        return jsonText(JSON.stringify({ errcode: rule.errcode, errmsg: `${rule.errmsg ?? 'invalid request'}: ${echoed.join(', ')} rid: 0-0-0` }))
      }
      // An explicit errmsg is used verbatim so a test can match it exactly.
      return rule.errmsg !== undefined
        ? jsonText(JSON.stringify({ errcode: rule.errcode, errmsg: rule.errmsg }))
        : wxError(state.random, rule.errcode)
    }
    const handler = ROUTES.get(req.path)
    return handler ? handler(state, req) : notFound()
  }

  const server = Bun.serve({
    hostname: opts.hostname ?? '127.0.0.1',
    port: opts.port ?? 0,
    // 0 = no idle limit: a hang or a long delay must last as long as the test wants, not Bun's 10 s.
    idleTimeout: 0,
    fetch: async (request) => {
      try {
        return await answer(request)
      } catch (e) {
        // A bug in the sandbox should be visible to the test, not look like a WeChat answer.
        return new Response(`sandbox internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`, { status: 500 })
      }
    },
  })

  const sandbox: Sandbox = {
    // origin: no trailing slash, and IPv6 hosts come bracketed.
    url: server.url.origin,
    stop: async () => {
      stopping.abort()
      for (const cancel of pendingFinishes) cancel()
      pendingFinishes.clear()
      await server.stop(true)
    },
    inject: (rule) => {
      state.rules.push(activeRule(rule))
    },
    clearInjections: (path) => {
      state.rules = state.rules.filter((r) => path !== undefined && r.rule.path !== path)
    },
    setLatency: (ms) => {
      if (!(ms >= 0)) throw new Error(`sandbox: latency must be >= 0: ${ms}`)
      state.latencyMs = ms
    },
    revokeTokens: (appId) => revokeTokens(state, appId),
    expireTokens: (appId) => expireTokens(state, appId),
    received: (path) => state.calls.filter((c) => path === undefined || c.path === path).map((c) => ({ ...c })),
    calls: (path) => state.calls.reduce((n, c) => (c.path === path ? n + 1 : n), 0),
    addUser: (appId, openid, userOpts) => addUser(state, appId, openid, userOpts),
    setSubscribed: (appId, openid, subscribed) => setSubscribed(state, appId, openid, subscribed),
    addTemplate: (appId, templateId, init) => addTemplate(state, appId, templateId, init),
    delivered: (appId) => {
      if (appId !== undefined) accountOrThrow(state, appId)
      return deliveredMessages(state, appId)
    },
    customMessages: (appId) => {
      if (appId !== undefined) accountOrThrow(state, appId)
      return customMessages(state, appId)
    },
    receivedBy: (appId, openid) => receivedBy(state, appId, openid),
    currentToken: (appId) => currentStableToken(state, appId),
    forceRefreshesToday: (appId) => forceRefreshesToday(state, appId),
    qrScene: (ticket) => qrScene(state, ticket),
    setCallback: (appId, target) => setCallback(state, appId, target),
    scan: (scanOpts = {}) => scan(state, scanOpts, { defaultAppId, timeoutMs: callbackTimeoutMs, stopping: stopping.signal }),
    userSends: (sendOpts) => userSends(state, sendOpts, { defaultAppId, sandboxUrl: server.url.origin, timeoutMs: callbackTimeoutMs, stopping: stopping.signal }),
    setTemplateFinish: (finish) => {
      state.templateFinish = finishSettings(finish, state.templateFinish)
    },
    addMedia: (appId, bytes, mediaOpts) => {
      accountOrThrow(state, appId)
      return addMedia(state, appId, bytes, mediaOpts)
    },
    media: (mediaId) => mediaOf(state, mediaId),
    reset: () => {
      resetMedia(state)
      resetState(state)
      state.templateFinish = initialFinish
    },
  }
  return sandbox
}
