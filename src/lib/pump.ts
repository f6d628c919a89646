/**
 * @module One pass at a time over a table-backed queue (the outbox, the webhook worker; STYLE §15): kick() runs
 * a pass now or, while one runs, once more after it; a pass that returns true (there may be more) runs again.
 */
export interface PumpOptions {
  pass: () => Promise<boolean | void>
  stopped: () => boolean
  /** A pass threw: the pump stops until the next kick (the caller's poll or timer comes back). */
  onError: (e: unknown) => void
  /** After the passes end (to schedule the next look). */
  onIdle?: () => void
}

export const createPump = (o: PumpOptions) => {
  let running: Promise<void> | undefined
  let again = false
  const kick = (): void => {
    if (o.stopped()) return
    if (running) { again = true; return }
    running = (async () => {
      do {
        again = false
        try {
          if (await o.pass()) again = true
        } catch (e) {
          o.onError(e)
          break
        }
      } while (again && !o.stopped())
    })().finally(() => { running = undefined; o.onIdle?.() })
  }
  /** Resolves when the pass running now (if any) has ended. */
  const settled = (): Promise<void> => running ?? Promise.resolve()
  return { kick, settled }
}
