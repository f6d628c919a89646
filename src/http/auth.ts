/**
 * @module The Bearer guard every /api route uses: `{ scope: 'read' }` on a route resolves the caller's
 * principal or answers 401/403 with the documented error shape, and marks the route as secured in the
 * OpenAPI document.
 */
import { Elysia } from 'elysia'
import type { ApiKeyService, Scope } from '../domain/apikey.service'

export const bearerOf = (authorization: string | undefined): string | undefined => {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
  return m?.[1]
}

export const auth = (apiKeys: ApiKeyService) => new Elysia({ name: 'http/auth' })
  .macro({
    scope: (needed: Scope) => ({
      detail: { security: [{ bearer: [] }] },
      resolve: ({ headers }) => {
        const principal = apiKeys.authenticate(bearerOf(headers.authorization))
        apiKeys.authorize(principal, needed)
        return { principal }
      },
    }),
  })
