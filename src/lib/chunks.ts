/**
 * @module Work that grows with the backlog (pruning old rows) done in small transactions, so that no
 * single one holds the write queue or the event loop for more than a few milliseconds.
 */

/** Rows a prune deletes per transaction: ~1-3 ms of SQLite work, small next to a callback's deadline. */
export const PRUNE_CHUNK = 1000

/** Lets the I/O callbacks and transactions queued meanwhile go first. */
export const yieldToEventLoop = (): Promise<void> => new Promise<void>((r) => setImmediate(r))

/**
 * Runs `step(limit)` (one transaction that handles at most `limit` rows and says how many it did) until
 * a step does fewer than `limit`, yielding to the event loop between steps so requests queued meanwhile
 * go first. Returns the total.
 */
export const inChunks = async (step: (limit: number) => Promise<number>, limit = PRUNE_CHUNK): Promise<number> => {
  let total = 0
  for (;;) {
    const n = await step(limit)
    total += n
    if (n < limit) return total
    await yieldToEventLoop()
  }
}
