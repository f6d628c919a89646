/**
 * Start-up benchmark (issue 15): how long from exec of `dist/wxgate serve` to its first `200` on /healthz, on
 * an existing database (migrated once before the runs, as a deployed gateway finds it), the median of --runs
 * (default 20); then the idle RSS (VmRSS from /proc, after --idle-seconds, default 3, of nothing) and the
 * binary's size. Targets: first 200 < 60 ms, idle RSS < 60 MB.
 *
 *   npx bun bench/startup/run.ts [--runs=20] [--idle-seconds=3] [--rebuild] [--bin=PATH] [--baseline=BIN]
 *
 * --baseline=BIN: another build measured side by side, its starts interleaved with this build's (each on a
 * database of its own), so that a slower or faster moment of the machine weighs on both alike: both medians
 * and their ratio are printed. (This VM's speed varies by a third over minutes: figures from separate runs do
 * not compare.)
 *
 * The clock starts right before the spawn and stops when a /healthz GET gets its 200: the poller asks every
 * millisecond over a new connection (a refused connection costs microseconds), so the figure is at most ~1 ms
 * late. Each run is stopped with SIGTERM before the next. Exit code 1 on a crash; a missed target is reported.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { freePort, stopProcess } from '../lib/procs'

const ROOT = resolve(import.meta.dir, '../..')
const { values: opt } = parseArgs({
  args: Bun.argv.slice(2),
  options: { runs: { type: 'string', default: '20' }, 'idle-seconds': { type: 'string', default: '3' }, rebuild: { type: 'boolean', default: false }, bin: { type: 'string' }, baseline: { type: 'string' } },
  strict: true,
})
const runs = Number(opt.runs)
const idleSeconds = Number(opt['idle-seconds'])
const BIN = opt.bin ? resolve(opt.bin) : join(ROOT, 'dist', 'wxgate')
const BASELINE = opt.baseline ? resolve(opt.baseline) : undefined
const TARGET_FIRST_200_MS = 60
const TARGET_IDLE_RSS_MB = 60

if (!opt.bin && (opt.rebuild || !existsSync(BIN))) {
  console.error(`run.ts: building ${BIN} (bun run build)`)
  if (Bun.spawnSync([process.execPath, 'run', 'build'], { cwd: ROOT, stdout: 'inherit', stderr: 'inherit' }).exitCode !== 0) process.exit(1)
}

const tmp = mkdtempSync(join(tmpdir(), 'wxgate-startup-'))
const env: Record<string, string | undefined> = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WXGATE_')))
Object.assign(env, {
  WXGATE_HOST: '127.0.0.1', WXGATE_LOG_LEVEL: 'warn',
  WXGATE_APPID: 'wxbench0000000000', WXGATE_APPSECRET: 'bench-app-secret-not-real', WXGATE_TOKEN: 'benchtoken2026',
})

const rssMb = (pid: number): number | undefined => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : undefined
}

/** One start: ms from the spawn to the first 200, and the process (still running). */
const startOnce = async (bin = BIN) => {
  const port = await freePort('127.0.0.1')
  const url = `http://127.0.0.1:${port}/healthz`
  const t0 = performance.now()
  const db = join(tmp, bin === BIN ? 'wxgate.db' : 'baseline.db')
  const p = Bun.spawn([bin, 'serve'], { cwd: tmp, env: { ...env, WXGATE_DB: db, WXGATE_PORT: String(port) }, stdout: 'ignore', stderr: 'pipe' })
  for (;;) {
    if (p.exitCode !== null) throw new Error(`wxgate exited (${p.exitCode}): ${await new Response(p.stderr as ReadableStream).text()}`)
    try {
      const r = await fetch(url, { keepalive: false })
      if (r.status === 200) { await r.arrayBuffer(); return { ms: performance.now() - t0, p } }
    } catch { /* not listening yet */ }
    if (performance.now() - t0 > 15_000) throw new Error('no 200 within 15 s')
    await Bun.sleep(1)
  }
}

const median = (xs: number[]) => { const v = [...xs].sort((a, b) => a - b); return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2 }

