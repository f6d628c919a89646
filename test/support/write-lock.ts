/**
 * Another process (the CLI, a backup tool) holding a database's write lock: a child that runs BEGIN
 * IMMEDIATE on the file, sleeps `ms` holding it, and commits. Resolves once the lock is held.
 */
export const holdWriteLock = async (dbPath: string, ms: number) => {
  const script = `
    import { Database } from 'bun:sqlite'
    const db = new Database(${JSON.stringify(dbPath)})
    db.exec('PRAGMA busy_timeout = 5000')
    db.exec('BEGIN IMMEDIATE')
    console.log('locked')
    Bun.sleepSync(${ms})
    db.exec('COMMIT')
  `
  const proc = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'inherit' })
  const reader = proc.stdout.getReader()
  const deadline = Date.now() + 10_000
  let out = ''
  while (!out.includes('locked') && Date.now() < deadline) {
    const { value, done } = await reader.read()
    if (done) break
    out += new TextDecoder().decode(value)
  }
  reader.releaseLock()
  if (!out.includes('locked')) { proc.kill(); throw new Error('the lock holder did not start') }
  return proc
}
