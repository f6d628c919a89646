/**
 * @module Temporary media (SPEC §7 "Media"): `POST /api/media` (scope send) uploads a file for customer-service
 * messages and reply hooks; `GET /api/media/:mediaId` (scope read) streams one from WeChat (an image or voice a
 * user sent). The upload's body is not the API's JSON (the 1 MiB reader in app.ts skips multipart): it is read
 * here as it streams, each part held to its own limit, so no body costs more memory than its type's limit.
 */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { ApiKeyService } from '../domain/apikey.service'
import { MEDIA_BODY_LIMIT, MEDIA_LIMITS, MEDIA_MAX_BYTES, MEDIA_TYPES, type MediaService, type MediaType } from '../domain/media.service'
import { PayloadTooLargeError, ValidationError } from '../lib/errors'
import { boundaryOf, readMultipart, type MultipartPart } from '../lib/multipart'
import { auth } from './auth'
import { API_BODY_LIMIT, ErrorBody } from './errors'

/** The text fields (`type`, `channel`) are short; one longer than this is not what this route takes. */
const FIELD_LIMIT = 1024

/** The body limit server.ts applies to a declared Content-Length before the app sees the request. */
export const bodyLimitFor = (request: Request): number =>
  request.method === 'POST' && new URL(request.url).pathname === '/api/media' ? MEDIA_BODY_LIMIT : API_BODY_LIMIT

