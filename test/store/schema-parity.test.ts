/**
 * The SQLite schema (src/store/sqlite/schema.ts) and the PostgreSQL one (src/store/postgres/schema.ts) describe the
 * same store (issue 14): the same tables, columns (name, kind of value, NOT NULL, primary key, default),
 * indexes (name, columns, uniqueness, partial condition) and foreign keys. Any change to one without the
 * other fails here. The PostgreSQL migrations (migrations-pg/, drizzle-kit) are applied to a real throwaway
 * cluster and checked against the schema.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { getTableConfig as pgConfig, PgTable } from 'drizzle-orm/pg-core'
import { getTableConfig as sqliteConfig, SQLiteTable } from 'drizzle-orm/sqlite-core'
import * as pgSchema from '../../src/store/postgres/schema'
import * as sqliteSchema from '../../src/store/sqlite/schema'
import { postgresMissing, postgresRequired, startPostgres, type TestPostgres } from '../support/postgres'

/** SQL text of a drizzle `sql` condition (the partial indexes' WHERE). */
const sqlText = (w: unknown): string | undefined =>
  w === undefined ? undefined : ((w as { queryChunks: { value?: unknown }[] }).queryChunks.map((c) => Array.isArray(c.value) ? c.value.join('') : String(c.value ?? '')).join(''))

interface Shape {
  columns: Record<string, { kind: string; notNull: boolean; primary: boolean; default?: unknown; hasDefault: boolean }>
  indexes: Record<string, { columns: string[]; unique: boolean; where?: string }>
  foreignKeys: string[]
}
type Config = ReturnType<typeof sqliteConfig> | ReturnType<typeof pgConfig>
const shapeOf = (c: Config): Shape => ({
  columns: Object.fromEntries(c.columns.map((col) => [col.name, { kind: col.dataType, notNull: col.notNull, primary: col.primary, default: col.default, hasDefault: col.hasDefault }])),
  indexes: Object.fromEntries(c.indexes.map((i) => [i.config.name, {
    columns: i.config.columns.map((x) => (x as { name: string }).name),
    unique: Boolean(i.config.unique),
    ...(i.config.where !== undefined ? { where: sqlText(i.config.where) } : {}),
  }])),
  foreignKeys: c.foreignKeys.map((f) => {
    const r = f.reference()
    return `${r.columns.map((x) => x.name).join(',')} → ${r.foreignTable[Symbol.for('drizzle:Name') as unknown as keyof typeof r.foreignTable] as unknown as string}(${r.foreignColumns.map((x) => x.name).join(',')}) on delete ${f.onDelete ?? 'no action'}`
  }).sort(),
})

const sqliteTables = Object.fromEntries((Object.values(sqliteSchema) as unknown[]).filter((t): t is SQLiteTable => t instanceof SQLiteTable).map((t) => [sqliteConfig(t).name, shapeOf(sqliteConfig(t))]))
const pgTables = Object.fromEntries((Object.values(pgSchema) as unknown[]).filter((t): t is PgTable => t instanceof PgTable).map((t) => [pgConfig(t).name, shapeOf(pgConfig(t))]))

describe('the SQLite and PostgreSQL schemas agree', () => {
  test('the same tables', () => {
    expect(Object.keys(pgTables).sort()).toEqual(Object.keys(sqliteTables).sort())
    expect(Object.keys(sqliteTables).length).toBeGreaterThanOrEqual(13)
  })
  for (const name of Object.keys(sqliteTables)) {
    test(`${name}: the same columns, indexes, uniqueness and foreign keys`, () => {
      expect(pgTables[name]).toEqual(sqliteTables[name]!)
    })
  }
})

const missing = postgresMissing()
if (missing && postgresRequired) throw new Error(`TEST_POSTGRES=required but ${missing}`)

describe.skipIf(missing !== undefined)(`the PostgreSQL migrations${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pg: TestPostgres
  let sql: InstanceType<typeof Bun.SQL>
  beforeAll(async () => {
    pg = await startPostgres()
    sql = new Bun.SQL(pg.url)
  }, 60_000)
  afterAll(async () => { await sql?.close(); await pg?.stop() })

  test('migrations-pg/ applies to an empty database and makes every table, column and index of the schema', async () => {
    const dir = join(import.meta.dir, '..', '..', 'migrations-pg')
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.sql')).sort()) {
      for (const stmt of readFileSync(join(dir, f), 'utf8').split('--> statement-breakpoint')) if (stmt.trim()) await sql.unsafe(stmt)
    }
    const cols = (await sql`SELECT table_name AS t, column_name AS c, is_nullable AS n FROM information_schema.columns WHERE table_schema = 'public'`) as { t: string; c: string; n: string }[]
    for (const [table, shape] of Object.entries(pgTables)) {
      // PostgreSQL's own columns, outside the drizzle schema (the feed's transaction id: postgresOnlyColumns).
      const have = cols.filter((r) => r.t === table && !(pgSchema.postgresOnlyColumns as Record<string, string[]>)[table]?.includes(r.c))
      expect(have.map((r) => r.c).sort()).toEqual(Object.keys(shape.columns).sort())
      for (const r of have) expect(`${table}.${r.c} nullable ${r.n}`).toBe(`${table}.${r.c} nullable ${shape.columns[r.c]!.notNull ? 'NO' : 'YES'}`)
    }
    const idx = ((await sql`SELECT indexname AS i FROM pg_indexes WHERE schemaname = 'public'`) as { i: string }[]).map((r) => r.i)
    for (const shape of Object.values(pgTables)) for (const i of Object.keys(shape.indexes)) expect(idx).toContain(i)
  })
})
