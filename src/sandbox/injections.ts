/**
 * @module Fault injection: rules matched by exact path in the order added, each for `times` calls, and the
 * waits they and the global latency impose. Waits end early when the sandbox stops, so nothing outlives it.
 */
import type { ActiveRule, SandboxState } from './sandbox.state'
import type { InjectRule } from './sandbox.types'

/** Checks a rule and turns it into its countdown form; a rule that could never do anything is refused. */
export const activeRule = (rule: InjectRule): ActiveRule => {
  if (typeof rule.path !== 'string' || !rule.path.startsWith('/')) throw new Error(`sandbox: inject path must start with "/": ${String(rule.path)}`)
  const times = rule.times ?? 1
  if (!(times === Infinity || (Number.isInteger(times) && times >= 1))) throw new Error(`sandbox: inject times must be a positive integer or Infinity: ${times}`)
  if (rule.httpStatus !== undefined && !(Number.isInteger(rule.httpStatus) && rule.httpStatus >= 200 && rule.httpStatus <= 599)) {
    throw new Error(`sandbox: inject httpStatus out of range: ${rule.httpStatus}`)
  }
  if (rule.delayMs !== undefined && !(rule.delayMs >= 0)) throw new Error(`sandbox: inject delayMs must be >= 0: ${rule.delayMs}`)
  if (rule.errcode === undefined && rule.httpStatus === undefined && rule.delayMs === undefined && !rule.hang) {
    throw new Error('sandbox: inject rule needs errcode, httpStatus, delayMs or hang')
  }
  return { rule: { ...rule }, left: times }
}

/** The first live rule for this path, counted down; exhausted rules are dropped. */
export const takeRule = (state: SandboxState, path: string): InjectRule | undefined => {
  const i = state.rules.findIndex((r) => r.rule.path === path && r.left > 0)
  const active = state.rules[i]
  if (!active) return undefined
  active.left--
  if (active.left <= 0) state.rules.splice(i, 1)
  return active.rule
}

/** Resolves after `ms` (Infinity: never), or as soon as any signal aborts. */
export const wait = (ms: number, signals: AbortSignal[]): Promise<void> =>
  new Promise((resolve) => {
    if (signals.some((s) => s.aborted)) return resolve()
    let timer: ReturnType<typeof setTimeout> | undefined
    const done = () => {
      if (timer !== undefined) clearTimeout(timer)
      for (const s of signals) s.removeEventListener('abort', done)
      resolve()
    }
    for (const s of signals) s.addEventListener('abort', done, { once: true })
    if (Number.isFinite(ms)) timer = setTimeout(done, ms)
  })
