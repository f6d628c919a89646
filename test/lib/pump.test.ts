/** The shared pass loop of the outbox and the webhook worker. */
import { expect, test } from 'bun:test'
import { createPump } from '../../src/lib/pump'

test('one pass at a time; kicks during a pass make one more; a pass saying "more" runs again; an error stops it', async () => {
  let passes = 0
  let more = 2
  let fail = false
  const errors: unknown[] = []
  let idle = 0
  let inside = 0
  let overlap = false
  const pump = createPump({
    pass: async () => {
      inside++
      if (inside > 1) overlap = true
      passes++
      await Bun.sleep(5)
      inside--
      if (fail) throw new Error('boom')
      return more-- > 0
    },
    stopped: () => false,
    onError: (e) => errors.push(e),
    onIdle: () => { idle++ },
  })
  pump.kick(); pump.kick(); pump.kick()
  await pump.settled()
  expect(overlap).toBe(false)
  // The first pass, then two more because it said "more" twice (the kicks meanwhile asked for one more too).
  expect(passes).toBe(3)
  expect(idle).toBe(1)
  fail = true
  pump.kick()
  await pump.settled()
  expect(passes).toBe(4)
  expect(errors).toHaveLength(1)
  expect(idle).toBe(2)
})

test('a stopped pump does not start', async () => {
  let passes = 0
  const pump = createPump({ pass: async () => { passes++ }, stopped: () => true, onError: () => undefined })
  pump.kick()
  await pump.settled()
  expect(passes).toBe(0)
})
