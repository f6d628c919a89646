/**
 * @module GET /metrics: Prometheus text format 0.0.4.
 *
 * No API key, on purpose: Prometheus scrapes without one, and what it shows is counts and durations per
 * route, channel and endpoint — no tokens, secrets, OpenIDs or message contents. It must still not be
 * public: nginx (deploy/) answers /metrics only to the team's network, as it does for /api and /docs.
 */
import { Elysia } from 'elysia'
import type { Metrics } from '../metrics'

export const metricsRoutes = (deps: { metrics: Pick<Metrics, 'render' | 'contentType'> }) => new Elysia({ name: 'routes/metrics' })
  .get('/metrics', async () => new Response(await deps.metrics.render(), { headers: { 'content-type': deps.metrics.contentType } }), {
    detail: {
      tags: ['Operations'],
      summary: 'Prometheus metrics (text format 0.0.4); no API key: restrict it at the proxy',
      responses: { 200: { description: 'The metrics', content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } } } },
    },
  })
