/** @module The drizzle handle every PostgreSQL repository takes: the pool's database or one transaction (both a PgDatabase). */
import type { ExtractTablesWithRelations } from 'drizzle-orm'
import type { BunSQLQueryResultHKT } from 'drizzle-orm/bun-sql'
import type { PgDatabase } from 'drizzle-orm/pg-core'
import type * as schema from './schema'

export type PgOrm = PgDatabase<BunSQLQueryResultHKT, typeof schema, ExtractTablesWithRelations<typeof schema>>

/**
 * The rows of a raw `sql` statement (orm.execute): Bun.SQL answers objects keyed by the SELECT's aliases,
 * with int8 (bigint, count(*)) as strings, int4 as numbers and booleans as booleans; callers cast or Number().
 */
export const rowsOf = async <T>(p: PromiseLike<unknown>): Promise<T[]> => [...((await p) as Iterable<T>)]