try {
  // The database exists (created and migrated by a first start), as on a deployed gateway.
  for (const bin of BASELINE ? [BIN, BASELINE] : [BIN]) await stopProcess((await startOnce(bin)).p)
  const times: number[] = []
  const baseTimes: number[] = []
  for (let i = 0; i < runs; i++) {
    const r = await startOnce()
    times.push(r.ms)
    await stopProcess(r.p)
    if (BASELINE) {
      const b = await startOnce(BASELINE)
      baseTimes.push(b.ms)
      await stopProcess(b.p)
    }
  }
  const idleRss = async (bin: string) => {
    const idle = await startOnce(bin)
    await Bun.sleep(idleSeconds * 1000)
    const rss = rssMb(idle.p.pid)
    await stopProcess(idle.p)
    return rss
  }
  const rss = await idleRss(BIN)
  const baseRss = BASELINE ? await idleRss(BASELINE) : undefined
  // The idle RSS depends on how the binary sits in the page cache: as the build (or a copy) just wrote it, a start
  // maps ~5 MB more of the file (clean page-cache pages, measured with /proc/<pid>/smaps_rollup: Pss_File 45 against
  // 40.5 MB, the anonymous memory the same) than after the caches are dropped, as after a reboot. As root the caches
  // are dropped and the idle RSS measured again.
  const dropCaches = () => {
    if (process.getuid?.() !== 0) return false
    Bun.spawnSync(['sync'])
    try { writeFileSync('/proc/sys/vm/drop_caches', '3'); return true } catch { return false }
  }
  const coldRss = dropCaches() ? await idleRss(BIN) : undefined
  const coldBaseRss = BASELINE && coldRss !== undefined && dropCaches() ? await idleRss(BASELINE) : undefined
  const size = statSync(BIN).size / 1024 / 1024
  const med = median(times)
  console.log(`wxgate start-up: ${BIN}, bun ${Bun.version}, ${cpus().length} CPUs, ${new Date().toISOString()}`)
  console.log(`exec → first 200 on /healthz (existing database), ${runs} runs: median ${med.toFixed(1)} ms, min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}   target < ${TARGET_FIRST_200_MS} ms   ${med < TARGET_FIRST_200_MS ? 'PASS' : 'FAIL'}`)
  console.log(`idle RSS after ${idleSeconds} s, the binary as the page cache holds it now (just built: as written): ${rss?.toFixed(1) ?? '-'} MB   target < ${TARGET_IDLE_RSS_MB} MB   ${rss !== undefined && rss < TARGET_IDLE_RSS_MB ? 'PASS' : 'FAIL'}`)
  console.log(coldRss === undefined
    ? 'idle RSS after a reboot (caches dropped): not measured (needs root)'
    : `idle RSS after ${idleSeconds} s, caches dropped first (as after a reboot): ${coldRss.toFixed(1)} MB   target < ${TARGET_IDLE_RSS_MB} MB   ${coldRss < TARGET_IDLE_RSS_MB ? 'PASS' : 'FAIL'}`)
  console.log(`binary size: ${size.toFixed(1)} MiB`)
  const base = BASELINE ? { bin: BASELINE, runs: baseTimes, medianMs: median(baseTimes), idleRssMb: baseRss, binaryMiB: statSync(BASELINE).size / 1024 / 1024 } : undefined
  if (base) {
    console.log(`baseline ${BASELINE} (starts interleaved with these): median ${base.medianMs.toFixed(1)} ms, min ${Math.min(...baseTimes).toFixed(1)}, max ${Math.max(...baseTimes).toFixed(1)}; idle RSS ${baseRss?.toFixed(1) ?? '-'} MB${coldBaseRss !== undefined ? ` (caches dropped: ${coldBaseRss.toFixed(1)} MB)` : ''}; binary ${base.binaryMiB.toFixed(1)} MiB`)
    console.log(`this build / baseline, first 200: ${(med / base.medianMs).toFixed(3)} of its time; idle RSS ${rss !== undefined && baseRss !== undefined ? `${(rss - baseRss).toFixed(1)} MB` : '-'} against it`)
  }
  console.log('json: ' + JSON.stringify({ date: new Date().toISOString(), bin: BIN, runs: times, medianMs: med, idleRssMb: rss, coldIdleRssMb: coldRss, binaryMiB: size, ...(base ? { baseline: { ...base, coldIdleRssMb: coldBaseRss } } : {}) }))
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
