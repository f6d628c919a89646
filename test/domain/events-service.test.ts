/** The events service's endpoint cache (real SQLite file): what the callback's hot path pays per happening. */
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'bun:test'
import { createEventsService } from '../../src/domain/events.service'
import { fixedClock } from '../../src/lib/clock'
import { systemRandom } from '../../src/lib/random'
import { openDb } from '../../src/store/sqlite/db'
import { migrate } from '../../src/store/sqlite/migrate'

const nextTurn = () => new Promise<void>((r) => setImmediate(r))

test('one data_version read per event-loop turn however many happenings; another process\'s endpoint is seen from the next turn', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wxgate-events-'))
  try {
    const path = join(dir, 'wxgate.db')
    const db = openDb(path)
    migrate(db.sqlite, undefined, Date.now())
    let reads = 0
    const counted = { ...db, dataVersion: () => { reads++; return db.dataVersion() } }
    const events = createEventsService({ db: counted, clock: fixedClock(Date.now()), random: systemRandom })
    for (let i = 0; i < 1000; i++) expect(events.wants('message.received', 'default')).toBe(false)
    expect(reads).toBe(1)

    // The CLI (another connection) adds an endpoint: noticed through data_version in a later turn.
    const other = new Database(path)
    other.run("INSERT INTO webhook_endpoints (id, url, events, secret, disabled, created_at, updated_at) VALUES ('e1', 'http://127.0.0.1:9/', '[\"*\"]', 'whsec_x', 0, 1, 1)")
    other.close()
    await nextTurn()
    expect(events.wants('message.received', 'default')).toBe(true)
    db.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
