/**
 * @module The access token for the team's other services (scope token) and their report of a token WeChat
 * refused (reject, scope token), its status (scope read), and clear-quota (scope admin). The status never
 * shows the token.
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
  lastError: z.object({
    errcode: z.number().int().nullable(),
    errmsg: z.string(),
    hint: z.string().optional().meta({ description: 'What to do, e.g. which IP to add to the IP whitelist (40164)' }),
    at: z.string(),
  }).optional(),
  quota: z.record(z.string(), z.string().meta({ format: 'date-time' })).optional().meta({
    description: 'WeChat APIs whose daily quota is used up (45009) → when it comes back, e.g. {"message/template/send": "…"}: only that API stops ("stable_token": the token itself). state is quota_exhausted while this is present',
  }),
}).meta({ id: 'TokenStatus' })

export const AccessTokenBody = z.object({
  accessToken: z.string(),
  expiresAt: z.string().meta({ format: 'date-time' }),
}).meta({ id: 'AccessToken' })

export const RejectBody = z.object({
  accessToken: z.string().min(1).meta({ description: 'The token WeChat refused (40001/42001), as /access-token handed it out' }),
}).meta({ id: 'RejectToken' })

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
  .post('/channels/:id/access-token/reject', async ({ params, body }) => {
    const t = await deps.tokens.reject(params.id, body.accessToken)
    return { accessToken: t.accessToken, expiresAt: new Date(t.expiresAt).toISOString() }
  }, {
    scope: 'token',
    params: Params,
    body: RejectBody,
    parse: 'json',
    response: { 200: AccessTokenBody, 400: ErrorBody, 422: ErrorBody, ...errors },
    detail: {
      tags: ['Access token'],
      summary: 'Report that WeChat refused a token from /access-token (40001/42001); answers the token to use now',
      description: 'If it is still the current token it is replaced as after our own 40001 (compare-and-set, stable_token in normal mode, at most one forced refresh); if another token is current already, that one is answered at once. Any number of concurrent rejects of one token cause at most one refresh.',
    },
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
