import { describe, expect, test } from 'bun:test'
import { createRateWindow } from '../../src/lib/rate-window'

describe('rate window', () => {
  test('events per second lately, older ones fading out; above() holds a burst through a stall', () => {
    let now = 1_000_000
    const w = createRateWindow({ now: () => now }, 500)
    expect(w.perSecond()).toBe(0)
    for (let i = 0; i < 500; i++) { w.hit(); now += 1 } // 500 in 0.5 s: 1000/s
    expect(w.perSecond()).toBeGreaterThan(900)
    expect(w.perSecond()).toBeLessThanOrEqual(1100)
    expect(w.above(600)).toBe(true)
    now += 125 // nothing new for an eighth of a second: the older events fade out
    expect(w.perSecond()).toBeLessThan(900)
    now += 600 // a stall: nothing for longer than the window
    expect(w.perSecond()).toBe(0)
    expect(w.above(600)).toBe(true) // held (holdMs 1000 from the last time it was above)
    now += 400
    expect(w.above(600)).toBe(false)
  })
})
