/**
 * @module `wrapMethods(repo, wrap)`: the repository with every method passed through `wrap` (its other
 * fields as they are). Both stores guard their repositories this way: SQLite's transaction store refuses
 * calls after its job (sqlite/db.ts), PostgreSQL's turns drizzle's lazy queries into started Promises with
 * its errors mapped (postgres/store.ts).
 */
type Method = (...args: unknown[]) => unknown

export const wrapMethods = <R extends object>(repo: R, wrap: (method: Method) => Method): R => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(repo)) out[k] = typeof v === 'function' ? wrap(v as Method) : v
  return out as R
}
