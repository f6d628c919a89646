/** @module Time is injected so that tests and protocol code never read the wall clock themselves. */

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A clock that only moves when told to; for tests. */
export const fixedClock = (startMs: number) => {
  let t = startMs
  return {
    now: () => t,
    set: (ms: number) => { t = ms },
    advance: (ms: number) => { t += ms },
  }
}

export const unixSeconds = (clock: Clock): number => Math.floor(clock.now() / 1000)
