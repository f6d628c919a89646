/**
 * @module The sandbox control API under `/_sandbox/`: the Sandbox methods over HTTP with JSON in and out,
 * for humans poking `wxgate demo` with curl and for tests running in another process.
 * Where an appId is optional it defaults to the first account (the demo account by default).
 */
import { z } from 'zod'
import type { SandboxRequest } from './sandbox.state'
import type { InjectRule, Sandbox, ScanOptions } from './sandbox.types'
import { PNG } from './qrcode'
import { ScanError } from './scan'
import { UserSendError } from './user-send'
import { jsonAnswer } from './wx-reply'

export const CONTROL_PREFIX = '/_sandbox/'

export const InjectBody = z.object({
  path: z.string().min(1),
  errcode: z.number().int().optional(),
  errmsg: z.string().optional(),
  httpStatus: z.number().int().optional(),
  delayMs: z.number().nonnegative().optional(),
  hang: z.boolean().optional(),
  echoSecrets: z.boolean().optional(),
  // JSON cannot spell Infinity, so the string stands for it.
  times: z.union([z.number(), z.literal('Infinity')]).optional(),
})
export type InjectBody = z.infer<typeof InjectBody>

export const LatencyBody = z.object({ ms: z.number().nonnegative() })
export const AccountBody = z.object({ appId: z.string().min(1).optional() })
export const UserBody = z.object({ appId: z.string().min(1).optional(), openid: z.string().min(1), subscribed: z.boolean().optional() })
export const SubscribedBody = z.object({ appId: z.string().min(1).optional(), openid: z.string().min(1), subscribed: z.boolean() })
export const TemplateBody = z.object({
  appId: z.string().min(1).optional(),
  templateId: z.string().min(1),
  title: z.string().optional(),
  content: z.string().optional(),
  example: z.string().optional(),
})
export type TemplateBody = z.infer<typeof TemplateBody>
export const TemplateFinishBody = z.object({
  enabled: z.boolean().optional(),
  status: z.string().min(1).optional(),
  delayMs: z.number().nonnegative().optional(),
})
export type TemplateFinishBody = z.infer<typeof TemplateFinishBody>
export const ScanBody = z.object({
  ticket: z.string().min(1).optional(),
  scene: z.string().min(1).optional(),
  appId: z.string().min(1).optional(),
  openid: z.string().min(1).optional(),
})
export const UserSendBody = z.object({
  appId: z.string().min(1).optional(),
  openid: z.string().min(1).optional(),
  text: z.string().optional(),
  image: z.object({ picUrl: z.string().min(1).optional(), mediaId: z.string().min(1).optional() }).optional(),
  click: z.string().optional(),
  view: z.string().optional(),
  menuId: z.string().min(1).optional(),
})
export type UserSendBody = z.infer<typeof UserSendBody>
export const MediaBody = z.object({
  appId: z.string().min(1).optional(),
  base64: z.string().min(1),
  type: z.enum(['image', 'voice', 'video', 'thumb']).optional(),
  contentType: z.string().min(1).optional(),
  filename: z.string().min(1).optional(),
})
export type MediaBody = z.infer<typeof MediaBody>
export const CallbackBody = z.object({ appId: z.string().min(1).optional(), url: z.string().min(1), token: z.string().min(1), aesKey: z.string().optional() })

const HELP = {
  endpoints: [
    'POST /_sandbox/inject     {path, errcode?, errmsg?, httpStatus?, delayMs?, hang?, echoSecrets?, times? (number or "Infinity")}',
    'POST /_sandbox/latency    {ms}',
    'POST /_sandbox/revoke     {appId?}',
    'POST /_sandbox/expire     {appId?}',
    'GET  /_sandbox/received?path=',
    'POST /_sandbox/users      {appId?, openid, subscribed?}',
    'POST /_sandbox/subscribed {appId?, openid, subscribed}',
    'POST /_sandbox/templates  {appId?, templateId, title?, content?, example?}',
    'POST /_sandbox/template-finish {enabled?, status? ("success", "failed:user block", "failed: system failed"), delayMs?}',
    'GET  /_sandbox/delivered?appId=',
    'GET  /_sandbox/users/:openid/received?appId=   (template and customer-service messages the user received)',
    'GET  /_sandbox/token?appId=',
    'GET  /_sandbox/qrcode?ticket=',
    'POST /_sandbox/callback   {appId?, url, token, aesKey?}',
    'POST /_sandbox/scan       {ticket?, scene?, appId?, openid?}',
    'POST /_sandbox/message    {appId?, openid?, text? | image? {picUrl?, mediaId?} | click? (menu key) | view? (URL), menuId?}',
    'GET  /_sandbox/pic?mediaId=',
    'POST /_sandbox/media      {appId?, base64, type? (image), contentType?, filename?} → {mediaId} (a media a user sent, for media/get)',
    'GET  /_sandbox/media?mediaId=',
    'POST /_sandbox/reset',
  ],
}

