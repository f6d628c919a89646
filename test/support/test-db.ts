/**
 * Which store the tests run on (issue 14: the whole suite runs twice in .ci/run). TEST_DB=postgres: every
 * test server gets a fresh database of its own in one throwaway PostgreSQL cluster per test process (started
 * on first use, stopped after the last test file: teardown.ts); otherwise a SQLite file in a temporary folder, as before.
 * A test file that is about SQLite itself (its file, its locks, its group commit) carries the line
 * `// @sqlite-only: <why>` and scripts/test-postgres.ts leaves it out of the PostgreSQL run, printing why.
 */
import { rmSync } from 'node:fs'
import type { Db } from '../../src/store/contract'
import { openPostgres } from '../../src/store/postgres/db'
import { startPostgres, type TestPostgres } from './postgres'

export const testDbKind: 'sqlite' | 'postgres' = process.env.TEST_DB === 'postgres' ? 'postgres' : 'sqlite'
export const onPostgres = testDbKind === 'postgres'

let cluster: Promise<TestPostgres> | undefined
let n = 0

/** The cluster of this test process (TEST_DB=postgres), started on first use. */
export const testCluster = (): Promise<TestPostgres> => (cluster ??= startPostgres({ maxConnections: 300 }))

/** Stops the cluster of this test process, if one was started: test/support/teardown.ts, after every test file. */
export const stopTestCluster = async (): Promise<void> => {
  const c = cluster
  cluster = undefined
  if (c) await (await c).stop()
}

/** A new empty database in the test cluster; its postgres:// URL. */
export const freshPostgresUrl = async (): Promise<string> => {
  const pg = await testCluster()
  const name = `t${process.pid}_${++n}`
  const admin = new Bun.SQL(pg.url.replace(/\/wxgate_test$/, '/postgres'))
  try { await admin.unsafe(`CREATE DATABASE ${name}`) } finally { await admin.close() }
  return pg.url.replace(/\/wxgate_test$/, `/${name}`)
}

/**
 * The store a test server runs on: WXGATE_DB for it and, on PostgreSQL, the Db opened and migrated (on SQLite
 * createDeps opens the file itself). `sqlitePath` is the file used on SQLite.
 */
export const testStore = async (sqlitePath: string): Promise<{ url: string; db?: Db }> => {
  if (!onPostgres) return { url: sqlitePath }
  const url = await freshPostgresUrl()
  const db = await openPostgres(url, { max: 4 })
  await db.migrate()
  return { url, db }
}

/** WXGATE_DB for a child process (the CLI, a gateway binary): the file on SQLite, a fresh database on PostgreSQL. */
export const testDbUrl = async (sqlitePath: string): Promise<string> => (onPostgres ? freshPostgresUrl() : sqlitePath)

export const removeQuietly = (dir: string) => rmSync(dir, { recursive: true, force: true })

/** The rows of a query on the database at WXGATE_DB `url` (a file or postgres://), opened for this one query. */
export const queryAt = async <T = Record<string, unknown>>(url: string, query: string): Promise<T[]> => {
  if (url.startsWith('postgres')) {
    const sql = new Bun.SQL(url)
    try {
      // count(*) comes back as a string from Bun.SQL: as a number here, like SQLite's.
      return ((await sql.unsafe(query)) as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === 'n' ? Number(v) : v]))) as T[]
    } finally { await sql.close() }
  }
  const { Database } = await import('bun:sqlite')
  const db = new Database(url, { readonly: true })
  try { return db.query(query).all() as T[] } finally { db.close() }
}

/** count(*) AS n of a query on the database at `url`. */
export const countAt = async (url: string, query: string): Promise<number> => (await queryAt<{ n: number }>(url, query))[0]!.n
