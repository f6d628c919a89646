// @first-pass-only: PostgreSQL on a cluster of its own (TEST_POSTGRES=required in .ci/run)
/**
 * Store.afterCommit (src/store/contract.ts) on both stores: the callback runs once the transaction committed
 * (another connection sees its rows then: on PostgreSQL the COMMIT comes after the transaction function
 * returns, so a worker kicked in the same turn found nothing and waited for its next poll), never after a
 * rollback, and on db.read at the next turn.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Db } from '../../src/store/contract'
import { openPostgres } from '../../src/store/postgres/db'
import { openDb } from '../../src/store/sqlite/db'
import { migrate } from '../../src/store/sqlite/migrate'
import { postgresMissing, postgresRequired, startPostgres, type TestPostgres } from '../support/postgres'

const missing = postgresMissing()
if (missing && postgresRequired) throw new Error(`TEST_POSTGRES=required but ${missing}`)

const cases = (open: () => { writer: Db; reader: Db }) => {
  test('runs after the commit: another connection sees the rows then', async () => {
    const { writer, reader } = open()
    const seen: (string | undefined)[] = []
    const done = new Promise<void>((resolve) => {
      void writer.tx(async (s) => {
        await s.leases.acquire('after:1', 'w', 1, 0)
        s.afterCommit(() => { void Promise.resolve(reader.read.leases.get('after:1')).then((r) => { seen.push(r?.owner); resolve() }) })
      })
    })
    await done
    expect(seen).toEqual(['w'])
  })

  test('never after a rollback; each committed transaction\'s callbacks once', async () => {
    const { writer } = open()
    const ran: string[] = []
    await expect(writer.tx(async (s) => {
      await s.leases.acquire('after:2', 'w', 1, 0)
      s.afterCommit(() => ran.push('rolled back'))
      throw new Error('no')
    })).rejects.toThrow('no')
    await writer.tx(async (s) => { s.afterCommit(() => ran.push('a')); s.afterCommit(() => ran.push('b')) })
    writer.read.afterCommit(() => ran.push('read'))
    await Bun.sleep(20)
    expect(ran).toEqual(['a', 'b', 'read'])
    expect(await writer.read.leases.get('after:2')).toBeUndefined()
  })
}

describe('afterCommit on SQLite', () => {
  let dir: string
  let writer: Db
  let reader: Db
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wxgate-after-'))
    const w = openDb(join(dir, 'db.sqlite'))
    migrate(w.sqlite)
    writer = w
    reader = openDb(join(dir, 'db.sqlite'))
  })
  afterAll(async () => { await writer.close(); await reader.close(); rmSync(dir, { recursive: true, force: true }) })
  cases(() => ({ writer, reader }))
})

describe.skipIf(missing !== undefined)(`afterCommit on PostgreSQL${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let pg: TestPostgres
  let writer: Db
  let reader: Db
  beforeAll(async () => {
    pg = await startPostgres()
    const w = await openPostgres(pg.url, { max: 2 })
    await w.migrate()
    writer = w
    reader = await openPostgres(pg.url, { max: 2 })
  }, 60_000)
  afterAll(async () => { await writer?.close(); await reader?.close(); await pg?.stop() })
  cases(() => ({ writer, reader }))
})
