/**
 * @module The access token for the team's other services (scope token), its status (scope read), and
 * clear-quota (scope admin). The status never shows the token.
 */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { ApiKeyService } from '../domain/apikey.service'
import type { TokenService } from '../domain/token.service'
import { auth } from './auth'
import { ErrorBody } from './errors'

export const TokenStatusBody = z.object({
  channel: z.string(),
  state: z.enum(['ok', 'refreshing', 'failing', 'quota_exhausted']),
  expiresAt: z.string().nullable().meta({ format: 'date-time' }),
  refreshedAt: z.string().nullable().meta({ format: 'date-time' }),
  refreshesToday: z.number().int(),
  forceRefreshesToday: z.number().int(),
  lastError: z.object({ errcode: z.number().int().nullable(), errmsg: z.string(), at: z.string() }).optional(),
}).meta({ id: 'TokenStatus' })

export const AccessTokenBody = z.object({
  accessToken: z.string(),
  expiresAt: z.string().meta({ format: 'date-time' }),
}).meta({ id: 'AccessToken' })

const Params = z.object({ id: z.string() })
const errors = { 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 502: ErrorBody, 503: ErrorBody }

export const tokensRoutes = (deps: { tokens: TokenService; apiKeys: ApiKeyService }) => new Elysia({ name: 'routes/tokens', prefix: '/api' })
  .use(auth(deps.apiKeys))
  .get('/channels/:id/token', ({ params }) => deps.tokens.status(params.id), {
    scope: 'read',
    params: Params,
    response: { 200: TokenStatusBody, ...errors },
    detail: { tags: ['Access token'], summary: 'Token status of a channel (never the token itself)' },
  })
  .get('/channels/:id/access-token', async ({ params }) => {
    const t = await deps.tokens.getToken(params.id)
    return { accessToken: t.accessToken, expiresAt: new Date(t.expiresAt).toISOString() }
  }, {
    scope: 'token',
    params: Params,
    response: { 200: AccessTokenBody, ...errors },
    detail: { tags: ['Access token'], summary: "The channel's access token, for the team's other services (instead of calling WeChat themselves)" },
  })
  .post('/channels/:id/clear-quota', async ({ params }) => {
    await deps.tokens.clearQuota(params.id)
    return deps.tokens.status(params.id)
  }, {
    scope: 'admin',
    params: Params,
    response: { 200: TokenStatusBody, ...errors },
    detail: { tags: ['Access token'], summary: 'Reset the daily API quota through WeChat clear_quota (10 a month) and resume calls' },
  })
