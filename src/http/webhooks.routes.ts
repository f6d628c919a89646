/**
 * @module Webhook endpoints and their deliveries (scope admin, SPEC §6). The secret is in the answers of
 * create and rotate-secret only.
 */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { ApiKeyService } from '../domain/apikey.service'
import { DeliveryQuery, WebhookInput, WebhookPatch, type WebhooksService } from '../domain/webhooks.service'
import { auth } from './auth'
import { ErrorBody } from './errors'

const dateTime = () => z.string().meta({ format: 'date-time' })

export const WebhookView = z.object({
  id: z.string().meta({ example: 'whe_3kT0uQm1P2x9aVbC' }),
  url: z.string(),
  events: z.array(z.string()).meta({ example: ['*'] }),
  channel: z.string().optional(),
  description: z.string().optional(),
  disabled: z.boolean(),
  disabledReason: z.string().optional().meta({ description: 'Why it is disabled: 410 Gone from the receiver, 5 days of failures, or the API' }),
  failingSince: dateTime().optional().meta({ description: 'The first failure of the current run of failures (cleared by a success)' }),
  reply: z.literal(true).optional().meta({ description: 'A reply hook (SPEC §7): its answer becomes the passive reply' }),
  lateReply: z.enum(['send', 'drop']).optional().meta({ description: "A reply hook's late answer (within 30 s): sent as a customer-service message, or dropped" }),
  createdAt: dateTime(),
}).meta({ id: 'Webhook' })

export const WebhookCreated = WebhookView.extend({
  secret: z.string().meta({ description: 'whsec_…: shown only here and by rotate-secret', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
}).meta({ id: 'WebhookCreated' })

export const WebhookList = z.object({ items: z.array(WebhookView) }).meta({ id: 'WebhookList' })

export const RotatedSecret = z.object({
  secret: z.string().meta({ description: 'The new whsec_… secret (shown only now)' }),
  previousSecretExpiresAt: dateTime().meta({ description: 'Until then the previous secret signs too (a second webhook-signature entry)' }),
}).meta({ id: 'RotatedSecret' })

export const DeliveryView = z.object({
  id: z.string().meta({ example: 'whd_9bQw1Zr4sV8yTgq7L2mC0x' }),
  eventId: z.string().meta({ description: 'The webhook-id header: the same on every attempt' }),
  type: z.string().meta({ example: 'message.received' }),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  lastStatusCode: z.number().int().optional(),
  lastError: z.string().optional(),
  nextAttemptAt: dateTime().optional(),
  createdAt: dateTime(),
  deliveredAt: dateTime().optional(),
}).meta({ id: 'WebhookDelivery' })

export const DeliveryList = z.object({ items: z.array(DeliveryView), next: z.string().optional().meta({ description: 'cursor of the next page' }) }).meta({ id: 'WebhookDeliveryList' })

/** 204: no body. (z.void() has no JSON Schema, so the document would drop the status.) */
const NoContent = z.any().meta({ description: 'No content' })
const IdParams = z.object({ id: z.string() })
const guarded = { 401: ErrorBody, 403: ErrorBody }
const tags = ['Webhooks']

export const webhooksRoutes = (deps: { webhooks: WebhooksService; apiKeys: ApiKeyService }) => new Elysia({ name: 'routes/webhooks', prefix: '/api' })
  .use(auth(deps.apiKeys))
  .post('/webhooks', async ({ body, set }) => {
    const created = await deps.webhooks.create(body)
    set.status = 201
    return created
  }, {
    scope: 'admin',
    body: WebhookInput.meta({ id: 'WebhookInput' }),
    parse: 'json',
    response: { 201: WebhookCreated, 400: ErrorBody, ...guarded, 413: ErrorBody, 422: ErrorBody },
    detail: { tags, summary: 'Add a webhook endpoint; the answer carries its whsec_ secret, shown only now', description: 'Events are POSTed signed by Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature). 422 for a url that is not http(s), an unknown event type (named) or an unknown channel.' },
  })
  .get('/webhooks', async () => ({ items: await deps.webhooks.list() }), {
    scope: 'admin',
    response: { 200: WebhookList, ...guarded },
    detail: { tags, summary: 'List webhook endpoints (never the secret)' },
  })
  .get('/webhooks/:id', ({ params }) => deps.webhooks.get(params.id), {
    scope: 'admin',
    params: IdParams,
    response: { 200: WebhookView, ...guarded, 404: ErrorBody },
    detail: { tags, summary: 'One webhook endpoint (never the secret)' },
  })
  .patch('/webhooks/:id', ({ params, body }) => deps.webhooks.update(params.id, body), {
    scope: 'admin',
    params: IdParams,
    body: WebhookPatch.meta({ id: 'WebhookPatch' }),
    parse: 'json',
    response: { 200: WebhookView, 400: ErrorBody, ...guarded, 404: ErrorBody, 413: ErrorBody, 422: ErrorBody },
    detail: { tags, summary: 'Change an endpoint: url, events, description, disabled (false re-enables it)' },
  })
  .delete('/webhooks/:id', async ({ params, set }) => {
    await deps.webhooks.remove(params.id)
    set.status = 204
  }, {
    scope: 'admin',
    params: IdParams,
    response: { 204: NoContent, ...guarded, 404: ErrorBody },
    detail: { tags, summary: 'Delete an endpoint with its deliveries' },
  })
  .post('/webhooks/:id/rotate-secret', ({ params }) => deps.webhooks.rotateSecret(params.id), {
    scope: 'admin',
    params: IdParams,
    response: { 200: RotatedSecret, ...guarded, 404: ErrorBody },
    detail: { tags, summary: 'A new secret; for 24 hours the old one signs too (two entries in webhook-signature)' },
  })
  .post('/webhooks/:id/test', async ({ params, set }) => {
    const r = await deps.webhooks.test(params.id)
    set.status = 202
    return r
  }, {
    scope: 'admin',
    params: IdParams,
    response: { 202: z.object({ eventId: z.string() }).meta({ id: 'WebhookTestQueued' }), ...guarded, 404: ErrorBody, 409: ErrorBody },
    detail: { tags, summary: 'Queue a webhook.test event for this endpoint only (409 when it is disabled)' },
  })
  .get('/webhooks/:id/deliveries', ({ params, query }) => deps.webhooks.deliveries(params.id, query), {
    scope: 'admin',
    params: IdParams,
    query: DeliveryQuery,
    response: { 200: DeliveryList, ...guarded, 404: ErrorBody, 422: ErrorBody },
    detail: { tags, summary: "An endpoint's deliveries, newest first (filter: status), paginated; kept 7 days after they finish" },
  })
  .post('/webhooks/deliveries/:id/retry', ({ params }) => deps.webhooks.retry(params.id), {
    scope: 'admin',
    params: IdParams,
    response: { 200: DeliveryView, ...guarded, 404: ErrorBody, 409: ErrorBody },
    detail: { tags, summary: 'Send a failed delivery again (same webhook-id and body); 409 when it is not failed' },
  })
