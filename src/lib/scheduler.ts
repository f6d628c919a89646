/** @module A tiny in-process scheduler: periodic jobs that never overlap and stop on shutdown. */
import type { Logger } from './log'

export interface Scheduler {
  every(name: string, ms: number, job: () => unknown | Promise<unknown>, opts?: { runNow?: boolean }): void
  stop(): void
}

export const createScheduler = (log: Logger): Scheduler => {
  const timers = new Set<ReturnType<typeof setInterval>>()
  return {
    every: (name, ms, job, opts = {}) => {
      let running = false
      const tick = async () => {
        if (running) return
        running = true
        try {
          await job()
        } catch (e) {
          log.error('scheduled job failed', { job: name, error: e })
        } finally {
          running = false
        }
      }
      const t = setInterval(tick, ms)
      // Jobs must not keep the process alive on their own (CLI commands, tests).
      t.unref?.()
      timers.add(t)
      if (opts.runNow) void tick()
    },
    stop: () => {
      for (const t of timers) clearInterval(t)
      timers.clear()
    },
  }
}
