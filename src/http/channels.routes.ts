/** @module Channels: list (scope read) and add/update (scope admin). Never returns a secret. */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { ApiKeyService } from '../domain/apikey.service'
import { ChannelInput, viewOf, type ChannelService } from '../domain/channel.service'
import { auth } from './auth'
import { ErrorBody } from './errors'

export const ChannelView = z.object({
  id: z.string().meta({ example: 'default' }),
  appId: z.string().meta({ example: 'wx1234567890abcdef' }),
  name: z.string().nullable().meta({ description: 'Display name of the Official Account (null when not set)', example: '某某科技服务号' }),
  mode: z.enum(['plaintext', 'safe']),
  createdAt: z.string().meta({ format: 'date-time' }),
}).meta({ id: 'Channel' })

export const ChannelList = z.object({ items: z.array(ChannelView) })

export const channelsRoutes = (deps: { channels: ChannelService; apiKeys: ApiKeyService }) => new Elysia({ name: 'routes/channels', prefix: '/api' })
  .use(auth(deps.apiKeys))
  .get('/channels', () => ({ items: deps.channels.list().map(viewOf) }), {
    scope: 'read',
    response: { 200: ChannelList, 401: ErrorBody, 403: ErrorBody },
    detail: { tags: ['Channels'], summary: 'List channels (never secrets)' },
  })
  .post('/channels', async ({ body, set }) => {
    const { created, channel } = await deps.channels.upsert(body)
    set.status = created ? 201 : 200
    return viewOf(channel)
  }, {
    scope: 'admin',
    body: ChannelInput.omit({}).meta({ id: 'ChannelInput' }),
    parse: 'json',
    response: { 200: ChannelView, 201: ChannelView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 422: ErrorBody },
    detail: { tags: ['Channels'], summary: 'Add a channel (201) or update one with the same id (200)' },
  })
