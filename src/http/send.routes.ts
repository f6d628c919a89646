/**
 * @module Sending (scope send) and reading messages (scope read), SPEC §4 "Sending".
 * `POST /api/send` answers 202 once every recipient's message is stored; with `?wait=true`, 200 once
 * every one is sent or failed, or after 10 s.
 */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { ApiKeyService } from '../domain/apikey.service'
import { SendBody, type SendAnswer, type SendService } from '../domain/send.service'
import { auth } from './auth'
import { ErrorBody } from './errors'

const dateTime = () => z.string().meta({ format: 'date-time' })
const Status = z.enum(['queued', 'sending', 'sent', 'delivered', 'failed'])

export const SendAnswerBody = z.object({
  id: z.string().meta({ description: 'Id of this send request' }),
  recipients: z.array(z.object({
    messageId: z.string(),
    subject: z.string().optional(),
    openid: z.string(),
    status: Status,
    error: z.string().optional().meta({ description: "e.g. not_subscribed: the user's binding is unsubscribed" }),
  })),
  unresolved: z.array(z.string()).meta({ description: 'Subjects without any binding on the channel' }),
  warnings: z.array(z.object({ key: z.string(), code: z.string(), message: z.string() })).optional()
    .meta({ description: 'Values WeChat would silently alter (emoji, line breaks, colours), or a templateId the channel\'s template list does not have (unknown_template: WeChat will answer 40037): sent anyway' }),
}).meta({ id: 'SendAnswer' })

export const MessageBody = z.object({
  messageId: z.string(),
  channel: z.string(),
  openid: z.string(),
  subject: z.string().optional(),
  type: z.string().meta({ description: "'template' or the customer-service type (text, image, voice, video, music, news, mpnews, msgmenu, miniprogrampage)" }),
  templateId: z.string().optional().meta({ description: 'Template messages only' }),
  sentAs: z.string().optional().meta({ description: "A customer-service message whose window was closed: its fallback template was sent instead" }),
  status: Status,
  attempts: z.number().int().meta({ description: 'Calls made to WeChat for this message' }),
  errcode: z.number().int().optional(),
  error: z.string().optional().meta({ description: "e.g. not_subscribed, delivery_unknown, outside_window (45015), window_quota_used (45047), or WeChat's error explained" }),
  wechatMsgId: z.string().optional(),
  createdAt: dateTime(),
  sentAt: dateTime().optional(),
  finishedAt: dateTime().optional(),
}).meta({ id: 'Message' })

export const MessageList = z.object({ items: z.array(MessageBody), nextCursor: z.string().optional() }).meta({ id: 'MessageList' })

export const MessageQuery = z.object({
  channel: z.string().optional(),
  subject: z.string().optional(),
  status: Status.optional(),
  since: z.string().optional().meta({ description: 'ISO-8601: messages created at or after' }),
  limit: z.coerce.number().int().min(1).max(200).optional().meta({ description: 'Page size, default 50' }),
  cursor: z.string().optional(),
})

/**
 * A send's answer (POST /api/send, POST /api/inbound/:id/reply): 202 once stored; with ?wait=true, 200 once every
 * message is sent or failed (at most 10 s). A replayed answer (the same Idempotency-Key) never waits.
 */
export const answerAccepted = (send: SendService, r: { answer: SendAnswer; replay: boolean }, wait: boolean, set: { status?: number | string }) => {
  if (wait && !r.replay) {
    set.status = 200
    return send.wait(r.answer)
  }
  set.status = 202
  return r.answer
}

export const sendRoutes = (deps: { send: SendService; apiKeys: ApiKeyService }) => new Elysia({ name: 'routes/send', prefix: '/api' })
  .use(auth(deps.apiKeys))
  .post('/send', async ({ body, query, headers, principal, set }) => {
    return answerAccepted(deps.send, await deps.send.send(body, { apiKeyId: principal.keyId, headerKey: headers['idempotency-key'] }), query.wait === 'true', set)
  }, {
    scope: 'send',
    body: SendBody.meta({ id: 'SendBody' }),
    parse: 'json',
    query: z.object({ wait: z.enum(['true', 'false']).optional().meta({ description: 'true: answer 200 when every recipient is sent or failed (at most 10 s)' }) }),
    response: { 200: SendAnswerBody, 202: SendAnswerBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody, 413: ErrorBody, 422: ErrorBody },
    detail: {
      tags: ['Sending'],
      summary: 'Send a template or customer-service message to subjects (your user ids) or OpenIDs, through the durable outbox',
      description: 'Idempotency: `idempotencyKey` or the `Idempotency-Key` header; the same key with the same body within 24 h answers the first answer and sends nothing, with another body 409. Keys are scoped to the API key. At most 1000 recipients. `type` (default template) picks the message: a customer-service type carries its fields under its name (`{"type":"text","text":{"content":"您好"}}`), may only go within the user\'s window (GET /api/users/:openid), and may carry a `fallback` template sent instead when the window is closed. A `data` key the template does not have is 422 naming the template\'s keys (GET /api/channels/:id/templates lists them), when the channel\'s template list can be read within 1 s; otherwise the send is accepted unchecked.',
    },
  })
  .get('/messages/:messageId', ({ params }) => deps.send.get(params.messageId), {
    scope: 'read',
    params: z.object({ messageId: z.string() }),
    response: { 200: MessageBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    detail: { tags: ['Sending'], summary: 'One message: status, attempts, errcode/error, WeChat msgid' },
  })
  .get('/messages', ({ query }) => deps.send.list(query), {
    scope: 'read',
    query: MessageQuery,
    response: { 200: MessageList, 401: ErrorBody, 403: ErrorBody, 422: ErrorBody },
    detail: { tags: ['Sending'], summary: 'List messages, newest first (filters: channel, subject, status, since), paginated' },
  })
