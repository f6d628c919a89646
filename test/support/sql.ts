/**
 * Raw SQL in tests, on whichever store the test server runs (test-db.ts): what a test checks or arranges below
 * the API (a row's column, a count, a row put back to `sending` as a crash leaves it). `?` placeholders on both
 * (turned into $1, $2 … on PostgreSQL; camelCase aliases are quoted there). Bun.SQL returns int8 (count(*), the millisecond columns) as strings:
 * integers of up to 15 digits come back as numbers here (no text column the tests read holds one), booleans
 * as 1/0 like SQLite's.
 */
import type { Db, Store } from '../../src/store/contract'
import type { PostgresDb } from '../../src/store/postgres/db'
import type { SqliteDb } from '../../src/store/sqlite/db'

type Row = Record<string, unknown>

const normalize = (r: Row): Row => {
  const out: Row = {}
  for (const [k, v] of Object.entries(r)) out[k] = typeof v === 'string' && /^-?\d{1,15}$/.test(v) ? Number(v) : typeof v === 'boolean' ? (v ? 1 : 0) : v
  return out
}

export interface TestSql {
  all<T = Row>(text: string, ...params: unknown[]): Promise<T[]>
  /** The first row, or null (as bun:sqlite's get). */
  get<T = Row>(text: string, ...params: unknown[]): Promise<T | null>
  run(text: string, ...params: unknown[]): Promise<void>
}

export const testSql = (db: Db): TestSql => {
  const all = async <T>(text: string, ...params: unknown[]): Promise<T[]> => {
    if (db.kind === 'sqlite') return (db as SqliteDb).sqlite.query(text).all(...(params as never[])) as T[]
    let i = 0
    // PostgreSQL folds unquoted names to lower case: a camelCase alias (AS failedAt) is quoted to keep its case.
    const pgText = text.replace(/\?/g, () => `$${++i}`).replace(/\bAS ([a-z]+[A-Z]\w*)/g, 'AS "$1"')
    return ((await (db as PostgresDb).sql.unsafe(pgText, params)) as Row[]).map(normalize) as T[]
  }
  return {
    all,
    get: async (text, ...params) => ((await all(text, ...params))[0] ?? null) as never,
    run: async (text, ...params) => { await all(text, ...params) },
  }
}

/**
 * Makes writes fail as a full disk would (the trigger `name` raises `message` on `event` of `table` where `when`,
 * a condition on NEW that both dialects read alike): SQLite's RAISE(ABORT), PostgreSQL's RAISE EXCEPTION.
 */
export const failWrites = async (db: Db, name: string, o: { event: string; table: string; when?: string; message: string }): Promise<void> => {
  const when = o.when ?? 'true'
  if (db.kind === 'sqlite') {
    (db as SqliteDb).sqlite.exec(`CREATE TRIGGER ${name} BEFORE ${o.event} ON ${o.table} WHEN ${when} BEGIN SELECT RAISE(ABORT, '${o.message}'); END`)
    return
  }
  const sql = (db as PostgresDb).sql
  await sql.unsafe(`CREATE FUNCTION ${name}_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF ${when} THEN RAISE EXCEPTION '${o.message}'; END IF; RETURN NEW; END $$`)
  await sql.unsafe(`CREATE TRIGGER ${name} BEFORE ${o.event} ON ${o.table} FOR EACH ROW EXECUTE FUNCTION ${name}_fn()`)
}

export const stopFailingWrites = async (db: Db, name: string, table: string): Promise<void> => {
  if (db.kind === 'sqlite') { (db as SqliteDb).sqlite.exec(`DROP TRIGGER IF EXISTS ${name}`); return }
  const sql = (db as PostgresDb).sql
  await sql.unsafe(`DROP TRIGGER IF EXISTS ${name} ON ${table}`)
  await sql.unsafe(`DROP FUNCTION IF EXISTS ${name}_fn()`)
}

let effects = 0
/**
 * A rule's effect for the exactly-once tests, written through the transaction's store (so it commits with the
 * callback or not at all, on either store): a row of the leases table named `effect:<key>:<n>`. Count them
 * with effectCount.
 */
export const writeEffect = async (store: Store, key: string): Promise<void> => {
  await store.leases.acquire(`effect:${key}:${++effects}`, 'test', 0, 0)
}
export const effectCount = async (db: Db, key?: string): Promise<number> =>
  (await testSql(db).get<{ n: number }>(`SELECT count(*) AS n FROM leases WHERE name LIKE ?`, key === undefined ? 'effect:%' : `effect:${key}:%`))!.n
/** The keys of the effects written, one per effect (oldest first). */
export const effectKeys = async (db: Db): Promise<string[]> =>
  (await testSql(db).all<{ name: string }>(`SELECT name FROM leases WHERE name LIKE 'effect:%'`)).map((r) => r.name.split(':')[1]!)
