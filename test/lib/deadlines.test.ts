import { describe, expect, test } from 'bun:test'
import { createDeadlines, DEADLINE } from '../../src/lib/deadlines'

const later = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms))

describe('deadlines', () => {
  test('a promise that settles in time wins; one that does not gets DEADLINE at about its time', async () => {
    const d = createDeadlines()
    const t0 = performance.now()
    const [fast, slow] = await Promise.all([d.race(later(10, 'fast'), 200), d.race(later(500, 'slow'), 60)])
    expect(fast).toBe('fast')
    expect(slow).toBe(DEADLINE)
    expect(performance.now() - t0).toBeLessThan(400)
    expect(d.pending()).toBe(0)
  })

  test('rejections pass through; after the deadline a rejection is ignored', async () => {
    const d = createDeadlines()
    await expect(d.race(Promise.reject(new Error('boom')), 100)).rejects.toThrow('boom')
    const late = new Promise((_, rej) => setTimeout(() => rej(new Error('late')), 80))
    late.catch(() => undefined)
    expect(await d.race(late, 20)).toBe(DEADLINE)
  })

  test('many deadlines share one timer and each fires: 1,000 in order, one out of order', async () => {
    const d = createDeadlines()
    const never = new Promise<string>(() => {})
    const all = Array.from({ length: 1000 }, (_, i) => d.race(never, 20 + (i % 10)))
    const outOfOrder = d.race(never, 5)
    expect(d.pending()).toBe(1001)
    const results = await Promise.all([...all, outOfOrder])
    expect(results.every((r) => r === DEADLINE)).toBe(true)
    expect(d.pending()).toBe(0)
  })

  test('a settled head does not hold back the next deadline', async () => {
    const d = createDeadlines()
    const first = d.race(later(5, 'done'), 1000)
    const t0 = performance.now()
    const second = d.race(new Promise(() => {}), 50)
    expect(await first).toBe('done')
    expect(await second).toBe(DEADLINE)
    expect(performance.now() - t0).toBeLessThan(500)
  })
})
