// @first-pass-only: PostgreSQL on a cluster of its own (TEST_POSTGRES=required in .ci/run)
/**
 * The PostgreSQL primitives several instances will rest on (issue 14, PROTOCOL §9.6), on a real throwaway
 * cluster (test/support/postgres.ts) through Bun.SQL, each instance a pool of its own: the unique-index insert
 * that waits for another instance's uncommitted row (callback dedup), FOR UPDATE SKIP LOCKED (queue claims) and
 * transaction-level advisory locks (the token's single flight, migrations).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { postgresMissing, postgresRequired, startPostgres, type TestPostgres } from '../support/postgres'

const missing = postgresMissing()
if (missing && postgresRequired) throw new Error(`TEST_POSTGRES=required but ${missing}`)

describe.skipIf(missing !== undefined)(`PostgreSQL primitives${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pg: TestPostgres
  let a: InstanceType<typeof Bun.SQL>
  let b: InstanceType<typeof Bun.SQL>
  beforeAll(async () => {
    pg = await startPostgres()
    a = new Bun.SQL(pg.url)
    b = new Bun.SQL(pg.url)
    await a.unsafe('CREATE TABLE dedup (channel text NOT NULL, key text NOT NULL, reply text NOT NULL, UNIQUE (channel, key))')
    await a.unsafe('CREATE TABLE jobs (id int PRIMARY KEY, status text NOT NULL)')
    await a.unsafe("INSERT INTO jobs SELECT g, 'queued' FROM generate_series(1, 3) g")
  }, 60_000)
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await pg?.stop()
  })

  test('the server is PostgreSQL 14 or newer, on loopback', async () => {
    const [{ v }] = await a`SELECT current_setting('server_version_num')::int AS v`
    expect(v).toBeGreaterThanOrEqual(140000)
  })

  test('an insert that meets another instance\'s uncommitted row on the unique index waits for it, then conflicts (no second effect)', async () => {
    let bDone = 0
    let aCommitted = 0
    let other: Promise<unknown[]> | undefined
    await a.begin(async (tx) => {
      expect((await tx`INSERT INTO dedup VALUES ('c', 'msg:1', 'first reply') ON CONFLICT DO NOTHING RETURNING reply`).length).toBe(1)
      other = b`INSERT INTO dedup VALUES ('c', 'msg:1', 'second reply') ON CONFLICT DO NOTHING RETURNING reply`.then((rows) => { bDone = performance.now(); return rows })
      await Bun.sleep(300)
      expect(bDone).toBe(0) // still waiting on a's row
      aCommitted = performance.now()
    })
    const rows = await other!
    expect(rows).toHaveLength(0)
    expect(bDone).toBeGreaterThanOrEqual(aCommitted)
    const [{ reply }] = await b`SELECT reply FROM dedup WHERE channel = 'c' AND key = 'msg:1'`
    expect(reply).toBe('first reply')
  })

  test('FOR UPDATE SKIP LOCKED: a row claimed by one instance is skipped by the other, not waited for', async () => {
    await a.begin(async (tx) => {
      const [mine] = await tx`SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`
      expect(mine.id).toBe(1)
      const t0 = performance.now()
      const theirs = await b.begin(async (tx2) => tx2`SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`)
      expect(theirs[0].id).toBe(2)
      expect(performance.now() - t0).toBeLessThan(1_000)
    })
  })

  test('a transaction-level advisory lock: one holder at a time, released with the transaction', async () => {
    await a.begin(async (tx) => {
      expect((await tx`SELECT pg_try_advisory_xact_lock(42) AS got`)[0].got).toBe(true)
      expect((await b.begin(async (tx2) => tx2`SELECT pg_try_advisory_xact_lock(42) AS got`))[0].got).toBe(false)
    })
    expect((await b.begin(async (tx2) => tx2`SELECT pg_try_advisory_xact_lock(42) AS got`))[0].got).toBe(true)
  })
})
