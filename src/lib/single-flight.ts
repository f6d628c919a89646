/** @module singleFlight(key, fn): concurrent callers with the same key share one attempt and its outcome. */

export const createSingleFlight = () => {
  const flights = new Map<string, Promise<unknown>>()
  const run = <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const existing = flights.get(key)
    if (existing) return existing as Promise<T>
    const p = (async () => {
      try {
        return await fn()
      } finally {
        flights.delete(key)
      }
    })()
    flights.set(key, p)
    return p
  }
  return Object.assign(run, { running: (key: string) => flights.has(key) })
}
export type SingleFlight = ReturnType<typeof createSingleFlight>
