/**
 * @module The one error renderer for /api: `{ error: { code, message, details } }` with the status of
 * the AppError, 400 for malformed JSON, 422 for a body that breaks a rule (the message names the field).
 * Callback routes render their own answers and never reach this.
 */
import { Elysia } from 'elysia'
import { z } from 'zod'
import { AppError } from '../lib/errors'
import type { Logger } from '../lib/log'

export const ErrorBody = z.object({
  error: z.object({
    code: z.string().meta({ example: 'validation_failed' }),
    message: z.string().meta({ example: 'subject: must not be empty' }),
    details: z.unknown().optional(),
  }),
}).meta({ id: 'Error' })
export type ErrorBody = z.infer<typeof ErrorBody>

export const errorBody = (code: string, message: string, details?: unknown): ErrorBody =>
  ({ error: { code, message, ...(details === undefined ? {} : { details }) } })

/**
 * API bodies are JSON and small (1,000 recipients with their data fit in far less); a declared length
 * above this is refused before a byte is read, in the error shape. Bun's own hard limit (server.ts) sits
 * above it and only meets bodies sent without a length.
 */
export const API_BODY_LIMIT = 1024 * 1024

export const bodyTooLarge = (request: Request, limit = API_BODY_LIMIT): Response | undefined => {
  const length = Number(request.headers.get('content-length') ?? 0)
  if (!(length > limit)) return undefined
  return Response.json(errorBody('payload_too_large', `the request body is ${length} bytes; the limit is ${limit} bytes`, { limit }), { status: 413 })
}

/** Elysia's validation error carries a JSON message; turn it into "field: problem". */
const describeValidation = (error: unknown): { message: string; details?: unknown } => {
  try {
    const v = JSON.parse((error as Error).message) as { on?: string; property?: string; message?: string; errors?: { path?: unknown[]; message?: string }[] }
    const first = v.errors?.[0]
    const path = first?.path && first.path.length > 0 ? first.path.join('.') : (v.property ?? '').replace(/^\//, '').replace(/\//g, '.')
    const where = path || v.on || 'request'
    return { message: `${where}: ${first?.message ?? v.message ?? 'invalid value'}`, details: v.errors?.map((e) => ({ path: e.path, message: e.message })) }
  } catch {
    return { message: 'request: invalid value' }
  }
}

export const errorMapper = (log: Logger) => new Elysia({ name: 'http/errors' })
  .onError({ as: 'global' }, ({ code, error: thrown, set }) => {
    // Elysia wraps whatever a parse hook throws in its ParseError; ours (json-body.ts) say what was wrong.
    const cause = code === 'PARSE' ? (thrown as { cause?: unknown }).cause : undefined
    const error = cause instanceof AppError ? cause : thrown
    if (error instanceof AppError) {
      set.status = error.status
      if (error.status >= 500) log.error('request failed', { code: error.code, error })
      return errorBody(error.code, error.message, error.details)
    }
    switch (code) {
      case 'VALIDATION': {
        set.status = 422
        const d = describeValidation(error)
        return errorBody('validation_failed', d.message, d.details)
      }
      case 'PARSE':
        set.status = 400
        return errorBody('malformed_json', 'the request body is not valid JSON')
      case 'NOT_FOUND':
        set.status = 404
        return errorBody('not_found', 'no such route')
      case 'INVALID_COOKIE_SIGNATURE':
        set.status = 400
        return errorBody('bad_request', 'invalid cookie')
      default: {
        const status = (error as { status?: number })?.status
        if (typeof status === 'number' && status >= 400 && status < 500) {
          set.status = status
          return errorBody(status === 413 ? 'payload_too_large' : 'bad_request', (error as Error).message || 'bad request')
        }
        log.error('unexpected error', { error })
        set.status = 500
        return errorBody('internal', 'internal error; see the server log')
      }
    }
  })
