/** @module createApp(deps): mounts the route plugins, OpenAPI and the error mapper; never listens. */
import { Elysia } from 'elysia'
import type { Deps } from './deps'
import { bindPageRoutes } from './http/bind-page.routes'
import { bindRoutes } from './http/bind.routes'
import { consoleRoutes } from './http/console/console.routes'
import { callbackRoutes } from './http/callback.routes'
import { channelsRoutes } from './http/channels.routes'
import { bodyTooLarge, errorMapper } from './http/errors'
import { clientOf } from './http/client-ip'
import { healthRoutes } from './http/health.routes'
import { inboundRoutes } from './http/inbound.routes'
import { bodyLimitFor, mediaRoutes } from './http/media.routes'
import { readJsonBody } from './http/json-body'
import { metricsRoutes } from './http/metrics.routes'
import { docs } from './http/openapi'
import { sendRoutes } from './http/send.routes'
import { templatesRoutes } from './http/templates.routes'
import { tokensRoutes } from './http/tokens.routes'
import { usersRoutes } from './http/users.routes'
import { webhooksRoutes } from './http/webhooks.routes'
import { VERSION } from './version'

export const createApp = (deps: Deps) => new Elysia()
  .use(errorMapper(deps.log.child({ module: 'http' })))
  .use(docs(VERSION))
  .use(healthRoutes({ db: deps.db }))
  .use(metricsRoutes({ metrics: deps.metrics }))
  .use(callbackRoutes({ callbacks: deps.callbacks, defaultChannel: deps.config.WXGATE_CHANNEL, log: deps.log, now: deps.clock.now, metrics: deps.metrics, clientOf: clientOf(deps.config.WXGATE_TRUST_PROXY) }))
  // Every /api body is read by our reader (size, UTF-8, depth, surrogates: SPEC §4) before Elysia's own
  // parser could: a local hook here applies to the routes mounted after it, not to the callbacks above
  // (they read their XML themselves). Multipart bodies (media uploads) carry their own limits.
  .onParse(({ request, path }) => {
    if (!path.startsWith('/api/') || request.headers.get('content-type')?.startsWith('multipart/form-data')) return
    return readJsonBody(request)
  })
  .use(channelsRoutes({ channels: deps.channels, apiKeys: deps.apiKeys }))
  .use(tokensRoutes({ tokens: deps.tokens, apiKeys: deps.apiKeys }))
  .use(templatesRoutes({ templates: deps.templates, apiKeys: deps.apiKeys }))
  .use(bindRoutes({ bind: deps.bind, apiKeys: deps.apiKeys, publicUrl: deps.config.WXGATE_PUBLIC_URL }))
  .use(sendRoutes({ send: deps.send, apiKeys: deps.apiKeys }))
  .use(inboundRoutes({ inbound: deps.inbound, apiKeys: deps.apiKeys, send: deps.send }))
  .use(usersRoutes({ users: deps.users, apiKeys: deps.apiKeys }))
  .use(mediaRoutes({ media: deps.media, apiKeys: deps.apiKeys }))
  .use(webhooksRoutes({ webhooks: deps.webhooks, apiKeys: deps.apiKeys }))
  .use(bindPageRoutes({ bind: deps.bind, clock: deps.clock, random: deps.random, simulateScan: deps.simulateScan }))
  .use(consoleRoutes(deps))

export type App = ReturnType<typeof createApp>

/**
 * What the server hands every request its native routes do not take: the app, compiled, behind the check of a
 * declared body length (answered in the API's error shape before the app reads a byte). server.ts imports this
 * module on the first such request, so that a start serves WeChat without building the API first.
 */
export const createApiHandler = (deps: Deps) => {
  const app = createApp(deps)
  app.compile()
  return {
    routes: app.routes,
    fetch: (request: Request): Promise<Response> | Response => bodyTooLarge(request, bodyLimitFor(request)) ?? (app.fetch(request) as Promise<Response>),
  }
}
export type ApiHandler = ReturnType<typeof createApiHandler>