const bad = (message: string, status = 400): Response => jsonAnswer({ error: message }, status)

const parse = <T>(schema: z.ZodType<T>, req: SandboxRequest): T | Response => {
  if (!req.jsonOk && req.rawBody.trim() !== '') return bad('body is not JSON')
  const parsed = schema.safeParse(req.json ?? {})
  if (!parsed.success) return bad(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '))
  return parsed.data
}

const toRule = (b: InjectBody): InjectRule => {
  const rule: InjectRule = { path: b.path }
  if (b.errcode !== undefined) rule.errcode = b.errcode
  if (b.errmsg !== undefined) rule.errmsg = b.errmsg
  if (b.httpStatus !== undefined) rule.httpStatus = b.httpStatus
  if (b.delayMs !== undefined) rule.delayMs = b.delayMs
  if (b.hang !== undefined) rule.hang = b.hang
  if (b.echoSecrets !== undefined) rule.echoSecrets = b.echoSecrets
  if (b.times !== undefined) rule.times = b.times === 'Infinity' ? Infinity : b.times
  return rule
}

type Route = (sandbox: Sandbox, req: SandboxRequest, defaultAppId: string) => Response | Promise<Response>

const OK = () => jsonAnswer({ ok: true })

const POST_ROUTES: Record<string, Route> = {
  inject: (sb, req) => {
    const b = parse(InjectBody, req)
    if (b instanceof Response) return b
    sb.inject(toRule(b))
    return OK()
  },
  latency: (sb, req) => {
    const b = parse(LatencyBody, req)
    if (b instanceof Response) return b
    sb.setLatency(b.ms)
    return OK()
  },
  revoke: (sb, req) => {
    const b = parse(AccountBody, req)
    if (b instanceof Response) return b
    sb.revokeTokens(b.appId)
    return OK()
  },
  expire: (sb, req) => {
    const b = parse(AccountBody, req)
    if (b instanceof Response) return b
    sb.expireTokens(b.appId)
    return OK()
  },
  users: (sb, req, def) => {
    const b = parse(UserBody, req)
    if (b instanceof Response) return b
    sb.addUser(b.appId ?? def, b.openid, b.subscribed === undefined ? {} : { subscribed: b.subscribed })
    return OK()
  },
  subscribed: (sb, req, def) => {
    const b = parse(SubscribedBody, req)
    if (b instanceof Response) return b
    sb.setSubscribed(b.appId ?? def, b.openid, b.subscribed)
    return OK()
  },
  templates: (sb, req, def) => {
    const b = parse(TemplateBody, req)
    if (b instanceof Response) return b
    const { appId, templateId, ...init } = b
    sb.addTemplate(appId ?? def, templateId, Object.fromEntries(Object.entries(init).filter(([, v]) => v !== undefined)))
    return OK()
  },
  // enabled false: no TEMPLATESENDJOBFINISH events; otherwise the given status and delay from the next delivery on.
  'template-finish': (sb, req) => {
    const b = parse(TemplateFinishBody, req)
    if (b instanceof Response) return b
    if (b.enabled === false) sb.setTemplateFinish(false)
    else sb.setTemplateFinish({ ...(b.status !== undefined ? { status: b.status } : {}), ...(b.delayMs !== undefined ? { delayMs: b.delayMs } : {}) })
    return OK()
  },
  media: (sb, req, def) => {
    const b = parse(MediaBody, req)
    if (b instanceof Response) return b
    const { appId, base64, ...opts } = b
    const mediaId = sb.addMedia(appId ?? def, Buffer.from(base64, 'base64'), Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)))
    return jsonAnswer({ mediaId })
  },
  reset: (sb) => {
    sb.reset()
    return OK()
  },
  callback: (sb, req, def) => {
    const b = parse(CallbackBody, req)
    if (b instanceof Response) return b
    sb.setCallback(b.appId ?? def, b.aesKey === undefined ? { url: b.url, token: b.token } : { url: b.url, token: b.token, aesKey: b.aesKey })
    return OK()
  },
  // Answers once the event was delivered (or given up on), up to three timeouts later.
  scan: async (sb, req) => {
    const b = parse(ScanBody, req)
    if (b instanceof Response) return b
    const opts: ScanOptions = {}
    if (b.ticket !== undefined) opts.ticket = b.ticket
    if (b.scene !== undefined) opts.scene = b.scene
    if (b.appId !== undefined) opts.appId = b.appId
    if (b.openid !== undefined) opts.openid = b.openid
    return jsonAnswer(await sb.scan(opts))
  },
  // A user writes or taps the menu; answers once the gateway answered (or was given up on), with its reply.
  message: async (sb, req) => {
    const b = parse(UserSendBody, req)
    if (b instanceof Response) return b
    // Only the given fields: userSends counts which of text/image/click/view are present.
    return jsonAnswer(await sb.userSends(Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) as UserSendBody))
  },
}

