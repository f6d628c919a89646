// @sqlite-only: opening a SQLite file: paths, folders and permissions
/**
 * Opening the database file: what wxgate creates is its owner's alone (it holds AppSecrets), whatever the
 * umask; what exists is left alone; a file that cannot be opened is explained with what to do.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseOpenError, openDb, shownDbPath } from '../../src/store/sqlite/db'

let dir: string
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'wxgate-dbopen-')) })
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const modeOf = (p: string) => statSync(p).mode & 0o777

describe('files wxgate creates', () => {
  test('a new database is 0600 in a new 0700 folder, even with a permissive umask; -wal and -shm are not world-readable', () => {
    const old = process.umask(0o000)
    try {
      const path = join(dir, 'state', 'deeper', 'wxgate.db')
      const db = openDb(path)
      db.sqlite.exec('CREATE TABLE t (v TEXT)')
      db.sqlite.exec("INSERT INTO t VALUES ('x')")
      expect(modeOf(path)).toBe(0o600)
      expect(modeOf(join(dir, 'state', 'deeper'))).toBe(0o700)
      expect(modeOf(join(dir, 'state'))).toBe(0o700)
      // SQLite's unix VFS gives the WAL and shared-memory files the database file's mode.
      for (const side of ['-wal', '-shm']) {
        expect(existsSync(path + side)).toBe(true)
        expect(modeOf(path + side) & 0o077).toBe(0)
      }
      db.close()
    } finally {
      process.umask(old)
    }
  })

  test('an existing file and folder keep their modes', () => {
    const folder = join(dir, 'shared')
    mkdirSync(folder)
    chmodSync(folder, 0o750)
    const path = join(folder, 'wxgate.db')
    openDb(path).close()
    chmodSync(path, 0o640)
    const db = openDb(path)
    db.sqlite.exec('CREATE TABLE t (v TEXT)')
    db.close()
    expect(modeOf(folder)).toBe(0o750)
    expect(modeOf(path)).toBe(0o640)
  })

  test('the path shown is absolute; :memory: as is', () => {
    expect(shownDbPath(':memory:')).toBe(':memory:')
    expect(shownDbPath('./data/wxgate.db')).toBe(join(process.cwd(), 'data', 'wxgate.db'))
    openDb(':memory:').close()
  })
})

describe('a database that cannot be opened', () => {
  test('a path whose parent is a file: names the path, the file in the way and who wxgate runs as', () => {
    writeFileSync(join(dir, 'notafolder'), 'x')
    const path = join(dir, 'notafolder', 'wxgate.db')
    let caught: unknown
    try { openDb(path) } catch (e) { caught = e }
    expect(caught).toBeInstanceOf(DatabaseOpenError)
    const m = (caught as Error).message
    expect(m).toContain(path)
    expect(m).toContain('WXGATE_DB')
    expect(m).toContain(`${join(dir, 'notafolder')} is a file, not a folder`)
    expect(m).toContain(`uid ${process.getuid!()}`)
    expect(m.split('\n').length).toBe(1)
  })

  test('a missing folder under a file deeper down is explained the same way', () => {
    writeFileSync(join(dir, 'f'), 'x')
    const m = (() => { try { openDb(join(dir, 'f', 'a', 'b', 'x.db')); return '' } catch (e) { return (e as Error).message } })()
    expect(m).toContain(`${join(dir, 'f')} is a file, not a folder`)
  })
})
