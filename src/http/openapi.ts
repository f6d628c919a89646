/**
 * @module OpenAPI document at /docs/json and Swagger UI at /docs, built from the zod schemas of the
 * routes. The Swagger UI assets are embedded and served by us: the server may sit in a closed network.
 */
import { openapi } from '@elysiajs/openapi'
import { Elysia } from 'elysia'
import { z } from 'zod'
// As files (embedded in the binary, read when asked for), not text: a 1.8 MB string in the bundle's source is
// loaded with it at every start (bench/startup: the idle RSS).
import swaggerCss from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import swaggerJs from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }

/**
 * zod puts a schema named with `.meta({ id })` under its own `$defs` and points at it with
 * `#/$defs/<id>`. In an OpenAPI document `#` is the document, not the schema, so Swagger UI cannot
 * resolve that and shows the body as "string": inline each definition (titled with its id) instead.
 */
const jsonSchema = (schema: z.ZodType) => {
  const { $schema: _, $defs = {}, ...root } = z.toJSONSchema(schema) as Record<string, unknown> & { $defs?: Record<string, unknown> }
  const inline = (v: unknown, seen: readonly string[]): unknown => {
    if (Array.isArray(v)) return v.map((x) => inline(x, seen))
    if (v === null || typeof v !== 'object') return v
    const { $ref, ...rest } = v as Record<string, unknown>
    const id = typeof $ref === 'string' ? /^#\/\$defs\/(.+)$/.exec($ref)?.[1] : undefined
    const own = Object.fromEntries(Object.entries(rest).map(([k, x]) => [k, inline(x, seen)]))
    // A recursive schema keeps its (unresolvable) reference rather than looping; none of ours is.
    if (id === undefined || !(id in $defs) || seen.includes(id)) return $ref === undefined ? own : { $ref, ...own }
    return { title: id, ...(inline($defs[id], [...seen, id]) as Record<string, unknown>), ...own }
  }
  return inline(root, [])
}

export const docs = (version: string) => new Elysia({ name: 'http/openapi' })
  .get('/docs/assets/swagger-ui.css', () => new Response(Bun.file(swaggerCss), { headers: { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=86400' } }), { detail: { hide: true } })
  .get('/docs/assets/swagger-ui-bundle.js', () => new Response(Bun.file(swaggerJs), { headers: { 'content-type': 'application/javascript; charset=utf-8', 'cache-control': 'public, max-age=86400' } }), { detail: { hide: true } })
  .use(openapi({
    path: '/docs',
    specPath: '/docs/json',
    provider: 'swagger-ui',
    swagger: { cdn: '/docs/assets/swagger-ui-bundle.js', theme: '/docs/assets/swagger-ui.css', autoDarkMode: false },
    mapJsonSchema: { zod: jsonSchema },
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
