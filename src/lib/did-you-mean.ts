/** @module "Did you mean …?": the nearest of a few known names to a mistyped one (flags, settings). */

/** Edit distance (Levenshtein); names are short, so the quadratic table costs nothing. */
export const editDistance = (a: string, b: string): number => {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]!
}

/**
 * The known name nearest to `name`, or undefined when none is close: within a third of the longer name's
 * length (at least 2 edits), or a prefix of it (`--aes` for `--aes-key`). A wild guess helps nobody.
 */
export const nearestName = (name: string, known: readonly string[]): string | undefined => {
  let best: string | undefined
  let bestD = Infinity
  for (const k of known) {
    const d = editDistance(name, k)
    if (d < bestD) { best = k; bestD = d }
  }
  if (best === undefined) return undefined
  const limit = Math.max(2, Math.floor(Math.max(name.length, best.length) / 3))
  return bestD <= limit || best.startsWith(name) ? best : undefined
}