const human = (bytes: number) => (bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MB` : `${bytes / 1024} KB`)
const typeList = MEDIA_TYPES.join(', ')

const fileTooLarge = (type: MediaType | undefined, limit: number) => new PayloadTooLargeError(
  type
    ? `file: over the ${type} limit of ${limit} bytes (${human(limit)}, WeChat's limit for ${type}); send a smaller file`
    : `file: over ${limit} bytes (${human(limit)}), the largest any media type may be`,
  { details: { field: 'file', ...(type ? { type } : {}), limit } },
)

const mediaTypeOf = (value: string): MediaType => {
  if ((MEDIA_TYPES as readonly string[]).includes(value)) return value as MediaType
  throw new ValidationError(`type: must be one of ${typeList} (got '${value.slice(0, 40)}')`, { details: { field: 'type', allowed: MEDIA_TYPES } })
}

const text = (p: MultipartPart | undefined) => (p ? new TextDecoder().decode(p.bytes).trim() : undefined)

/** Reads and checks the upload form; throws 413/422 in the error shape, before any WeChat call. */
export const readMediaForm = async (request: Request): Promise<{ type: MediaType; channel?: string; bytes: Uint8Array; filename?: string; contentType?: string }> => {
  const boundary = boundaryOf(request.headers.get('content-type'))
  if (!boundary || !request.body) {
    throw new ValidationError(`body: must be multipart/form-data with the fields type (${typeList}) and file`)
  }
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (declared > MEDIA_BODY_LIMIT) {
    void request.body.cancel().catch(() => undefined)
    throw fileTooLarge(undefined, MEDIA_MAX_BYTES)
  }
  const parts = await readMultipart(request.body, boundary, {
    limitFor: (head, before) => {
      if (head.name !== 'file') return { limit: FIELD_LIMIT, tooLarge: () => new ValidationError(`${head.name.slice(0, 40)}: over ${FIELD_LIMIT} bytes`) }
      // A `type` sent before the file (curl -F and browsers keep the order given) sets the file's own limit;
      // a file sent first is held to the largest limit and judged once the type is known.
      const typeText = text(before.find((p) => p.name === 'type'))
      const type = typeText === undefined ? undefined : mediaTypeOf(typeText)
      const limit = type ? MEDIA_LIMITS[type] : MEDIA_MAX_BYTES
      return { limit, tooLarge: () => fileTooLarge(type, limit) }
    },
    malformed: (why) => new ValidationError(`body: not a readable multipart/form-data body (${why})`),
  })
  const typeText = text(parts.find((p) => p.name === 'type'))
  if (typeText === undefined) throw new ValidationError(`type: required, one of ${typeList}`, { details: { field: 'type', allowed: MEDIA_TYPES } })
  const type = mediaTypeOf(typeText)
  const file = parts.find((p) => p.name === 'file')
  if (!file) throw new ValidationError('file: required (the media file as a form part named file)', { details: { field: 'file' } })
  if (file.bytes.byteLength > MEDIA_LIMITS[type]) throw fileTooLarge(type, MEDIA_LIMITS[type])
  if (file.bytes.byteLength === 0) throw new ValidationError('file: empty', { details: { field: 'file' } })
  const channel = text(parts.find((p) => p.name === 'channel'))
  return { type, bytes: file.bytes, ...(channel ? { channel } : {}), ...(file.filename ? { filename: file.filename } : {}), ...(file.contentType ? { contentType: file.contentType } : {}) }
}

export const MediaAnswer = z.object({
  mediaId: z.string().meta({ description: 'For customer-service messages and reply hooks (image, voice, video, thumbMediaId)' }),
  type: z.enum(MEDIA_TYPES),
  expiresAt: z.string().meta({ format: 'date-time', description: 'When WeChat forgets the media id (3 days after the upload)' }),
}).meta({ id: 'Media' })

const uploadForm = {
  type: 'object' as const,
  required: ['type', 'file'],
  properties: {
    type: { type: 'string' as const, enum: [...MEDIA_TYPES] },
    file: { type: 'string' as const, format: 'binary', description: 'image ≤ 10 MB (PNG/JPEG/GIF), voice ≤ 2 MB (AMR/MP3, ≤ 60 s), video ≤ 10 MB (MP4), thumb ≤ 64 KB (JPG)' },
    channel: { type: 'string' as const, description: 'Default: WXGATE_CHANNEL' },
  },
}

/** The body placeholder while the stream is left for readMediaForm. */
const UNREAD = Symbol('multipart body left unread')

/** The error shape as the other routes document it (inlined, titled; no $schema or id inside an OpenAPI document). */
const { $schema: _s, id: _id, ...errorRest } = z.toJSONSchema(ErrorBody) as Record<string, unknown>
const errorSchema = { title: 'Error', ...errorRest }

/** Headers of WeChat's file answer worth handing on (never its cookies or its caching of our token URL). */
const PASSED_HEADERS = ['content-type', 'content-disposition', 'content-length'] as const

export const mediaRoutes = (deps: { media: MediaService; apiKeys: ApiKeyService }) => new Elysia({ name: 'routes/media', prefix: '/api' })
  .use(auth(deps.apiKeys))
  .post('/media', async ({ request, set }) => {
    const form = await readMediaForm(request)
    const r = await deps.media.upload(form)
    set.status = 201
    return { mediaId: r.mediaId, type: r.type, expiresAt: r.expiresAt }
  }, {
    scope: 'send',
    // The body is read by readMediaForm as it streams: Elysia's own multipart parser would buffer it whole.
    // A parse hook that answers without reading stops it (`parse: 'none'` fails in Elysia 1.4.30 when a
    // global parse hook exists, as app.ts has: "parser['none'] is not a function").
    parse: () => UNREAD,
    response: { 201: MediaAnswer, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 413: ErrorBody, 422: ErrorBody, 502: ErrorBody, 503: ErrorBody },
    detail: {
      tags: ['Media'],
      summary: 'Upload a temporary media (3 days) for customer-service messages and replies; the same file again reuses its media id',
      description: 'multipart/form-data with `type` (image, voice, video, thumb) before `file`, and optionally `channel`. Sizes are checked while the body is read, before any WeChat call: image 10 MB, voice 2 MB, video 10 MB, thumb 64 KB (MB = 1,048,576 bytes); a file over its limit is 413 naming the limit, an unknown type 422. The same bytes of the same type on the same channel, uploaded while the stored media id has more than an hour left, answer that id without calling WeChat. 502 when WeChat refuses the file (details: errcode, errmsg).',
      requestBody: { required: true, content: { 'multipart/form-data': { schema: uploadForm } } },
    },
  })
  .get('/media/:mediaId', async ({ params, query }) => {
    const d = await deps.media.download({ mediaId: params.mediaId, ...(query.channel ? { channel: query.channel } : {}) })
    // A video: WeChat's own answer, {"video_url": …} (a link to fetch the file from), passed on as it is.
    if ('json' in d) return d.json
    // Content-Length is handed on, but Bun 1.4 drops it on a streamed body and sends the file chunked
    // (oven-sh/bun#10507, open); buffering the file to keep it would cost up to 10 MB a download.
    const headers = new Headers({ 'cache-control': 'private, no-store' })
    for (const h of PASSED_HEADERS) {
      const v = d.file.headers.get(h)
      if (v !== null) headers.set(h, v)
    }
    return new Response(d.file.body, { status: 200, headers })
  }, {
    scope: 'read',
    params: z.object({ mediaId: z.string().min(1) }),
    // Strict: a misspelt `?chanel=` would otherwise fetch from the default channel and answer a puzzling 404.
    query: z.strictObject({ channel: z.string().min(1).optional().meta({ description: 'Default: WXGATE_CHANNEL' }) }),
    // No `response` hook: the OpenAPI plugin replaces detail.responses with it, and a file has no zod shape.
    detail: {
      tags: ['Media'],
      summary: "Stream a temporary media from WeChat (e.g. the image or voice of a user's message, its mediaId)",
      description: "The file as WeChat sends it, with its Content-Type and Content-Disposition, streamed (not held in memory; sent chunked, so without Content-Length). For a video WeChat answers a link instead: that JSON is passed on as it is, `{\"video_url\": \"…\"}`. 404 when WeChat does not know the id (40007: temporary media last 3 days, and a media id belongs to one account).",
      responses: {
        200: {
          description: 'The media file (any content type), or for a video `{ "video_url" }`',
          content: {
            'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
            'application/json': { schema: { type: 'object', properties: { video_url: { type: 'string' } }, required: ['video_url'] } },
          },
        },
        ...Object.fromEntries(([[401, 'No or bad API key'], [403, 'The key lacks scope read'], [404, 'Unknown channel, or WeChat does not know the media id (40007)'], [502, 'WeChat refused the call (details: errcode, errmsg)'], [503, "The channel's media/get quota is used up"]] as const)
          .map(([status, description]) => [status, { description, content: { 'application/json': { schema: errorSchema } } }])),
      },
    },
  })
