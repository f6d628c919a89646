/**
 * @module The inbound history (scope read, SPEC §6): `GET /api/inbound` and `GET /api/inbound/:id`, every
 * received message and event, kept WXGATE_INBOUND_RETENTION_DAYS; and `POST /api/inbound/:id/reply` (scope
 * send, SPEC §7): a customer-service message to its sender.
 */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { ApiKeyService } from '../domain/apikey.service'
import { InboundQuery, type InboundService } from '../domain/inbound.service'
import { ReplyBody, type SendService } from '../domain/send.service'
import { auth } from './auth'
import { ErrorBody } from './errors'
import { answerAccepted, SendAnswerBody } from './send.routes'

const dateTime = () => z.string().meta({ format: 'date-time' })

export const InboundBody = z.object({
  id: z.string().meta({ description: 'Opaque id of this received message or event', example: 'in_42' }),
  channel: z.string(),
  openid: z.string().meta({ description: "The sender's OpenID (FromUserName)" }),
  subject: z.string().optional().meta({ description: "The subject the sender's OpenID is bound to now" }),
  msgType: z.string().meta({ example: 'text' }),
  event: z.string().optional().meta({ description: 'For msgType event: the Event', example: 'subscribe' }),
  createTime: dateTime().meta({ description: "WeChat's CreateTime" }),
  receivedAt: dateTime(),
  data: z.record(z.string(), z.unknown()).meta({ description: 'The parsed message in camelCase (content, mediaId, eventKey, locationX …), as in the message.received event', example: { msgId: '23914011283427311', msgType: 'text', content: '你好', createTime: '2026-11-24T07:01:00.000Z' } }),
}).meta({ id: 'InboundMessage' })

export const InboundList = z.object({ items: z.array(InboundBody), next: z.string().optional().meta({ description: 'The cursor of the next (older) page' }) }).meta({ id: 'InboundList' })

export const inboundRoutes = (deps: { inbound: InboundService; apiKeys: ApiKeyService; send: SendService }) => new Elysia({ name: 'routes/inbound', prefix: '/api' })
  .use(auth(deps.apiKeys))
  .get('/inbound', ({ query }) => deps.inbound.list(query), {
    scope: 'read',
    query: InboundQuery,
    response: { 200: InboundList, 401: ErrorBody, 403: ErrorBody, 422: ErrorBody },
    detail: {
      tags: ['Inbound'],
      summary: 'Received messages and events, newest first (filters: channel, openid, subject, type, since), paginated',
      description: 'Every message and event WeChat delivered to the gateway, once (retries are not repeated), kept WXGATE_INBOUND_RETENTION_DAYS (default 30). `type` is a MsgType (text, image …) or an Event (subscribe, CLICK …).',
    },
  })
  .get('/inbound/:id', ({ params }) => deps.inbound.get(params.id), {
    scope: 'read',
    params: z.object({ id: z.string() }),
    response: { 200: InboundBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    detail: { tags: ['Inbound'], summary: 'One received message or event' },
  })
  .post('/inbound/:id/reply', async ({ params, body, query, headers, principal, set }) => {
    return answerAccepted(deps.send, await deps.send.reply(params.id, body, { apiKeyId: principal.keyId, headerKey: headers['idempotency-key'] }), query.wait === 'true', set)
  }, {
    scope: 'send',
    params: z.object({ id: z.string() }),
    body: ReplyBody.meta({ id: 'ReplyBody' }),
    parse: 'json',
    query: z.object({ wait: z.enum(['true', 'false']).optional().meta({ description: 'true: answer 200 when the message is sent or failed (at most 10 s)' }) }),
    response: { 200: SendAnswerBody, 202: SendAnswerBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 422: ErrorBody },
    detail: {
      tags: ['Inbound'],
      summary: 'Answer a received message: a customer-service message to its sender, through the outbox',
      description: 'The body is a customer-service message as in POST /api/send (`{"type":"text","text":{"content":"您好"}}`, optional `fallback` and `idempotencyKey`), without recipients: it goes to the user who sent inbound message `id`, on its channel. Answered as POST /api/send.',
    },
  })
