/** The most timestamps (ms) in any one-second window: what a rate limit is checked against. */
export const busiestSecond = (times: number[]): number => {
  const t = [...times].sort((x, y) => x - y)
  let most = 0
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[j]! < t[i]! - 999) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}
