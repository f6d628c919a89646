/**
 * @module `GET /api/channels/:id/templates` (scope read, SPEC §4 "Sending"): the account's message templates
 * with their fields, so that a send's `data` can be written from them.
 */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { ApiKeyService } from '../domain/apikey.service'
import type { TemplatesService } from '../domain/templates.service'
import { auth } from './auth'
import { ErrorBody } from './errors'

export const TemplateFieldBody = z.object({
  key: z.string().meta({ description: 'The data key to send, e.g. thing1', example: 'thing1' }),
  type: z.string().meta({ description: 'The key without its digits, e.g. thing (its value rules: see POST /api/send)', example: 'thing' }),
  label: z.string().meta({ description: 'The field name shown to the user, from the template content', example: '商品名称' }),
}).meta({ id: 'TemplateField' })

export const TemplateBody = z.object({
  templateId: z.string(),
  title: z.string().meta({ example: '订单支付成功通知' }),
  fields: z.array(TemplateFieldBody),
  example: z.string().optional().meta({ description: "WeChat's sample of a filled-in message" }),
}).meta({ id: 'Template' })

export const TemplateList = z.object({ items: z.array(TemplateBody) }).meta({ id: 'TemplateList' })

export const templatesRoutes = (deps: { templates: TemplatesService; apiKeys: ApiKeyService }) => new Elysia({ name: 'routes/templates', prefix: '/api' })
  .use(auth(deps.apiKeys))
  .get('/channels/:id/templates', async ({ params }) => ({ items: await deps.templates.list(params.id) }), {
    scope: 'read',
    params: z.object({ id: z.string() }),
    response: { 200: TemplateList, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 502: ErrorBody, 503: ErrorBody },
    detail: {
      tags: ['Sending'],
      summary: "The channel's message templates (我的模板) with their data keys and Chinese labels, from WeChat, cached 10 minutes",
      description: 'From WeChat get_all_private_template. Each field is a `{{key.DATA}}` of the template content: `key` is what `POST /api/send` takes in `data`; a send with a key the template does not have is 422. 502 when WeChat refuses the call (details: errcode, errmsg), 503 when its daily quota is used up.',
    },
  })
