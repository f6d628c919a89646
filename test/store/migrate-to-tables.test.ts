/**
 * `wxgate migrate-to` (src/store/migrate-to.ts) names each table of the schema once: copied (and checked empty in
 * the target) or deliberately left behind (leases, rate buckets, console sessions). A table added to the schema
 * without a place in either list fails here, before a move silently drops its rows.
 */
import { expect, test } from 'bun:test'
import { PgTable } from 'drizzle-orm/pg-core'
import { COPIED, NOT_COPIED } from '../../src/store/migrate-to'
import * as pgSchema from '../../src/store/postgres/schema'

test('every table of the schema is either copied or listed as not copied, never both', () => {
  const all = Object.entries(pgSchema).filter(([, t]) => t instanceof PgTable).map(([k]) => k).sort()
  expect([...COPIED, ...NOT_COPIED].sort()).toEqual(all)
  expect(NOT_COPIED).toContain('consoleSessions')
})
