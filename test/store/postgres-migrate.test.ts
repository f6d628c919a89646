// @first-pass-only: PostgreSQL on a cluster of its own (TEST_POSTGRES=required in .ci/run)
/**
 * PostgreSQL migrations (issue 14): the embedded manifest matches migrations-pg/ file for file, and two
 * instances starting together on an empty database migrate it once (the advisory lock), on a real cluster.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { migratePostgres } from '../../src/store/postgres/migrate'
import { migrations } from '../../src/store/postgres/migrations.manifest'
import { postgresMissing, postgresRequired, startPostgres, type TestPostgres } from '../support/postgres'

test('the embedded PostgreSQL manifest and migrations-pg/ agree, file for file and byte for byte', () => {
  const dir = join(import.meta.dir, '..', '..', 'migrations-pg')
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()
  expect(migrations.map((m) => `${m.name}.sql`)).toEqual(files)
  for (const m of migrations) expect(m.sql).toBe(readFileSync(join(dir, `${m.name}.sql`), 'utf8'))
})

const missing = postgresMissing()
if (missing && postgresRequired) throw new Error(`TEST_POSTGRES=required but ${missing}`)

describe.skipIf(missing !== undefined)(`PostgreSQL migrations on a real cluster${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pg: TestPostgres
  const pools: InstanceType<typeof Bun.SQL>[] = []
  beforeAll(async () => { pg = await startPostgres() }, 60_000)
  afterAll(async () => { for (const p of pools) await p.close(); await pg?.stop() })

  test('two instances starting together on an empty database: migrated once, the other finds nothing to do; again: nothing', async () => {
    const a = new Bun.SQL(pg.url)
    const b = new Bun.SQL(pg.url)
    pools.push(a, b)
    const [ra, rb] = await Promise.all([migratePostgres(a), migratePostgres(b)])
    expect([ra, rb].map((r) => r.length).sort()).toEqual([0, migrations.length])
    expect([...ra, ...rb]).toEqual(migrations.map((m) => m.name))
    expect(await migratePostgres(a)).toEqual([])
    const rows = (await a`SELECT name FROM _wxgate_migrations ORDER BY name`) as { name: string }[]
    expect(rows.map((r) => r.name)).toEqual(migrations.map((m) => m.name))
    const tables = (await a`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_wxgate_migrations'`) as { n: number }[]
    expect(tables[0]!.n).toBeGreaterThanOrEqual(13)
  })
})
