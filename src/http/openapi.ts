/**
 * @module OpenAPI document at /docs/json and Swagger UI at /docs, built from the zod schemas of the
 * routes. The Swagger UI assets are embedded and served by us: the server may sit in a closed network.
 */
import { openapi } from '@elysiajs/openapi'
import { Elysia } from 'elysia'
import { z } from 'zod'
import swaggerCss from 'swagger-ui-dist/swagger-ui.css' with { type: 'text' }
import swaggerJs from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'text' }

export const docs = (version: string) => new Elysia({ name: 'http/openapi' })
  .get('/docs/assets/swagger-ui.css', () => new Response(swaggerCss, { headers: { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=86400' } }), { detail: { hide: true } })
  .get('/docs/assets/swagger-ui-bundle.js', () => new Response(swaggerJs, { headers: { 'content-type': 'application/javascript; charset=utf-8', 'cache-control': 'public, max-age=86400' } }), { detail: { hide: true } })
  .use(openapi({
    path: '/docs',
    specPath: '/docs/json',
    provider: 'swagger-ui',
    swagger: { cdn: '/docs/assets/swagger-ui-bundle.js', theme: '/docs/assets/swagger-ui.css', autoDarkMode: false },
    mapJsonSchema: { zod: z.toJSONSchema },
    documentation: {
      info: {
        title: 'wxgate',
        version,
        description: 'WeChat Official Account gateway: callbacks, QR binding, template messages, the access token. Every /api route takes `Authorization: Bearer <api key>`.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key from `wxgate apikey create`, or WXGATE_ADMIN_TOKEN' } },
      },
    },
  }))
