/**
 * The test suite on PostgreSQL (issue 14): every test file except those marked `// @sqlite-only: <why>`
 * (they are about SQLite itself) or `// @first-pass-only: <why>` (they start PostgreSQL clusters of their own
 * and test it already in the first pass, `npm test`: running them again tests nothing more), run with TEST_DB=postgres (test/support/test-db.ts: each test server on a
 * fresh database of one throwaway cluster). Prints the files left out with their reasons first.
 * Usage: bun scripts/test-postgres.ts [bun test options…]
 */
import { Glob } from 'bun'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dir, '..')
const files = [...new Glob('test/**/*.test.ts').scanSync({ cwd: root })].sort()
const run: string[] = []
for (const f of files) {
  const text = readFileSync(join(root, f), 'utf8')
  const sqliteOnly = /^\/\/ @sqlite-only: (.+)$/m.exec(text)?.[1]
  const firstPass = /^\/\/ @first-pass-only: (.+)$/m.exec(text)?.[1]
  if (sqliteOnly) console.log(`sqlite only: ${f} (${sqliteOnly})`)
  else if (firstPass) console.log(`first pass only: ${f} (${firstPass})`)
  else run.push(f)
}
console.log(`running ${run.length} of ${files.length} test files on PostgreSQL`)
const child = Bun.spawn([process.execPath, 'test', '--timeout', '30000', ...process.argv.slice(2), ...run.map((f) => `./${f}`)], {
  cwd: root, stdio: ['inherit', 'inherit', 'inherit'], env: { ...process.env, TEST_DB: 'postgres' },
})
process.exit(await child.exited)
