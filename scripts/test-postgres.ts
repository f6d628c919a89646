/**
 * The test suite on PostgreSQL (issue 14): every test file except those marked `// @sqlite-only: <why>`
 * (they are about SQLite itself), run with TEST_DB=postgres (test/support/test-db.ts: each test server on a
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
  const why = /^\/\/ @sqlite-only: (.+)$/m.exec(readFileSync(join(root, f), 'utf8'))?.[1]
  if (why) console.log(`sqlite only: ${f} (${why})`)
  else run.push(f)
}
console.log(`running ${run.length} of ${files.length} test files on PostgreSQL`)
const child = Bun.spawn([process.execPath, 'test', '--timeout', '30000', ...process.argv.slice(2), ...run.map((f) => `./${f}`)], {
  cwd: root, stdio: ['inherit', 'inherit', 'inherit'], env: { ...process.env, TEST_DB: 'postgres' },
})
process.exit(await child.exited)
