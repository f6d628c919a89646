/** @module WeChat's daily quotas roll over at 00:00 Asia/Shanghai (UTC+8, no daylight saving). */

const OFFSET = 8 * 3600_000
const DAY = 24 * 3600_000

/** The Asia/Shanghai calendar date of an instant, as YYYY-MM-DD. */
export const shanghaiDay = (ms: number): string => new Date(ms + OFFSET).toISOString().slice(0, 10)

/** The next 00:00 Asia/Shanghai after an instant, in ms since the epoch. */
export const nextShanghaiMidnight = (ms: number): number => Math.floor((ms + OFFSET) / DAY) * DAY + DAY - OFFSET
