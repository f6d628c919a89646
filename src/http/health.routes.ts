/** @module Liveness and readiness. */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { Db } from '../store/contract'

export const healthRoutes = (deps: { db: Db }) => new Elysia({ name: 'routes/health' })
  .get('/healthz', () => ({ status: 'ok' as const }), {
    response: { 200: z.object({ status: z.literal('ok') }) },
    detail: { tags: ['Operations'], summary: 'Liveness: the process answers' },
  })
  .get('/readyz', async ({ set }) => {
    if (await deps.db.ping()) return { status: 'ok' as const }
    set.status = 503
    return { status: 'unavailable' as const }
  }, {
    response: { 200: z.object({ status: z.literal('ok') }), 503: z.object({ status: z.literal('unavailable') }) },
    detail: { tags: ['Operations'], summary: 'Readiness: the database answers' },
  })
