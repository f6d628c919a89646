/**
 * @module The Bearer guard every /api route uses: `{ scope: 'read' }` on a route resolves the caller's
 * principal or answers 401/403 with the documented error shape, and marks the route as secured in the
 * OpenAPI document.
 */
import { Elysia } from 'elysia'
import type { ApiKeyService, Principal, Scope } from '../domain/apikey.service'

export const bearerOf = (authorization: string | undefined): string | undefined => {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
  return m?.[1]
}

const principals = new WeakMap<Request, Principal>()

export const auth = (apiKeys: ApiKeyService) => new Elysia({ name: 'http/auth' })
  .macro({
    scope: (needed: Scope) => ({
      detail: { security: [{ bearer: [] }] },
      // Checked in `transform`, before the body is validated: a caller without a valid key learns nothing
      // about the route's rules (401/403 wins over 422). The principal is kept per request for the handler.
      transform: async ({ request }: { request: Request }) => {
        const principal = await apiKeys.authenticate(bearerOf(request.headers.get('authorization') ?? undefined))
        apiKeys.authorize(principal, needed)
        principals.set(request, principal)
      },
      resolve: ({ request }) => ({ principal: principals.get(request)! }),
    }),
  })
