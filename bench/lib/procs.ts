/**
 * @module Child processes of a benchmark run (bench/callback, bench/send): spawn with the output to files,
 * stop gracefully (SIGTERM, then SIGKILL), stop everything and remove the temp folder on Ctrl-C, free
 * ports, log tails, and /proc CPU readings.
 */
import { readFileSync, rmSync } from 'node:fs'
import type { Subprocess } from 'bun'

/** A failure of the run itself (a server died, the build failed): reported without a stack. */
export class Crash extends Error {}

export const alive = (p: Subprocess) => p.exitCode === null && p.signalCode === null

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
export const stopProcess = async (p: Subprocess, graceMs = 12_000): Promise<number | null> => {
  if (!alive(p)) return p.exitCode
  p.kill('SIGTERM')
  const timer = setTimeout(() => p.kill('SIGKILL'), graceMs)
  await p.exited
  clearTimeout(timer)
  return p.exitCode
}

export { freePort } from '../../test/support/gateway-process'

/** The last lines of a log file ('' when it is missing). */
export const tail = (path: string, lines = 20): string => {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

/** utime + stime of a process (all its threads), in seconds; undefined off Linux. */
const CLK_TCK = Number(Bun.spawnSync(['getconf', 'CLK_TCK']).stdout.toString().trim()) || 100
export const procCpu = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // After "pid (comm) ", field 3 (state) is index 0; utime is field 14 → index 11, stime 15 → 12.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / CLK_TCK
  } catch {
    return undefined
  }
}

/** Busy and total jiffies of the whole machine. */
export const machineCpu = (): { busy: number; total: number } | undefined => {
  try {
    const n = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    const idle = (n[3] ?? 0) + (n[4] ?? 0) // idle + iowait
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0) // user..steal (guest is inside user)
    return { busy: total - idle, total }
  } catch {
    return undefined
  }
}

/**
 * The processes of one run and its temp folder: everything spawned here is stopped by `stopAll`, and on
 * SIGINT/SIGTERM the run stops its servers and removes the folder (kept with `keep`) before exiting 130.
 */
export const createProcs = (o: { root: string; keep: boolean }) => {
  const children = new Set<Subprocess>()
  let tmpDir: string | undefined

  const spawn = (cmd: string[], s: { cwd?: string; env?: Record<string, string | undefined>; log?: string; stdout?: 'pipe' | 'inherit' }) => {
    const p = Bun.spawn(cmd, {
      cwd: s.cwd ?? o.root,
      env: s.env ?? process.env,
      stdin: 'ignore',
      stdout: s.log ? Bun.file(s.log) : (s.stdout ?? 'inherit'),
      stderr: s.log ? Bun.file(`${s.log}.err`) : 'inherit',
    })
    children.add(p)
    void p.exited.then(() => children.delete(p))
    return p
  }
  const stopAll = async () => {
    await Promise.all([...children].map((p) => stopProcess(p, 3_000).catch(() => undefined)))
  }
  const removeTmp = () => {
    if (!tmpDir) return
    if (o.keep) console.error(`run.ts: kept ${tmpDir}`)
    else rmSync(tmpDir, { recursive: true, force: true })
    tmpDir = undefined
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`\nrun.ts: ${sig}: stopping the servers`)
      void stopAll().finally(() => {
        removeTmp()
        process.exit(130)
      })
    })
  }
  return {
    spawn,
    stopAll,
    removeTmp,
    /**
     * Runs the benchmark's main and exits with its code (1 when it throws; a Crash is reported without a
     * stack). Whatever happens, the servers are stopped and the temp folder removed first.
     */
    run: async (main: () => Promise<number>): Promise<never> => {
      let code = 1
      try {
        code = await main()
      } catch (e) {
        console.error(`run.ts: ${e instanceof Crash ? e.message : ((e as Error)?.stack ?? String(e))}`)
      } finally {
        await stopAll()
        removeTmp()
      }
      process.exit(code)
    },
    /** The run's temp folder: removed by removeTmp and on a signal. */
    setTmp: (dir: string) => { tmpDir = dir },
    tmp: (): string => {
      if (!tmpDir) throw new Crash('no temp folder yet')
      return tmpDir
    },
  }
}