const GET_ROUTES: Record<string, Route> = {
  '': () => jsonAnswer(HELP),
  received: (sb, req) => jsonAnswer({ calls: sb.received(req.query.path || undefined) }),
  delivered: (sb, req) => jsonAnswer({ delivered: sb.delivered(req.query.appId || undefined) }),
  token: (sb, req, def) => {
    const appId = req.query.appId || def
    return jsonAnswer({ appId, access_token: sb.currentToken(appId) ?? null, forceRefreshesToday: sb.forceRefreshesToday(appId) })
  },
  qrcode: (sb, req) => {
    const scene = sb.qrScene(req.query.ticket ?? '')
    return scene ? jsonAnswer(scene) : bad('unknown ticket', 404)
  },
  media: (sb, req) => {
    const m = sb.media(req.query.mediaId ?? '')
    if (!m) return bad('unknown mediaId', 404)
    return jsonAnswer({ appId: m.appId, type: m.type, contentType: m.contentType, filename: m.filename, bytes: m.bytes.byteLength, base64: Buffer.from(m.bytes).toString('base64') })
  },
  // The picture behind a default PicUrl of an image message: any image will do.
  pic: () => new Response(PNG, { status: 200, headers: { 'content-type': 'image/png', 'content-length': String(PNG.length) } }),
}

export const handleControl = async (sandbox: Sandbox, req: SandboxRequest, defaultAppId: string): Promise<Response> => {
  const name = req.path.slice(CONTROL_PREFIX.length)
  const receivedOf = /^users\/([^/]+)\/received$/.exec(name)
  if (receivedOf && req.method === 'GET') {
    try {
      const openid = decodeURIComponent(receivedOf[1]!)
      return jsonAnswer({ openid, received: sandbox.receivedBy(req.query.appId || defaultAppId, openid) })
    } catch (e) {
      return bad(e instanceof Error ? e.message : String(e))
    }
  }
  const routes = req.method === 'GET' ? GET_ROUTES : req.method === 'POST' ? POST_ROUTES : {}
  const route = Object.hasOwn(routes, name) ? routes[name] : undefined
  if (!route) return bad(`no control endpoint ${req.method} ${req.path}`, 404)
  try {
    return await route(sandbox, req, defaultAppId)
  } catch (e) {
    // A scan or message that cannot happen says why with its status (404 unknown ticket, 409 no callback target).
    if (e instanceof ScanError || e instanceof UserSendError) return bad(e.message, e.status)
    // Unknown accounts and users, nonsense rules: the caller's mistake, said plainly.
    return bad(e instanceof Error ? e.message : String(e))
  }
}
