/**
 * @module How often something happened lately: events per second over the last half window, from two buckets
 * of that length (the older one weighted by how much of it is still inside; a window of two buckets forgets
 * a burst within windowMs). Small and ours: one counter
 * on the callback path, read by the webhook worker to tell a burst of callbacks (callbacks first).
 */
import type { Clock } from './clock'

export const createRateWindow = (clock: Clock, windowMs = 500) => {
  const half = windowMs / 2
  let bucket = Math.floor(clock.now() / half)
  let current = 0
  let previous = 0
  const roll = (now: number) => {
    const b = Math.floor(now / half)
    if (b === bucket) return
    previous = b === bucket + 1 ? current : 0
    current = 0
    bucket = b
  }
  const perSecond = (): number => {
    const now = clock.now()
    roll(now)
    const into = (now - bucket * half) / half
    // The current bucket so far plus the part of the previous one still inside the last `half` ms: `half` ms in all.
    return ((current + previous * (1 - into)) / half) * 1000
  }
  let aboveUntil = 0
  return {
    hit: (): void => { roll(clock.now()); current++ },
    /** Events per second over the last window. */
    perSecond,
    /** The rate is above `perSecond`, or was within the last `holdMs` (a stall of the event loop does not end a burst). */
    above: (rate: number, holdMs = 1000): boolean => {
      const now = clock.now()
      if (perSecond() > rate) aboveUntil = now + holdMs
      return now < aboveUntil
    },
  }
}
