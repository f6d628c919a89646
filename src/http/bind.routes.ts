/**
 * @module Bind codes (scope bindcode) and bindings (list: scope read; delete: scope bindcode), SPEC §4.
 * The public bind page lives in bind-page.routes.ts.
 */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { ApiKeyService } from '../domain/apikey.service'
import { BindCodeInput, type BindService } from '../domain/bind.service'
import { auth } from './auth'
import { ErrorBody } from './errors'

const dateTime = () => z.string().meta({ format: 'date-time' })

export const BindCodeView = z.object({
  code: z.string().meta({ example: 'q7L2mC0x9bQw1Zr4sV8yTg' }),
  channel: z.string().meta({ example: 'default' }),
  subject: z.string().meta({ example: 'u-42' }),
  label: z.string().optional(),
  status: z.enum(['pending', 'bound', 'expired']),
  openid: z.string().optional(),
  boundAt: dateTime().optional(),
  expiresAt: dateTime(),
}).meta({ id: 'BindCode' })

export const BindCodeCreated = BindCodeView.extend({
  qr: z.object({
    ticket: z.string().meta({ description: 'WeChat QR ticket' }),
    url: z.string().meta({ description: 'The content to encode in the QR code' }),
    imageUrl: z.string().meta({ description: "WeChat's showqrcode image link (ticket URL-encoded)" }),
  }),
  bindUrl: z.string().meta({ description: 'Our bind page: shows the QR code and turns to "bound" by itself' }),
}).meta({ id: 'BindCodeCreated' })

export const BindingView = z.object({
  id: z.string().meta({ example: 'bnd_3kT0uQm1P2x9aVbC' }),
  channel: z.string(),
  subject: z.string(),
  openid: z.string(),
  status: z.enum(['active', 'unsubscribed']),
  boundAt: dateTime(),
}).meta({ id: 'Binding' })

export const BindingList = z.object({
  items: z.array(BindingView),
  nextCursor: z.string().optional().meta({ description: 'Pass as ?cursor= for the next page; absent on the last page' }),
}).meta({ id: 'BindingList' })

export const BindingQuery = z.object({
  channel: z.string().optional(),
  subject: z.string().optional(),
  openid: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(200).optional().meta({ description: 'Page size, default 50' }),
  cursor: z.string().optional(),
})

/** 204: no body. (z.void() has no JSON Schema, so the document would drop the status.) */
const NoContent = z.any().meta({ description: 'No content' })

const CodeParams = z.object({ code: z.string() })
const IdParams = z.object({ id: z.string() })
const errors = { 401: ErrorBody, 403: ErrorBody, 404: ErrorBody }

export const bindRoutes = (deps: { bind: BindService; apiKeys: ApiKeyService; publicUrl?: string }) => new Elysia({ name: 'routes/bind', prefix: '/api' })
  .use(auth(deps.apiKeys))
  .post('/bindcode', async ({ body, request, set }) => {
    // Absolute links use WXGATE_PUBLIC_URL when set, else the origin this request came to.
    const created = await deps.bind.create(body, { bindUrlBase: deps.publicUrl ?? new URL(request.url).origin })
    set.status = 201
    return created
  }, {
    scope: 'bindcode',
    body: BindCodeInput.meta({ id: 'BindCodeInput' }),
    parse: 'json',
    response: { 201: BindCodeCreated, 400: ErrorBody, ...errors, 413: ErrorBody, 422: ErrorBody, 502: ErrorBody, 503: ErrorBody },
    detail: { tags: ['Bind codes'], summary: 'Create a one-time bind code for your user id, with its WeChat QR code and bind page' },
  })
  .get('/bindcode/:code', ({ params }) => deps.bind.get(params.code), {
    scope: 'bindcode',
    params: CodeParams,
    response: { 200: BindCodeView, ...errors },
    detail: { tags: ['Bind codes'], summary: 'Status of a bind code: pending, bound (with the OpenID) or expired' },
  })
  .delete('/bindcode/:code', async ({ params, set }) => {
    await deps.bind.cancel(params.code)
    set.status = 204
  }, {
    scope: 'bindcode',
    params: CodeParams,
    response: { 204: NoContent, ...errors, 409: ErrorBody },
    detail: { tags: ['Bind codes'], summary: 'Cancel a pending code (a later scan is answered "expired"); 409 when already bound' },
  })
  .get('/bindings', ({ query }) => deps.bind.listBindings(query), {
    scope: 'read',
    query: BindingQuery,
    response: { 200: BindingList, 401: ErrorBody, 403: ErrorBody, 422: ErrorBody },
    detail: { tags: ['Bindings'], summary: 'List bindings (filters: channel, subject, openid), oldest first, paginated' },
  })
  .delete('/bindings/:id', async ({ params, set }) => {
    await deps.bind.deleteBinding(params.id)
    set.status = 204
  }, {
    scope: 'bindcode',
    params: IdParams,
    response: { 204: NoContent, ...errors },
    detail: { tags: ['Bindings'], summary: 'Delete a binding (the user must bind again to receive messages)' },
  })
