/**
 * @module `GET /api/users/:openid?channel=` (scope read, SPEC §7 "The window"): the user's binding, whether
 * they follow the account, and their customer-service window.
 */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { ApiKeyService } from '../domain/apikey.service'
import type { UsersService } from '../domain/users.service'
import { auth } from './auth'
import { ErrorBody } from './errors'

export const UserBody = z.object({
  openid: z.string(),
  channel: z.string(),
  subject: z.string().optional().meta({ description: 'The subject the OpenID is bound to' }),
  subscribed: z.boolean().meta({ description: 'false once the user unfollowed (their latest follow event, or their binding)' }),
  window: z.object({
    open: z.boolean().meta({ description: 'Customer-service messages may be sent now (48 h after a message from the user, 1 min after a menu click, follow or scan)' }),
    until: z.string().meta({ format: 'date-time' }).optional().meta({ description: 'When the window closes' }),
    sent: z.number().int().meta({ description: 'Customer-service messages sent since the window opened (WeChat allows 5 in a 48-hour window, 3 in a 1-minute one)' }),
  }),
}).meta({ id: 'User' })

export const usersRoutes = (deps: { users: UsersService; apiKeys: ApiKeyService }) => new Elysia({ name: 'routes/users', prefix: '/api' })
  .use(auth(deps.apiKeys))
  .get('/users/:openid', ({ params, query }) => deps.users.get(params.openid, query.channel), {
    scope: 'read',
    params: z.object({ openid: z.string().min(1).max(64) }),
    // Strict: a misspelt ?chanel= is a 422, not the default channel's user.
    query: z.object({ channel: z.string().optional().meta({ description: 'Channel id; default WXGATE_CHANNEL' }) }).strict(),
    response: { 200: UserBody, 401: ErrorBody, 403: ErrorBody, 422: ErrorBody },
    detail: { tags: ['Users'], summary: "A user: binding, follow status and customer-service window" },
  })
