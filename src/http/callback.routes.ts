/**
 * @module WeChat callbacks as an Elysia plugin (documented in OpenAPI): `/wechat` (the default channel) and
 * `/wechat/:channelId`. Only these need to be public. The handlers are in callback.handlers.ts; the server
 * serves them through Bun's native router, so this plugin answers only in `app.handle` (the tests).
 */
import { Elysia } from 'elysia'
import { callbackHandlers, type CallbackRouteDeps } from './callback.handlers'

export const callbackRoutes = (deps: CallbackRouteDeps) => {
  const { get, post } = callbackHandlers(deps)
  const detail = (summary: string) => ({ tags: ['WeChat callback'], summary })
  return new Elysia({ name: 'routes/callback' })
    .get('/wechat', get, { detail: detail('URL verification for the default channel (echoes echostr)') })
    .get('/wechat/:channelId', get, { detail: detail('URL verification for a channel (echoes echostr)') })
    .post('/wechat', post, { parse: 'none', detail: detail('Messages and events for the default channel') })
    .post('/wechat/:channelId', post, { parse: 'none', detail: detail('Messages and events for a channel') })
}
